// `ppv2-wasm`: the command-line entry (bin/ppv2-wasm.js calls main). Each
// subcommand lives in its own file; this one only dispatches and turns
// errors into one line and an exit code.

import { readFileSync } from 'node:fs';
import { RunError, UsageError } from './args.js';
import { encodeCommand } from './encode.js';
import { inspectCommand } from './inspect.js';
import { proxyCommand } from './proxy.js';

const HELP = `Usage: ppv2-wasm <command> [options]

Commands:
  proxy     an L4 proxy that runs the filter (build/ppv2.wasm) on every connection
  inspect   a backend that requires a PROXY header and prints it decoded, one JSON line per connection
  encode    run the filter for one synthetic connection and print the header it emits
  image     write the module as an OCI image for Istio, and a WasmPlugin pinned to it

Run "ppv2-wasm <command> --help" for a command's options,
"ppv2-wasm --version" for the version.`;

/** This package's version, from its package.json. */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, Command> = {
  proxy: proxyCommand,
  inspect: inspectCommand,
  encode: encodeCommand,
  // Loaded on use: the image writer brings yaml, tar-stream and pako.
  image: async (argv) => (await import('../deploy/image.js')).main(argv),
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(HELP);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    console.log(`ppv2-wasm ${version()}`);
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    const what = name.startsWith('-') ? 'option' : 'command';
    console.error(`ppv2-wasm: unknown ${what} "${name}" (commands: ${Object.keys(COMMANDS).join(', ')}; see ppv2-wasm --help)`);
    return 2;
  }
  try {
    return await command(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`ppv2-wasm ${name}: ${error.message} (see ppv2-wasm ${name} --help)`);
      return 2;
    }
    if (error instanceof RunError) {
      console.error(`ppv2-wasm ${name}: ${error.message}`);
      return 1;
    }
    const message = error instanceof Error ? error.message : String(error);
    console.error(`ppv2-wasm ${name}: unexpected error: ${message.split('\n')[0]}`);
    return 1;
  }
}
