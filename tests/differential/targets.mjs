// The two proxies a differential case runs through, started once per suite
// and shared by every case:
//   envoy  a real Envoy (requireEnvoy: PPV2_ENVOY or the pinned .tools/bin/envoy)
//          with the release module in envoy.filters.network.wasm before tcp_proxy;
//   host   `ppv2-wasm proxy` (src/cli/proxy.ts), the same module in our host.
// Each has the same listeners: `v4` (127.0.0.1), `v6` ([::1]), `dual` ([::],
// dual-stack: Envoy's ipv4_compat, Node's default), `refused` (an upstream
// port nobody listens on) and `unanswered` (an upstream that never answers
// the SYN, with a 1 s connect timeout), and its own recording backend.
import { fileURLToPath } from 'node:url';
import { startEnvoy } from '../../dist/deploy/envoy-launcher.js';
import { startCli } from '../cli/cli-process.mjs';
import { freePort } from '../e2e/consumers.mjs';
import { bootstrap, cluster, listener, tcpProxy, wasmFilter } from './envoy-config.mjs';
import { startRecorder, startUnansweredPort } from './peers.mjs';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const RELEASE_WASM = fileURLToPath(new URL('../../build/ppv2.wasm', import.meta.url));

/** Where each listener of a target accepts clients. */
const LISTEN_HOSTS = { v4: '127.0.0.1', v6: '::1', dual: '::', refused: '127.0.0.1', unanswered: '127.0.0.1' };

/** How long either proxy waits for the `unanswered` upstream (Envoy's cluster connect_timeout). */
const CONNECT_TIMEOUT_MS = 1000;

/** The recording backend, a dead port and an unanswered port: the upstreams of a target. */
async function startUpstreams() {
  const backend = await startRecorder();
  const unanswered = await startUnansweredPort();
  const deadPort = await freePort();
  const ports = { refused: deadPort, unanswered: unanswered.port };
  return {
    backend,
    portFor: (name) => ports[name] ?? backend.port,
    stop: async () => { await backend.close(); await unanswered.stop(); },
  };
}

/**
 * Starts Envoy with one listener per shape, all running `configuration`;
 * resolves to { name, backend, listeners: { v4: port, ... }, log, stop }.
 */
export async function startEnvoyTarget(envoyBinary, configuration) {
  const upstreams = await startUpstreams();
  const log = [];
  try {
    const envoy = await startEnvoy({
      bootstrap: bootstrap({
        listeners: Object.entries(LISTEN_HOSTS).map(([name, host]) =>
          listener(name, host, [wasmFilter(RELEASE_WASM, configuration), tcpProxy(name, name)], { ipv4Compat: name === 'dual' })),
        clusters: Object.keys(LISTEN_HOSTS).map((name) =>
          cluster(name, { host: '127.0.0.1', port: upstreams.portFor(name) }, { connectTimeoutMs: CONNECT_TIMEOUT_MS })),
      }),
      cwd: REPO,
      env: { ...process.env, PPV2_ENVOY: envoyBinary },
      logLevel: 'warning',
      onLine: (line) => { log.push(line); if (log.length > 200) log.shift(); },
    });
    return {
      name: 'envoy',
      backend: upstreams.backend,
      listeners: envoy.listenerPorts,
      log,
      stop: async () => { await envoy.stop(); await upstreams.stop(); },
    };
  } catch (error) {
    await upstreams.stop();
    throw error;
  }
}

/** The same shapes as `ppv2-wasm proxy` processes, one per listener. */
export async function startHostTarget(configuration) {
  const upstreams = await startUpstreams();
  const proxies = {};
  const stopAll = async () => {
    await Promise.all(Object.values(proxies).map((p) => p.stop()));
    await upstreams.stop();
  };
  try {
    await Promise.all(Object.entries(LISTEN_HOSTS).map(async ([name, host]) => {
      const listen = host.includes(':') ? `[${host}]:0` : `${host}:0`;
      proxies[name] = await startCli([
        'proxy', '--quiet', '--listen', listen, '--upstream', `127.0.0.1:${upstreams.portFor(name)}`,
        '--connect-timeout', String(CONNECT_TIMEOUT_MS), '--wasm', RELEASE_WASM, '--config-json', configuration,
      ]);
    }));
  } catch (error) {
    await stopAll();
    throw error;
  }
  return {
    name: 'host',
    backend: upstreams.backend,
    listeners: Object.fromEntries(Object.entries(proxies).map(([name, p]) => [name, p.port])),
    log: [],
    stop: stopAll,
  };
}
