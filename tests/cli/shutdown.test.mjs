// `ppv2-wasm proxy` when it is stopped, and what its lines look like: on
// SIGTERM it stops accepting at once, lets open connections finish for up to
// --drain-timeout, then cuts the rest and says so on their lines; a second
// signal cuts at once. Every line of proxy and inspect starts with its time.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect } from 'node:net';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { startCli } from './cli-process.mjs';
import { exchange } from './net-client.mjs';

const RELEASE = fileURLToPath(new URL('../../build/ppv2.wasm', import.meta.url));
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /;
const cleanups = [];
after(async () => { for (const cleanup of cleanups.reverse()) await cleanup(); });

/** An echo backend that skips nothing: the proxy's bytes come back to the client. */
async function echoBackend() {
  const sockets = new Set();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    socket.pipe(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => { for (const s of sockets) s.destroy(); return new Promise((r) => server.close(r)); });
  return server.address().port;
}

/** A client connection that stays open until told, recording what it receives. */
async function openClient(port) {
  const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  socket.on('error', () => {});
  const received = [];
  socket.on('data', (d) => received.push(d));
  // Once the proxy has closed its side, the client closes too.
  socket.on('end', () => socket.end());
  const closeEvent = once(socket, 'close');
  const closed = () => within(closeEvent, 'the client connection to close');
  await once(socket, 'connect');
  cleanups.push(() => socket.destroy());
  return { socket, received, closed };
}

async function proxyTo(upstreamPort, ...extra) {
  const proxy = await startCli(['proxy', '--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${upstreamPort}`, '--wasm', RELEASE, ...extra]);
  cleanups.push(() => proxy.stop());
  return proxy;
}

/** `promise`, or a failure naming `what` after `timeoutMs`: no test waits unbounded. */
function within(promise, what, timeoutMs = 15000) {
  let timer;
  const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function until(predicate, what, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('SIGTERM: new connections are refused, open ones finish within the drain time, the rest are cut and labelled so', async () => {
  const backend = await echoBackend();
  const proxy = await proxyTo(backend, '--drain-timeout', '1500');
  const finishing = await openClient(proxy.port);
  const lingering = await openClient(proxy.port);
  finishing.socket.write('first');
  lingering.socket.write('second');
  await until(() => finishing.received.length > 0 && lingering.received.length > 0, 'both echoes');

  const exited = within(once(proxy.child, 'close'), 'the proxy to exit');
  proxy.child.kill('SIGTERM');
  await until(() => /no longer accepting/.test(proxy.stderr()), 'the stop line');
  const refused = await exchange({ port: proxy.port, send: [Buffer.from('late')], timeoutMs: 5000 });
  assert.equal(refused.error?.code, 'ECONNREFUSED', 'a connection after SIGTERM is refused');

  // Still proxied while draining, both ways.
  finishing.socket.write('-more');
  await until(() => Buffer.concat(finishing.received).toString().endsWith('-more'), 'bytes sent during the drain to come back');
  finishing.socket.end();
  await finishing.closed();
  const finishedLine = await proxy.lines.next();
  assert.match(finishedLine, ISO);
  assert.match(finishedLine, /10 B from client, .*; closed$/);

  // The one that never ends is cut after the drain time, and its line says why.
  await lingering.closed();
  const cutLine = await proxy.lines.next();
  assert.match(cutLine, ISO);
  assert.match(cutLine, /6 B from client, .*; cut by shutdown \(drain timeout 1500 ms\)$/);
  assert.doesNotMatch(cutLine, /closed by the filter/);

  const [code] = await exited;
  assert.equal(code, 0);
  assert.match(proxy.stderr(), /stopped \(connections: 1 finished while draining, 1 cut\)/);
  assert.match(proxy.stderr(), /filter metrics: .*wasmcustom\.ppv2\.headers_written: 2\b/);
});

test('a second signal cuts the open connections at once', async () => {
  const backend = await echoBackend();
  const proxy = await proxyTo(backend); // the default drain time, far longer than this test
  const client = await openClient(proxy.port);
  client.socket.write('x');
  await until(() => client.received.length > 0, 'the echo');
  const exited = within(once(proxy.child, 'close'), 'the proxy to exit');
  proxy.child.kill('SIGTERM');
  await until(() => /no longer accepting; open connections may finish for up to 10000 ms \(SIGTERM again cuts them now\)/.test(proxy.stderr()), 'the stop line');
  proxy.child.kill('SIGINT');
  await client.closed();
  assert.match(await proxy.lines.next(), /; cut by shutdown \(stopped again\)$/);
  const [code] = await exited;
  assert.equal(code, 0);
});

test('--drain-timeout 0 cuts open connections as soon as the proxy is stopped', async () => {
  const backend = await echoBackend();
  const proxy = await proxyTo(backend, '--drain-timeout', '0');
  const client = await openClient(proxy.port);
  client.socket.write('x');
  await until(() => client.received.length > 0, 'the echo');
  assert.equal(await proxy.stop(), 0);
  assert.match(await proxy.lines.next(), /; cut by shutdown \(drain timeout 0 ms\)$/);
});

test('every line of proxy and inspect starts with an ISO 8601 UTC time; inspect records carry it as "time"', async () => {
  const inspect = await startCli(['inspect', '--listen', '127.0.0.1:0']);
  cleanups.push(() => inspect.stop());
  const proxy = await proxyTo(inspect.port, '--log-level', 'debug');
  const before = Date.now();
  await exchange({ port: proxy.port, send: [Buffer.from('hi')] });
  const record = await inspect.lines.nextJson();
  assert.ok(Math.abs(Date.parse(record.time) - before) < 60_000, record.time);
  assert.equal(Object.keys(record)[0], 'time');
  assert.match(await proxy.lines.next(), ISO);
  assert.equal(await proxy.stop(), 0);
  assert.equal(await inspect.stop(), 0);
  const stderrLines = [...proxy.stderr().trim().split('\n'), ...inspect.stderr().trim().split('\n')];
  assert.ok(stderrLines.length >= 6, proxy.stderr());
  for (const line of stderrLines) assert.match(line, ISO);
  // The filter's own log lines carry their level, as Envoy's do.
  assert.match(proxy.stderr(), /Z \[debug\] wasm log/);
});
