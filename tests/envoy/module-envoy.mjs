// Starts a real Envoy for the module's own Envoy tests (module-*.test.mjs): one of the shipped
// bootstraps reduced to one listener on a free port, the release module with a given plugin
// configuration, the backend on 127.0.0.1, and `edit` to change the bootstrap further (a pipe
// listener, certificate paths). Resolves to null when the test was skipped for want of Envoy.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { renderBootstrap, startEnvoy } from '../../dist/deploy/envoy-launcher.js';
import { requireEnvoy } from '../e2e/tools.mjs';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** `cleanup` gets the function that stops Envoy (call it even when the test fails). */
export async function startModuleEnvoy(t, { template, backendPort, configuration, edit = () => {}, cleanup }) {
  const binary = requireEnvoy(t);
  if (binary === null) return null;
  const rendered = renderBootstrap(readFileSync(join(ROOT, template), 'utf8'), {
    singleListener: { address: '127.0.0.1', port: 0 },
    adminPort: 0,
    backend: { host: '127.0.0.1', port: backendPort },
    wasmPath: join(ROOT, 'build/ppv2.wasm'),
    pluginConfiguration: configuration,
  });
  const doc = parseDocument(rendered);
  edit(doc);
  const envoy = await startEnvoy({ bootstrap: doc.toString(), cwd: ROOT, env: { ...process.env, PPV2_ENVOY: binary } });
  cleanup(() => envoy.stop());
  return { envoy, port: Object.values(envoy.listenerPorts)[0] };
}
