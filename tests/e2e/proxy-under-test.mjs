// The proxy the e2e assertions run through. Today that is `ppv2-wasm proxy`
// running the release module (build/ppv2.wasm); keeping the launcher here,
// alone, lets a later change run the same assertions through a real Envoy
// (E2E_PROXY=envoy) by adding a second launcher with the same shape.
import { startCli } from '../cli/cli-process.mjs';

export const RELEASE_WASM = new URL('../../build/ppv2.wasm', import.meta.url).pathname;

/**
 * Starts the proxy on a free port of `listenHost`, forwarding to
 * upstreamHost:upstreamPort with the plugin `config` (a JSON-able value or a
 * string). Resolves to { host, port, lines, stop }; `lines` are its
 * per-connection log lines.
 */
export async function startProxyUnderTest({ upstreamPort, upstreamHost = '127.0.0.1', listenHost = '127.0.0.1', config, wasm = RELEASE_WASM, failOpen = false }) {
  const kind = process.env.E2E_PROXY ?? 'cli';
  if (kind !== 'cli') throw new Error(`E2E_PROXY=${kind}: only "cli" (ppv2-wasm proxy) has a launcher in tests/e2e/proxy-under-test.mjs`);
  const bracket = (host) => (host.includes(':') ? `[${host}]` : host);
  const args = ['proxy', '--listen', `${bracket(listenHost)}:0`, '--upstream', `${bracket(upstreamHost)}:${upstreamPort}`, '--wasm', wasm];
  if (config !== undefined) args.push('--config-json', typeof config === 'string' ? config : JSON.stringify(config));
  if (failOpen) args.push('--fail-open');
  const proxy = await startCli(args);
  return { host: listenHost, port: proxy.port, lines: proxy.lines, stop: () => proxy.stop(), stderr: proxy.stderr };
}
