// Loading the filter for `proxy` and `encode`: the wasm file (the built
// release module by default), the plugin configuration (--config FILE or
// --config-json JSON) and the fail policy, turned into a started plugin or
// one clear line saying why not.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PluginStartError, startPlugin, type LogEntry, type LogLevelName, type Plugin } from '../host/index.js';
import { RunError, stringOption, UsageError, type Options, type Values } from './args.js';
import { stamped } from './output.js';

/** build/ppv2.wasm of this package, wherever it is run from. */
export const DEFAULT_WASM = fileURLToPath(new URL('../../build/ppv2.wasm', import.meta.url));

export const PLUGIN_OPTIONS: Options = {
  wasm: { type: 'string', value: 'FILE' },
  config: { type: 'string', value: 'FILE' },
  'config-json': { type: 'string', value: 'JSON' },
  'log-level': { type: 'string', value: 'LEVEL' },
};

export const PLUGIN_HELP = `  --wasm FILE            the filter module (default: build/ppv2.wasm of this package)
  --config FILE          plugin configuration JSON, as Envoy's "configuration" / Istio's "pluginConfig"
  --config-json JSON     the same, inline (default: "", the filter's defaults)
  --log-level LEVEL      the filter's log level: trace, debug, info, warn, error, critical (default info, as Envoy)`;

const LOG_LEVELS: readonly LogLevelName[] = ['trace', 'debug', 'info', 'warn', 'error', 'critical'];

export interface PluginChoice {
  failOpen?: boolean;
  /**
   * Run the filter's tick period on real timers, as Envoy does: the filter
   * flushes its counters and refreshes its log level from proxy_on_tick.
   * For long-running commands; a one-shot command calls plugin.tick() itself.
   */
  tickTimers?: boolean;
  /** Default: each kept log line on stderr, as Envoy prints it, after its level. */
  onLog?: (entry: LogEntry) => void;
}

/** A filter log line on stderr: "[info] wasm log: ...". */
export function plainLog(entry: LogEntry): void {
  console.error(`[${entry.levelName}] ${entry.line}`);
}

/** The same, with the time in front, for the long-running commands. */
export function stampedLog(entry: LogEntry): void {
  console.error(stamped(`[${entry.levelName}] ${entry.line}`));
}

/**
 * The filter's own messages start with "ppv2-wasm: "; quoted inside one of
 * the CLI's lines, which already starts with it, that prefix is dropped.
 */
function withoutPrefix(message: string): string {
  return message.startsWith('ppv2-wasm: ') ? message.slice('ppv2-wasm: '.length) : message;
}

export async function loadPlugin(values: Values, choice: PluginChoice = {}): Promise<Plugin> {
  const wasmPath = stringOption(values, 'wasm') ?? DEFAULT_WASM;
  const configFile = stringOption(values, 'config');
  const configJson = stringOption(values, 'config-json');
  if (configFile !== undefined && configJson !== undefined) {
    throw new UsageError('--config and --config-json are alternatives; give one');
  }
  const level = (stringOption(values, 'log-level') ?? 'info') as LogLevelName;
  if (!LOG_LEVELS.includes(level)) {
    throw new UsageError(`--log-level "${level}" is not one of ${LOG_LEVELS.join(', ')}`);
  }
  let wasm: Uint8Array;
  try {
    wasm = readFileSync(wasmPath);
  } catch (error) {
    const hint = wasmPath === DEFAULT_WASM ? ' (build it with: npm run build)' : '';
    throw new RunError(`cannot read the wasm module ${wasmPath}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}${hint}`);
  }
  let configuration = configJson ?? '';
  if (configFile !== undefined) {
    try {
      configuration = readFileSync(configFile, 'utf8');
    } catch (error) {
      throw new RunError(`cannot read --config ${configFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
  // Start-up logs are held back: a refusal becomes one line that quotes the
  // filter's own reason; on success they are shown as usual.
  const show = choice.onLog ?? plainLog;
  const held: LogEntry[] = [];
  let starting = true;
  let plugin: Plugin;
  try {
    plugin = await startPlugin({
      wasm,
      configuration,
      failurePolicy: choice.failOpen ? 'FAIL_OPEN' : 'FAIL_CLOSED',
      logLevel: level,
      tickTimers: choice.tickTimers === true,
      onLog: (entry) => (starting ? held.push(entry) : show(entry)),
    });
  } catch (error) {
    const message = (error as Error).message.split('\n')[0];
    if (error instanceof PluginStartError) {
      const reason = [...error.logs, ...held].reverse().find((entry) => entry.origin === 'plugin' && entry.level >= 3);
      throw new RunError(`the filter refused to start: ${reason ? `${withoutPrefix(reason.message)} (${message})` : message}`);
    }
    throw new RunError(`cannot load ${wasmPath}: ${message}`);
  }
  starting = false;
  for (const entry of held) show(entry);
  return plugin;
}
