// `ppv2-wasm proxy` with the host's fixture modules: the plumbing (filter on
// every connection, half-close, backpressure both ways, upstream failures,
// the fail policy) independently of the release filter, which the e2e tests
// drive through HAProxy, nginx and tshark.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, connect } from 'node:net';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixture } from '../fixtures/wat.mjs';
import { startPlugin } from '../../dist/host/index.js';
import { createProxyServer } from '../../dist/cli/proxy.js';
import { LISTEN_BACKLOG } from '../../dist/cli/lifecycle.js';
import { requireTool } from '../e2e/tools.mjs';
import { freePort } from '../e2e/consumers.mjs';
import { runCli, startCli } from './cli-process.mjs';
import { exchange } from './net-client.mjs';

const dir = mkdtempSync(join(tmpdir(), 'ppv2-proxy-test-'));
const TRAP = join(dir, 'trap.wasm'); // prepends "H" to client data; traps on data starting with "!"
const CONFIG = join(dir, 'config.wasm'); // refuses a configuration that starts with "x"
const NOOP = join(dir, 'noop.wasm'); // passes everything through
const cleanups = [];

before(() => {
  writeFileSync(TRAP, fixture('trap'));
  writeFileSync(CONFIG, fixture('config'));
  writeFileSync(NOOP, fixture('noop'));
});
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  rmSync(dir, { recursive: true, force: true });
});

/** A backend that records each connection's bytes and replies `reply` once the client half-closes. */
async function backend({ reply = Buffer.alloc(0), paused = false } = {}) {
  const received = [];
  const sockets = [];
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.push(socket);
    const chunks = [];
    if (paused) socket.pause();
    socket.on('data', (d) => chunks.push(d));
    socket.on('end', () => { received.push(Buffer.concat(chunks)); socket.end(reply); });
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => { for (const s of sockets) s.destroy(); return new Promise((r) => server.close(r)); });
  return { port: server.address().port, received, sockets };
}

