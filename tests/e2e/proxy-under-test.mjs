// The proxy the e2e assertions run through, chosen by E2E_PROXY:
//   cli (default)  `ppv2-wasm proxy` running the release module in our host;
//   envoy          a real Envoy (func-e, `envoy` on PATH, or PPV2_ENVOY) on a
//                  bootstrap derived from envoy/envoy.yaml. No Envoy can be
//                  installed on our build machines; .github/workflows/ci.yml runs it.
// Both launchers resolve to the same shape, so every assertion runs unchanged.
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { startCli, LineQueue } from '../cli/cli-process.mjs';

export const RELEASE_WASM = fileURLToPath(new URL('../../build/ppv2.wasm', import.meta.url));
const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** Which proxy runs under test: 'cli' or 'envoy'. */
export const PROXY_KIND = process.env.E2E_PROXY ?? 'cli';
if (PROXY_KIND !== 'cli' && PROXY_KIND !== 'envoy') {
  throw new Error(`E2E_PROXY=${PROXY_KIND}: expected "cli" (ppv2-wasm proxy) or "envoy"`);
}

/**
 * Starts the proxy on a free port of `listenHost`, forwarding to
 * upstreamHost:upstreamPort with the plugin `config` (a JSON-able value or a
 * string). Resolves to { host, port, lines, stop }; `lines` yields one line
 * per finished connection (the CLI's log line, or Envoy's access-log line).
 */
export async function startProxyUnderTest({ upstreamPort, upstreamHost = '127.0.0.1', listenHost = '127.0.0.1', config, wasm = RELEASE_WASM, failOpen = false }) {
  const configuration = config === undefined ? undefined : typeof config === 'string' ? config : JSON.stringify(config);
  return PROXY_KIND === 'envoy'
    ? startEnvoyUnderTest({ upstreamPort, upstreamHost, listenHost, configuration, wasm, failOpen })
    : startCliUnderTest({ upstreamPort, upstreamHost, listenHost, configuration, wasm, failOpen });
}

async function startCliUnderTest({ upstreamPort, upstreamHost, listenHost, configuration, wasm, failOpen }) {
  const bracket = (host) => (host.includes(':') ? `[${host}]` : host);
  const args = ['proxy', '--listen', `${bracket(listenHost)}:0`, '--upstream', `${bracket(upstreamHost)}:${upstreamPort}`, '--wasm', wasm];
  if (configuration !== undefined) args.push('--config-json', configuration);
  if (failOpen) args.push('--fail-open');
  const proxy = await startCli(args);
  return { host: listenHost, port: proxy.port, lines: proxy.lines, stop: () => proxy.stop(), stderr: proxy.stderr };
}

async function startEnvoyUnderTest({ upstreamPort, upstreamHost, listenHost, configuration, wasm, failOpen }) {
  const { startEnvoyProxy } = await import('../../dist/deploy/envoy-launcher.js');
  const accessLog = new PassThrough();
  const envoy = await startEnvoyProxy({
    cwd: REPO,
    upstreamHost,
    upstreamPort,
    listenHost,
    wasmPath: wasm,
    failOpen,
    readyTimeoutMs: 120000,
    ...(configuration !== undefined ? { configuration } : {}),
    onLine: (line, stream) => { if (stream === 'stdout') accessLog.write(`${line}\n`); },
  });
  return {
    host: envoy.host,
    port: envoy.port,
    lines: new LineQueue(accessLog),
    stats: envoy.stats,
    stderr: () => envoy.stderr.join('\n'),
    stop: async () => { await envoy.stop(); accessLog.end(); },
  };
}
