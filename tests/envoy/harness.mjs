// Shared by the tests/envoy/ suites: a real Envoy running the release module
// (through proxies.mjs and the launcher), stopped when the test ends;
// the strict `inspect` backend; clients over TCP, UNIX sockets and TLS; and
// Envoy's admin endpoints as Envoy prints them.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { startEnvoyUnderTest, RELEASE_WASM, REPO } from '../e2e/proxies.mjs';
import { requireEnvoy, requireTool } from '../e2e/tools.mjs';
import { startCli } from '../cli/cli-process.mjs';

export { RELEASE_WASM, REPO };
export const fixture = (name) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

/**
 * A real Envoy in front of `upstreamPort` (see startEnvoyUnderTest), stopped
 * after test `t`; null when `t` was skipped because Envoy is not installed.
 * `config` is a JSON-able plugin configuration or a string.
 */
export async function envoyFor(t, { config, ...options }) {
  const binary = requireEnvoy(t);
  if (!binary) return null;
  const configuration = config === undefined ? undefined : typeof config === 'string' ? config : JSON.stringify(config);
  const proxy = await startEnvoyUnderTest({ binary, configuration, listen: { address: '127.0.0.1', port: 0 }, ...options });
  t.after(() => proxy.stop());
  return proxy;
}

/** `ppv2-wasm inspect` (the strict decoder) on a free port, stopped after test `t`. */
export async function inspectBackend(t) {
  const inspect = await startCli(['inspect', '--listen', '127.0.0.1:0']);
  t.after(() => inspect.stop());
  return inspect;
}

/**
 * One connection: to `port` on `host` (or to the UNIX socket `path`), from
 * `localAddress`, over TLS when `tls` holds tls.connect options; writes
 * `send`, half-closes (unless `halfClose` is false: then it keeps its side
 * open until the server closes), and collects everything until the server
 * closes.
 */
export function connectOnce({ host = '127.0.0.1', port, path: socketPath, localAddress, tls: tlsOptions, send = [Buffer.from('hello')], halfClose = true, timeoutMs = 15000 }) {
  return new Promise((resolve, reject) => {
    const target = socketPath !== undefined ? { path: socketPath } : { host, port, localAddress };
    const socket = tlsOptions ? tls.connect({ ...target, ...tlsOptions }) : net.connect({ ...target, allowHalfOpen: true });
    const chunks = [];
    let local = null;
    let error = null;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close within ${timeoutMs} ms (got ${Buffer.concat(chunks).length} bytes)`));
    }, timeoutMs);
    socket.once(tlsOptions ? 'secureConnect' : 'connect', () => {
      local = socket.localPort === undefined ? null : { address: socket.localAddress, port: socket.localPort };
      for (const part of send) socket.write(part);
      if (halfClose) socket.end();
    });
    socket.on('data', (d) => chunks.push(d));
    socket.on('end', () => socket.end());
    socket.on('error', (e) => { error = e; });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks), local, error });
    });
  });
}

/** The `inspect` reply a client got (one JSON record), parsed. */
export function record(reply) {
  const text = reply.data.toString();
  assert.ok(text.length > 0, `the backend answered (client error: ${reply.error?.code ?? 'none'})`);
  return JSON.parse(text);
}

/** Envoy's /stats?filter=REGEX in its own text format: { name: value }. */
export async function statsText(envoy, filter) {
  const { body } = await envoy.admin(`/stats?filter=${encodeURIComponent(filter)}`);
  return Object.fromEntries(body.trim().split('\n').filter(Boolean).map((l) => {
    const at = l.lastIndexOf(': ');
    return [l.slice(0, at), Number(l.slice(at + 2))];
  }));
}

/** Waits until Envoy's counter `name` reaches `value` (the filter flushes every second). */
export async function counterReaches(envoy, name, value, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  let stats = {};
  while (Date.now() < deadline) {
    stats = await statsText(envoy, '^wasmcustom\\.');
    if (stats[name] === value) return stats;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`${name} did not reach ${value} within ${timeoutMs} ms: ${JSON.stringify(stats)}`);
}

/** The Envoy id of the connection in an access-log line of envoy/envoy.yaml's format. */
export const connectionId = (line) => Number(/ id=(\d+) /.exec(line)?.[1]);

/**
 * TEST-ONLY certificates from scripts/make-test-certs.sh in a folder that is
 * removed after test `t`: { dir, ca, server, client: { cert, key } } as
 * Buffers, and `dir` with build/test-certs/ inside for envoy-tls.yaml; or
 * null when test `t` was skipped because openssl is missing.
 */
export async function testCertificates(t) {
  if (!requireTool(t, 'openssl')) return null;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ppv2-certs-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  await promisify(execFile)('sh', [path.join(REPO, 'scripts', 'make-test-certs.sh'), path.join(dir, 'build', 'test-certs')], { timeout: 60000 });
  const read = (name) => fs.readFileSync(path.join(dir, 'build', 'test-certs', name));
  return { dir, ca: read('ca.crt'), client: { cert: read('client.crt'), key: read('client.key') } };
}