/** The proxy in this process, so tests can see its counters and the filter's connections. */
async function inProcessProxy(upstreamPort, wasm = TRAP) {
  const plugin = await startPlugin({ wasm, logLevel: 'critical' });
  const connections = [];
  const newConnection = plugin.newConnection.bind(plugin);
  plugin.newConnection = (props, sink) => {
    const conn = newConnection(props, sink);
    connections.push(conn);
    return conn;
  };
  const lines = [];
  const { server, sockets, stats } = createProxyServer({
    upstream: { host: '127.0.0.1', port: upstreamPort }, plugin, onConnectionLog: (line) => lines.push(line),
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => { sockets.destroyAll(); plugin.shutdown(); return new Promise((r) => server.close(r)); });
  return { port: server.address().port, stats, connections, lines, plugin };
}

async function until(predicate, what, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sha256 = (b) => createHash('sha256').update(b).digest('hex');

test('every connection goes through the filter; half-close reaches the upstream and the reply comes back', async () => {
  const up = await backend({ reply: Buffer.from('reply') });
  const proxy = await inProcessProxy(up.port);
  const client = await exchange({ port: proxy.port, send: [Buffer.from('abc')] });
  assert.equal(client.data.toString(), 'reply');
  // The fixture prepends "H" to each downstream_data call: the data, then the end of stream.
  assert.equal(up.received[0].toString(), 'HabcH');
  await until(() => proxy.lines.length === 1, 'the log line');
  assert.match(proxy.lines[0], /^127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+: 3 B from client, 5 B upstream \(filter added 2\), 5 B from upstream, 5 B to client; closed$/);
  assert.ok(proxy.connections[0].closed, 'the filter\'s connection context was closed');
});

test('backpressure: a slow upstream pauses the client, a slow client pauses the upstream, and no byte is lost', async () => {
  const big = randomBytes(24 * 1024 * 1024);
  // Upstream that does not read at first.
  const slowUp = await backend({ paused: true });
  const proxy = await inProcessProxy(slowUp.port, NOOP);
  const parts = [];
  for (let at = 0; at < big.length; at += 1024 * 1024) parts.push(big.subarray(at, at + 1024 * 1024));
  const sending = exchange({ port: proxy.port, send: parts, timeoutMs: 60000 });
  await until(() => proxy.stats.clientPauses > 0, 'the proxy to pause the client');
  for (const socket of slowUp.sockets) socket.resume();
  await sending;
  assert.equal(slowUp.received[0].length, big.length);
  assert.equal(sha256(slowUp.received[0]), sha256(big));

  // A client that does not read while the upstream sends a lot.
  const chatty = await backend({ reply: big });
  const proxy2 = await inProcessProxy(chatty.port, NOOP);
  const socket = connect({ port: proxy2.port, host: '127.0.0.1', allowHalfOpen: true });
  await once(socket, 'connect');
  socket.pause();
  socket.end('go');
  await until(() => proxy2.stats.upstreamPauses > 0, 'the proxy to pause the upstream');
  const chunks = [];
  socket.on('data', (d) => chunks.push(d));
  socket.resume();
  await until(() => socket.destroyed, 'the client connection to close', 60000);
  assert.equal(sha256(Buffer.concat(chunks)), sha256(big));
});

test('a refused upstream closes the client and the filter\'s connection; the proxy keeps serving', async () => {
  const deadPort = await freePort();
  const proxy = await inProcessProxy(deadPort);
  for (let i = 0; i < 5; i++) {
    const client = await exchange({ port: proxy.port, send: [Buffer.from('hello')], end: false });
    assert.equal(client.data.length, 0);
  }
  await until(() => proxy.lines.length === 5, 'five log lines');
  for (const line of proxy.lines) assert.match(line, /upstream 127\.0\.0\.1:\d+ refused \(ECONNREFUSED\)$/);
  assert.equal(proxy.connections.length, 5);
  assert.ok(proxy.connections.every((c) => c.closed), 'no filter connection is left open');
  assert.equal(proxy.stats.open, 0);
});

test('an upstream reset closes the client, and the filter\'s connection', async () => {
  const rude = createServer((socket) => socket.resetAndDestroy());
  rude.listen(0, '127.0.0.1');
  await once(rude, 'listening');
  cleanups.push(() => new Promise((r) => rude.close(r)));
  const proxy = await inProcessProxy(rude.address().port);
  const client = await exchange({ port: proxy.port, send: [Buffer.from('hello')], end: false });
  assert.equal(client.data.length, 0);
  await until(() => proxy.lines.length === 1, 'the log line');
  assert.match(proxy.lines[0], /upstream error \(ECONNRESET\)$/);
  assert.ok(proxy.connections[0].closed);
});

test('fail closed (default): a trap closes the connection, nothing reaches the upstream, later connections are closed too', async () => {
  const up = await backend();
  const proxy = await startCli(['proxy', '--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${up.port}`, '--wasm', TRAP]);
  cleanups.push(() => proxy.stop());
  const trapped = await exchange({ port: proxy.port, send: [Buffer.from('!trap')], end: false });
  assert.equal(trapped.data.length, 0);
  assert.match(await proxy.lines.next(), /0 B upstream .*; closed by the filter$/);
  const next = await exchange({ port: proxy.port, send: [Buffer.from('hello')], end: false });
  assert.equal(next.data.length, 0);
  assert.match(await proxy.lines.next(), /closed by the filter$/);
  assert.ok(up.received.every((bytes) => bytes.length === 0), `the upstream got ${up.received.map((b) => b.toString())}`);
  assert.match(proxy.stderr(), /unreachable/);
});

test('--fail-open: after a trap, connections pass through without the filter', async () => {
  const up = await backend({ reply: Buffer.from('ok') });
  const proxy = await startCli(['proxy', '--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${up.port}`, '--wasm', TRAP, '--fail-open']);
  cleanups.push(() => proxy.stop());
  await exchange({ port: proxy.port, send: [Buffer.from('!trap')] });
  await proxy.lines.next();
  const next = await exchange({ port: proxy.port, send: [Buffer.from('hello')] });
  assert.equal(next.data.toString(), 'ok');
  await proxy.lines.next();
  assert.equal(up.received.at(-1).toString(), 'hello', 'no "H" prepended: the failed filter is skipped');
});

test('the listener asks for a 4096-deep accept queue, so a burst of clients is not reset by the kernel', async (t) => {
  const ss = requireTool(t, 'ss');
  if (!ss) return;
  const up = await backend({ reply: Buffer.from('r') });
  const proxy = await startCli(['proxy', '--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${up.port}`, '--wasm', TRAP]);
  cleanups.push(() => proxy.stop());
  // For a listening socket, ss shows the backlog in Send-Q; the kernel caps it at somaxconn.
  const { stdout } = await promisify(execFile)(ss, ['-Hltn', `sport = :${proxy.port}`]);
  const [state, , sendQ] = stdout.trim().split(/\s+/);
  assert.equal(state, 'LISTEN');
  const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
  assert.equal(Number(sendQ), Math.min(LISTEN_BACKLOG, somaxconn));
  assert.ok(LISTEN_BACKLOG >= 4096);
});

test('the proxy listens and connects upstream over IPv6', async () => {
  const received = [];
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    const chunks = [];
    socket.on('data', (d) => chunks.push(d));
    socket.on('end', () => { received.push(Buffer.concat(chunks)); socket.end('six'); });
  });
  server.listen(0, '::1');
  await once(server, 'listening');
  cleanups.push(() => new Promise((r) => server.close(r)));
  const proxy = await startCli(['proxy', '--listen', '[::1]:0', '--upstream', `[::1]:${server.address().port}`, '--wasm', TRAP]);
  cleanups.push(() => proxy.stop());
  const client = await exchange({ host: '::1', port: proxy.port, send: [Buffer.from('v6')] });
  assert.equal(client.data.toString(), 'six');
  assert.equal(received[0].toString(), 'Hv6H');
  assert.match(await proxy.lines.next(), /^\S+Z \[::1\]:\d+ -> \[::1\]:\d+: /);
});

test('--quiet prints no per-connection line', async () => {
  const up = await backend({ reply: Buffer.from('r') });
  const proxy = await startCli(['proxy', '--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${up.port}`, '--wasm', TRAP, '--quiet']);
  cleanups.push(() => proxy.stop());
  await exchange({ port: proxy.port, send: [Buffer.from('x')] });
  await assert.rejects(proxy.lines.next(500), /no output line/);
});

test('start-up failures exit 1 with one clear line', async () => {
  const blocker = createServer();
  blocker.listen(0, '127.0.0.1');
  await once(blocker, 'listening');
  const busy = blocker.address().port;
  try {
    const cases = [
      [['--listen', `127.0.0.1:${busy}`, '--upstream', '127.0.0.1:9', '--wasm', TRAP], `ppv2-wasm proxy: cannot listen on 127.0.0.1:${busy}: address already in use`],
      [['--listen', '127.0.0.1:0', '--upstream', '127.0.0.1:9', '--wasm', join(dir, 'missing.wasm')], `ppv2-wasm proxy: cannot read the wasm module ${join(dir, 'missing.wasm')}: ENOENT`],
      [['--listen', '127.0.0.1:0', '--upstream', '127.0.0.1:9', '--wasm', CONFIG, '--config-json', 'x-refuse-me'], /^ppv2-wasm proxy: the filter refused to start: .+$/],
      [['--listen', '127.0.0.1:0', '--upstream', '127.0.0.1:9', '--wasm', CONFIG, '--config', join(dir, 'missing.json')], `ppv2-wasm proxy: cannot read --config ${join(dir, 'missing.json')}: ENOENT`],
      [['--listen', '127.0.0.1:0', '--upstream', '127.0.0.1:9', '--wasm', join(dir, 'trap.wasm').replace('.wasm', '.txt')], /^ppv2-wasm proxy: cannot read the wasm module/],
    ];
    for (const [args, expected] of cases) {
      const { code, stderr } = await runCli(['proxy', ...args]);
      assert.equal(code, 1, stderr);
      const last = stderr.trim().split('\n').at(-1);
      if (typeof expected === 'string') assert.equal(last, expected);
      else assert.match(last, expected);
      assert.ok(stderr.trim().split('\n').filter((l) => l.startsWith('ppv2-wasm proxy:')).length === 1, stderr);
    }
  } finally {
    blocker.close();
  }
});

test('bad arguments exit 2 with one line', async () => {
  const cases = [
    [['proxy', '--listen', '127.0.0.1:0'], /--upstream HOST:PORT is required/],
    [['proxy', '--upstream', '127.0.0.1:1'], /--listen HOST:PORT is required/],
    [['proxy', '--listen', '127.0.0.1:0', '--upstream', 'nowhere'], /--upstream "nowhere" is not HOST:PORT/],
    [['proxy', '--listen', '127.0.0.1:0', '--upstream', '127.0.0.1:1', '--config', 'a', '--config-json', '{}'], /--config and --config-json are alternatives/],
    [['proxy', '--listen', '127.0.0.1:0', '--upstream', '127.0.0.1:1', '--log-level', 'loud'], /--log-level "loud" is not one of trace, debug/],
    [['proxy', '--listen', '127.0.0.1:0', '--upstream', '127.0.0.1:1', '--fail-open=yes'], /--fail-open/],
    [['encode', '--dst', '1.2.3.4:80'], /--src ADDR is required/],
    [['encode', '--src', '1.2.3.4:1', '--dst', '1.2.3.4:80', '--property', 'novalue'], /--property "novalue" is not PATH=VALUE/],
  ];
  for (const [args, message] of cases) {
    const { code, stderr } = await runCli(args);
    assert.equal(code, 2, `${args.join(' ')}: ${stderr}`);
    assert.match(stderr, message);
    assert.equal(stderr.trim().split('\n').length, 1, stderr);
  }
});

test('proxy --help and encode --help exit 0', async () => {
  for (const command of ['proxy', 'encode']) {
    const { code, stdout } = await runCli([command, '--help']);
    assert.equal(code, 0);
    assert.match(stdout, new RegExp(`^Usage: ppv2-wasm ${command} `));
  }
});

test('the proxy runs the filter\'s tick, and prints its counters as Envoy names them when it stops', async () => {
  const release = new URL('../../build/ppv2.wasm', import.meta.url).pathname;
  const up = await backend({ reply: Buffer.from('r') });
  const proxy = await startCli(['proxy', '--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${up.port}`, '--wasm', release, '--quiet']);
  cleanups.push(() => proxy.stop());
  for (let i = 0; i < 2; i++) await exchange({ port: proxy.port, send: [Buffer.from('hi')] });
  assert.equal(await proxy.stop(), 0);
  assert.match(proxy.stderr(), /filter metrics: .*wasmcustom\.ppv2\.headers_written: 2\b/);

  // The same loader with tick timers flushes the counters on the filter's own 1 s period, no manual tick.
  const { loadPlugin } = await import('../../dist/cli/plugin.js');
  const plugin = await loadPlugin({ wasm: release }, { tickTimers: true, onLog: () => {} });
  try {
    plugin.newConnection({ source: '1.2.3.4:5', destination: '5.6.7.8:9' }).downstreamData(Buffer.from('x'));
    const deadline = Date.now() + 5000;
    while (plugin.counter('ppv2.headers_written') !== 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.equal(plugin.counter('ppv2.headers_written'), 1);
  } finally {
    plugin.shutdown();
  }
});
