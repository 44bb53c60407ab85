// The symptoms docs/troubleshooting.md quotes, reproduced with the real
// programs: HAProxy and nginx given no header, or two; Envoy with the filter
// and its own upstream PROXY transport socket (two headers); Envoy when the
// module traps, when the filter refuses its configuration, and when a remote
// module's sha256 does not match. Each asserts the line the page quotes, so
// the page stays true for the versions CI runs.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireEnvoy, requireTool } from '../e2e/tools.mjs';
import { freePort } from '../e2e/consumers.mjs';
import { fixture } from '../fixtures/wat.mjs';
import { startEnvoy } from '../../dist/deploy/envoy-launcher.js';
import { decodeProxyHeader } from '../../dist/proxy-protocol/index.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const RELEASE = join(ROOT, 'build', 'ppv2.wasm');
const dir = mkdtempSync(join(tmpdir(), 'ppv2-troubleshooting-'));
const cleanups = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const GET = Buffer.from('GET / HTTP/1.0\r\n\r\n');
/** A v2 PROXY header, TCP4 127.0.0.1:44226 -> 127.0.0.1:19210. */
const HEADER = Buffer.from('0d0a0d0a000d0a515549540a2111000c7f0000017f000001acc24b0a', 'hex');

/** Connects, writes `bytes` (none: stays silent), half-closes, and collects the reply until the server closes. */
function exchange(port, bytes, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const chunks = [];
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no close from port ${port} within ${timeoutMs} ms`)); }, timeoutMs);
    socket.on('connect', () => { if (bytes) socket.end(bytes); });
    socket.on('data', (d) => chunks.push(d));
    socket.on('end', () => socket.end());
    let error = null;
    socket.on('error', (e) => { error = e.code; });
    socket.on('close', () => { clearTimeout(timer); resolve({ data: Buffer.concat(chunks), error }); });
  });
}

/** A daemon in the foreground whose output is collected; stopped after the file's tests. */
function daemon(binary, args) {
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  cleanups.push(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const closed = once(child, 'close');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await closed;
    clearTimeout(timer);
  });
  return { output: () => output };
}

async function until(predicate, what, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Waits until `port` accepts connections (HAProxy and nginx print nothing when ready). */
async function listening(port) {
  const deadline = Date.now() + 10000;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = connect({ host: '127.0.0.1', port });
      s.on('connect', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('HAProxy: no header, a silent client, and two headers, as the page quotes them', async (t) => {
  const haproxy = requireTool(t, 'haproxy');
  if (!haproxy) return;
  const [tcpPort, httpPort] = [await freePort(), await freePort()];
  const config = join(dir, 'haproxy.cfg');
  writeFileSync(config, `global
  log stderr format rfc5424 local0
defaults
  log global
  timeout connect 5s
  timeout client 1s
  timeout server 5s
frontend pp
  mode tcp
  bind 127.0.0.1:${tcpPort} accept-proxy
  default_backend none
frontend pphttp
  mode http
  option httplog
  bind 127.0.0.1:${httpPort} accept-proxy
  http-request return status 200 content-type text/plain string ok
backend none
  mode tcp
  server s1 127.0.0.1:9
`);
  const proc = daemon(haproxy, ['-db', '-f', config]);
  await listening(tcpPort);
  await listening(httpPort);

  const plain = await exchange(tcpPort, GET);
  assert.equal(plain.data.length, 0);
  await until(() => /pp\/1: Received something which does not look like a PROXY protocol header/.test(proc.output()), 'the "does not look like" line');

  await exchange(tcpPort, null); // sends nothing: HAProxy gives up after `timeout client`
  await until(() => /pp\/1: Timeout while waiting for PROXY protocol header/.test(proc.output()), 'the timeout line');

  const twice = await exchange(httpPort, Buffer.concat([HEADER, HEADER, GET]));
  assert.match(twice.data.toString(), /^HTTP\/1\.1 400 Bad request\r\n/);
  await until(() => /pphttp pphttp\/<NOSRV> .* 400 .* "<BADREQ>"/.test(proc.output()), 'the <BADREQ> line');
  const single = await exchange(httpPort, Buffer.concat([HEADER, GET]));
  assert.match(single.data.toString(), /^HTTP\/1\.1 200 OK\r\n/, 'one header is fine');
});

test('nginx: no header is a "broken header", two headers a 400 "invalid method"', async (t) => {
  const nginx = requireTool(t, 'nginx');
  if (!nginx) return;
  const port = await freePort();
  const prefix = join(dir, 'nginx');
  const temp = (name) => join(prefix, name);
  writeFileSync(join(dir, 'nginx.conf'), `daemon off;
master_process off;
worker_processes 1;
pid ${temp('nginx.pid')};
error_log stderr info;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${temp('body')}; proxy_temp_path ${temp('proxy')}; fastcgi_temp_path ${temp('fastcgi')};
  uwsgi_temp_path ${temp('uwsgi')}; scgi_temp_path ${temp('scgi')};
  server {
    listen 127.0.0.1:${port} proxy_protocol;
    location / { return 200 "ok\\n"; }
  }
}
`);
  mkdirSync(prefix, { recursive: true });
  const proc = daemon(nginx, ['-e', 'stderr', '-p', prefix, '-c', join(dir, 'nginx.conf')]);
  await listening(port);

  await exchange(port, GET);
  await until(() => /\[error\] .*broken header: "GET \/ HTTP\/1\.0\r\n\r\n" while reading PROXY protocol, client: 127\.0\.0\.1/.test(proc.output()), 'the broken header line');
  const twice = await exchange(port, Buffer.concat([HEADER, HEADER, GET]));
  assert.match(twice.data.toString(), /^HTTP\/1\.1 400 Bad Request\r\n/);
  await until(() => /\[info\] .*client sent invalid method while reading client request line/.test(proc.output()), 'the invalid method line');
});

/** A bootstrap with one listener (port 0): the wasm filter, then tcp_proxy to `upstreamPort`. */
function bootstrap({ upstreamPort, code, configuration = '{}', failurePolicy, upstreamProxyProtocol = false, extraClusters = '' }) {
  return `admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
