// `ppv2-wasm inspect` as a user runs it: a child process, real sockets.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { runCli, startCli } from './cli-process.mjs';
import { exchange } from './net-client.mjs';

const hex = (s) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const SIG = '0d0a0d0a000d0a515549540a';
const V2_WITH_CRC = hex(`${SIG} 21 11 0013 01020304 05060708 162e 0050 03 0004 6a0e9e74`);

const started = [];
after(async () => {
  await Promise.all(started.map((s) => s.stop()));
});

async function inspect(...args) {
  const server = await startCli(['inspect', '--listen', '127.0.0.1:0', ...args]);
  started.push(server);
  return server;
}

let plain;
let echo;
before(async () => {
  [plain, echo] = await Promise.all([inspect('--header-timeout', '400'), inspect('--echo')]);
});

test('a valid v2 header is printed as one JSON line and sent back to the client, then the connection closes', async () => {
  const reply = await exchange({ port: plain.port, send: [V2_WITH_CRC, Buffer.from('payload')] });
  const record = await plain.lines.nextJson();
  assert.equal(record.headerHex, V2_WITH_CRC.toString('hex'));
  assert.deepEqual(record.header.source, { address: '1.2.3.4', port: 5678 });
  assert.deepEqual(record.header.destination, { address: '5.6.7.8', port: 80 });
  assert.equal(record.header.tlvs[0].name, 'PP2_TYPE_CRC32C');
  assert.match(record.peer, /^127\.0\.0\.1:\d+$/);
  assert.equal(record.local, `127.0.0.1:${plain.port}`);
  assert.deepEqual(JSON.parse(reply.data.toString()), record);
});

test('a header that arrives one byte at a time is decoded', async () => {
  const line = Buffer.from('PROXY TCP6 2001:db8::1 ::1 4242 443\r\n');
  const reply = await exchange({ port: plain.port, send: [...line].map((b) => Buffer.of(b)) });
  const record = await plain.lines.nextJson();
  assert.equal(record.header.version, 1);
  assert.deepEqual(record.header.source, { address: '2001:db8::1', port: 4242 });
  assert.equal(JSON.parse(reply.data.toString()).header.family, 'TCP6');
});

test('a malformed header is reported with its reason, the connection is closed, and the server keeps serving', async () => {
  const bad = Buffer.from(V2_WITH_CRC);
  bad[19] ^= 0x01; // one address bit: the CRC no longer matches
  const reply = await exchange({ port: plain.port, send: [bad], end: false });
  const record = await plain.lines.nextJson();
  assert.match(record.error, /^v2 header: PP2_TYPE_CRC32C mismatch/);
  assert.equal(record.receivedHex, bad.toString('hex'));
  assert.equal(reply.data.length, 0, 'nothing is sent to a client whose header is bad');

  const http = await exchange({ port: plain.port, send: [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')], end: false });
  assert.equal(http.data.length, 0);
  assert.match((await plain.lines.nextJson()).error, /^no PROXY header: the stream starts with 47 45 54/);

  await exchange({ port: plain.port, send: [V2_WITH_CRC] });
  assert.equal((await plain.lines.nextJson()).header.command, 'PROXY');
});

test('a client that never sends is closed after the header timeout', async () => {
  const reply = await exchange({ port: plain.port, end: false });
  assert.equal(reply.data.length, 0);
  assert.match((await plain.lines.nextJson()).error, /^no complete PROXY header within 400 ms \(received 0 bytes\)$/);
});

test('a client that half-closes in the middle of a header is reported', async () => {
  await exchange({ port: plain.port, send: [V2_WITH_CRC.subarray(0, 20)] });
  const record = await plain.lines.nextJson();
  assert.match(record.error, /^connection ended after 20 bytes, before a complete header \(v2 header: length field says 35 bytes in all, have 20\)$/);
});

test('--echo returns every byte after the header, in order, and passes the half-close through', async () => {
  const payload = randomBytes(3 * 1024 * 1024);
  const parts = [Buffer.concat([V2_WITH_CRC, payload.subarray(0, 1000)])];
  for (let at = 1000; at < payload.length; at += 64 * 1024) parts.push(payload.subarray(at, at + 64 * 1024));
  const reply = await exchange({ port: echo.port, send: parts, timeoutMs: 30000 });
  assert.equal(reply.data.length, payload.length);
  assert.equal(sha256(reply.data), sha256(payload));
  assert.equal((await echo.lines.nextJson()).header.family, 'TCP4');
});

test('inspect listens on IPv6', async () => {
  const server = await startCli(['inspect', '--listen', '[::1]:0']);
  started.push(server);
  await exchange({ host: '::1', port: server.port, send: [Buffer.from('PROXY UNKNOWN\r\n')] });
  const record = await server.lines.nextJson();
  assert.equal(record.header.family, 'UNKNOWN');
  assert.match(record.peer, /^\[::1\]:\d+$/);
});

test('a port in use exits 1 with one line', async () => {
  const blocker = createServer();
  blocker.listen(0, '127.0.0.1');
  await once(blocker, 'listening');
  try {
    const { code, stderr } = await runCli(['inspect', '--listen', `127.0.0.1:${blocker.address().port}`]);
    assert.equal(code, 1);
    assert.equal(stderr, `ppv2-wasm inspect: cannot listen on 127.0.0.1:${blocker.address().port}: address already in use\n`);
  } finally {
    blocker.close();
  }
});

test('bad arguments exit 2 with one line naming the problem', async () => {
  const cases = [
    [['inspect'], /--listen HOST:PORT is required/],
    [['inspect', '--listen', '9000'], /--listen "9000" is not HOST:PORT/],
    [['inspect', '--listen', '::1:9000'], /--listen "::1:9000" is not HOST:PORT \(IPv6 in brackets/],
    [['inspect', '--listen', '127.0.0.1:70000'], /port 70000 is more than 65535/],
    [['inspect', '--listen', '127.0.0.1:0', '--header-timeout', 'soon'], /--header-timeout "soon" is not a whole number/],
    [['inspect', '--listen', '127.0.0.1:0', '--header-timeout', '-5'], /--header-timeout "-5" is not a whole number of milliseconds from 1 to 9999999/],
    [['inspect', '--listen', '127.0.0.1:0', '--colour'], /unknown option --colour \(options: --listen, --echo, --header-timeout, --help\)/],
    [['frobnicate'], /unknown command "frobnicate"/],
  ];
  for (const [args, message] of cases) {
    const { code, stderr, stdout } = await runCli(args);
    assert.equal(code, 2, `${args.join(' ')}: ${stderr}`);
    assert.match(stderr, message);
    assert.equal(stderr.trim().split('\n').length, 1, `one line for ${args.join(' ')}: ${stderr}`);
    assert.equal(stdout, '');
  }
});

test('--help prints the usage and exits 0', async () => {
  const { code, stdout } = await runCli(['inspect', '--help']);
  assert.equal(code, 0);
  assert.match(stdout, /^Usage: ppv2-wasm inspect --listen HOST:PORT/);
  const top = await runCli(['--help']);
  assert.equal(top.code, 0);
  assert.match(top.stdout, /inspect/);
});

test('SIGTERM stops the server with exit code 0', async () => {
  const server = await startCli(['inspect', '--listen', '127.0.0.1:0']);
  assert.equal(await server.stop(), 0);
});

function sha256(bytes) {
  return createHash('sha256').update(bytes).digest('hex');
}
