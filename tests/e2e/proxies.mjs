// The proxies the e2e assertions run through, both in every `npm test`
//   cli    `ppv2-wasm proxy` running the release module in our host;
//   envoy  a real Envoy (tools.mjs envoyBinary(): PPV2_ENVOY, else the pinned
//          .tools/bin/envoy) on a bootstrap derived from envoy/envoy.yaml.
// Both resolve to the same shape, so every assertion runs unchanged.
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { startCli, LineQueue } from '../cli/cli-process.mjs';
import { requireEnvoy } from './tools.mjs';

export const RELEASE_WASM = fileURLToPath(new URL('../../build/ppv2.wasm', import.meta.url));
export const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** Every proxy the e2e suite runs through, with the name its tests carry. */
export const PROXY_KINDS = [
  { kind: 'cli', name: 'ppv2-wasm proxy' },
  { kind: 'envoy', name: 'Envoy' },
];

/**
 * Starts the proxy of `kind` on a free port of `listenHost`, forwarding to
 * upstreamHost:upstreamPort with the plugin `config` (a JSON-able value or a
 * string). Resolves to { host, port, lines, stop, stderr }, where `lines`
 * yields one line per finished connection (the CLI's log line, or Envoy's
 * access-log line); or to null when test `t` was skipped because Envoy is not
 * installed (under CI=true that fails the test instead).
 */
export async function startProxyUnderTest(t, { kind, upstreamPort, upstreamHost = '127.0.0.1', listenHost = '127.0.0.1', config, wasm = RELEASE_WASM, failOpen = false }) {
  const configuration = config === undefined ? undefined : typeof config === 'string' ? config : JSON.stringify(config);
  if (kind === 'cli') return startCliUnderTest({ upstreamPort, upstreamHost, listenHost, configuration, wasm, failOpen });
  if (kind !== 'envoy') throw new Error(`unknown proxy kind ${kind}: expected "cli" or "envoy"`);
  const binary = requireEnvoy(t);
  if (!binary) return null;
  return startEnvoyUnderTest({ binary, upstreamPort, upstreamHost, listen: { address: listenHost, port: 0 }, configuration, wasm, failurePolicy: failOpen ? 'FAIL_OPEN' : undefined });
}

async function startCliUnderTest({ upstreamPort, upstreamHost, listenHost, configuration, wasm, failOpen }) {
  const bracket = (host) => (host.includes(':') ? `[${host}]` : host);
  const args = ['proxy', '--listen', `${bracket(listenHost)}:0`, '--upstream', `${bracket(upstreamHost)}:${upstreamPort}`, '--wasm', wasm];
  if (configuration !== undefined) args.push('--config-json', configuration);
  if (failOpen) args.push('--fail-open');
  const proxy = await startCli(args);
  return { host: listenHost, port: proxy.port, lines: proxy.lines, stop: () => proxy.stop(), stderr: proxy.stderr };
}

/**
 * A real Envoy through the launcher (src/deploy/envoy-launcher.ts): `binary`,
 * the first listener of `template` at `listen`, the module `wasm` with
 * `configuration` and `failurePolicy`, forwarding to the backend cluster.
 * `lines` yields Envoy's access-log lines; `stderr()` is Envoy's own log so
 * far (the filter's lines are there); `envoy` is the launcher's RunningEnvoy.
 * `listen` is a launcher ListenerAddress, or "template" (keep the template's
 * listeners). `cwd` is Envoy's working directory, from which the template
 * (unless absolute) and its relative paths resolve; default the repository.
 */
export async function startEnvoyUnderTest({ binary, upstreamPort, upstreamHost = '127.0.0.1', listen, configuration, wasm = RELEASE_WASM, failurePolicy, template, args, cwd = REPO }) {
  const { startEnvoyProxy } = await import('../../dist/deploy/envoy-launcher.js');
  const accessLog = new PassThrough();
  const envoy = await startEnvoyProxy({
    cwd,
    env: { ...process.env, PPV2_ENVOY: binary },
    upstreamHost,
    upstreamPort,
    listen,
    wasmPath: wasm,
    readyTimeoutMs: 60000,
    ...(template !== undefined ? { template } : {}),
    ...(args !== undefined ? { args } : {}),
    ...(failurePolicy !== undefined ? { failurePolicy } : {}),
    ...(configuration !== undefined ? { configuration } : {}),
    onLine: (line, stream) => { if (stream === 'stdout') accessLog.write(`${line}\n`); },
  });
  return {
    host: envoy.host,
    port: envoy.port,
    lines: new LineQueue(accessLog),
    envoy: envoy.envoy,
    stats: envoy.stats,
    stderr: () => envoy.stderr.join('\n'),
    stop: async () => { await envoy.stop(); accessLog.end(); },
  };
}