static_resources:
  listeners:
  - name: ppv2
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.wasm
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm
          config:
            name: ppv2
${failurePolicy ? `            failure_policy: ${failurePolicy}\n` : ''}            vm_config:
              vm_id: ppv2
              runtime: envoy.wasm.runtime.v8
              code: ${code}
            configuration:
              "@type": type.googleapis.com/google.protobuf.StringValue
              value: ${JSON.stringify(configuration)}
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: ppv2
          cluster: backend
  clusters:
  - name: backend
    type: STATIC
    connect_timeout: 1s
${upstreamProxyProtocol ? `    transport_socket:
      name: envoy.transport_sockets.upstream_proxy_protocol
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.transport_sockets.proxy_protocol.v3.ProxyProtocolUpstreamTransport
        config: { version: V2 }
        transport_socket:
          name: envoy.transport_sockets.raw_buffer
          typed_config: { "@type": type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer }
` : ''}    load_assignment:
      cluster_name: backend
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${upstreamPort} } } } }] }]
${extraClusters}`;
}

/** A backend that records each connection's bytes. */
async function recordingBackend() {
  const received = [];
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    const chunks = [];
    socket.on('data', (d) => chunks.push(d));
    socket.on('end', () => { received.push(Buffer.concat(chunks)); socket.end(); });
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise((r) => server.close(r)));
  return { port: server.address().port, received };
}

async function envoyWith(t, options) {
  const binary = requireEnvoy(t);
  if (!binary) return null;
  const lines = [];
  const envoy = await startEnvoy({
    bootstrap: bootstrap(options),
    cwd: ROOT,
    env: { ...process.env, PPV2_ENVOY: binary },
    onLine: (line) => lines.push(line),
  });
  cleanups.push(() => envoy.stop());
  return { envoy, port: envoy.listenerPorts.ppv2, lines, log: () => lines.join('\n') };
}

test('Envoy: the filter and the upstream_proxy_protocol transport socket together send two headers', async (t) => {
  const backend = await recordingBackend();
  const run = await envoyWith(t, { upstreamPort: backend.port, code: `{ local: { filename: ${JSON.stringify(RELEASE)} } }`, upstreamProxyProtocol: true });
  if (!run) return;
  await exchange(run.port, Buffer.from('hello'));
  await until(() => backend.received.length === 1, 'the backend to get the connection');
  const bytes = backend.received[0];
  const first = decodeProxyHeader(bytes);
  assert.equal(first.state, 'complete');
  const second = decodeProxyHeader(bytes.subarray(first.header.length));
  assert.equal(second.state, 'complete', 'a second, complete header follows the first');
  assert.deepEqual(second.header.source, first.header.source);
  assert.equal(bytes.subarray(first.header.length + second.header.length).toString(), 'hello');
});

test('Envoy, fail closed: a trap closes the connection with nothing upstream, and is logged', async (t) => {
  const trap = join(dir, 'trap.wasm');
  writeFileSync(trap, fixture('trap'));
  const backend = await recordingBackend();
  const run = await envoyWith(t, { upstreamPort: backend.port, code: `{ local: { filename: ${JSON.stringify(trap)} } }` });
  if (!run) return;
  const client = await exchange(run.port, Buffer.from('!boom'));
  assert.equal(client.data.length, 0);
  await until(() => /\[error\]\[wasm\] .*Function: proxy_on_downstream_data failed: Uncaught RuntimeError: unreachable/.test(run.log()), 'the trap line');
  await until(() => backend.received.length === 1, 'tcp_proxy\'s upstream connection to close');
  assert.equal(backend.received[0].length, 0, 'no byte reached the backend');
});

test('Envoy refuses the listener when the filter refuses its configuration, quoting the reason', async (t) => {
  const binary = requireEnvoy(t);
  if (!binary) return;
  const lines = [];
  await assert.rejects(startEnvoy({
    bootstrap: bootstrap({ upstreamPort: 9, code: `{ local: { filename: ${JSON.stringify(RELEASE)} } }`, configuration: '{"version":3}' }),
    cwd: ROOT,
    env: { ...process.env, PPV2_ENVOY: binary },
    readyTimeoutMs: 60000,
    onLine: (line) => lines.push(line),
  }), /before it was ready/);
  const log = lines.join('\n');
  assert.match(log, /\[error\]\[wasm\] .*wasm log ppv2: ppv2-wasm: bad plugin configuration: version: .*3/);
  assert.match(log, /\[critical\]\[wasm\] .*Plugin configured to fail closed failed to load/);
  assert.match(log, /Unable to create Wasm plugin ppv2/);
});

test('Envoy: a remote module whose sha256 does not match is not loaded, and connections are closed', async (t) => {
  const wasm = readFileSync(RELEASE);
  const http = createHttpServer((req, res) => res.end(wasm));
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  cleanups.push(() => new Promise((r) => http.close(r)));
  const backend = await recordingBackend();
  const run = await envoyWith(t, {
    upstreamPort: backend.port,
    code: `{ remote: { http_uri: { uri: "http://127.0.0.1:${http.address().port}/ppv2.wasm", cluster: modules, timeout: 5s }, sha256: "${'0'.repeat(64)}", retry_policy: { num_retries: 1 } } }`,
    extraClusters: `  - name: modules
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: modules
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${http.address().port} } } } }] }]
`,
  });
  if (!run) return;
  await until(() => /Plugin configured to fail closed failed to load/.test(run.log()), 'the fail-closed line');
  assert.match(run.log(), /Retry limit exceeded for fetching data from remote data source/);
  assert.match(run.log(), /\[critical\]\[wasm\] .*Plugin ppv2 failed to load/);
  const client = await exchange(run.port, Buffer.from('hello'));
  assert.equal(client.data.length, 0);
  assert.equal(backend.received.length, 0, 'no connection reached the backend');
  const stats = await run.envoy.stats('wasm.remote_load_fetch_failures');
  assert.ok(stats['wasm.remote_load_fetch_failures'] >= 1, JSON.stringify(stats));
});
