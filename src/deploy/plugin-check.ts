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

interface HostPlugin {
  shutdown(): void;
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
      return null;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const known = host.PluginStartError && err instanceof host.PluginStartError;
      return `${known ? '' : 'host error: '}${message.split('\n')[0]}`;
    } finally {
      plugin?.shutdown();
    }
  };
}
