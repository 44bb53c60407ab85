// "Is this plugin configuration accepted by the module itself?" answered by
// loading build/ppv2.wasm in the project's Envoy-faithful host (dist/host) and
// running proxy_on_vm_start/proxy_on_configure, exactly where Envoy would
// refuse the listener.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface PluginCheckInput {
  configuration: string;
  rootId?: string;
  vmConfiguration?: string;
}

/** Returns null when the module accepts the configuration, else a one-line reason. */
export type PluginCheck = (input: PluginCheckInput) => Promise<string | null>;

interface HostLog {
  level: number;
  message: string;
  origin?: string;
}
interface HostPlugin {
  shutdown(): void;
  failed?: boolean;
  logs?: readonly HostLog[];
}
interface HostModule {
  startPlugin(options: {
    wasm: Uint8Array;
    configuration: string;
    vmConfiguration?: string;
    rootId?: string;
  }): Promise<HostPlugin> | HostPlugin;
  PluginStartError?: new (...args: never[]) => Error;
}

export const DEFAULT_MODULE = 'build/ppv2.wasm';

/** dist/host/index.js, next to this file's dist/deploy/. */
export function hostEntry(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'host', 'index.js');
}

export class PluginCheckUnavailable extends Error {}

/** Builds a checker for one module file; throws PluginCheckUnavailable (one line) if the module or host is missing. */
export async function pluginCheckFor(moduleFile: string): Promise<PluginCheck> {
  if (!fs.existsSync(moduleFile)) {
    throw new PluginCheckUnavailable(`cannot check plugin configurations: ${moduleFile} does not exist (run npm run build)`);
  }
  const entry = hostEntry();
  if (!fs.existsSync(entry)) {
    throw new PluginCheckUnavailable(`cannot check plugin configurations: ${path.relative(process.cwd(), entry)} does not exist (run npm run build)`);
  }
  const host = (await import(pathToFileURL(entry).href)) as HostModule;
  if (typeof host.startPlugin !== 'function') {
    throw new PluginCheckUnavailable(`cannot check plugin configurations: ${entry} exports no startPlugin`);
  }
  const wasm = new Uint8Array(fs.readFileSync(moduleFile));
  return async (input) => {
    let plugin: HostPlugin | undefined;
    try {
      plugin = await host.startPlugin({
        wasm,
        configuration: input.configuration,
        vmConfiguration: input.vmConfiguration ?? '',
        rootId: input.rootId ?? '',
      });
      // A VM that traps while starting is "failed" in Envoy too: with the
      // default fail-closed policy every connection would be closed.
      if (plugin.failed) return `the module failed while starting: ${firstError(plugin.logs) ?? 'no log line'}`;
      return null;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const known = host.PluginStartError && err instanceof host.PluginStartError;
      // The module's own log line names the key and the value; the host's says only that Envoy refused.
      const why = firstError((err as { logs?: readonly HostLog[] }).logs, 'plugin');
      return `${known ? '' : 'host error: '}${why ?? message.split('\n')[0]}`;
    } finally {
      plugin?.shutdown();
    }
  };
}

/** The first log line at error level or above (from `origin` when given). */
function firstError(logs: readonly HostLog[] | undefined, origin?: string): string | undefined {
  const hit = logs?.find((l) => l.level >= 4 && (origin === undefined || l.origin === origin));
  return hit?.message.split('\n')[0];
}
