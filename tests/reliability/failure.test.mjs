// Failure modes: a trapping module under both failure policies (through the
// host and through `ppv2-wasm proxy`), a configuration the filter refuses, an
// upstream that refuses or resets, and an upstream that is slow to read.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPlugin } from '../../dist/host/index.js';
import { decodeProxyHeader } from '../../dist/proxy-protocol/index.js';
import { fixture } from '../fixtures/wat.mjs';
import { runCli, startCli } from '../cli/cli-process.mjs';
import { client, RELEASE_WASM, startBackend, startProxy, until } from './harness.mjs';

const dir = mkdtempSync(join(tmpdir(), 'ppv2-failure-'));
const TRAP = join(dir, 'trap.wasm'); // prepends "H"; traps on client data that starts with "!"
const cleanups = [];
before(() => writeFileSync(TRAP, fixture('trap')));
after(async () => {
  for (const c of cleanups.reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});

/** A backend that keeps each connection's bytes. */
async function recorder() {
  const received = [];
  const b = await startBackend((s) => {
    const chunks = [];
    received.push(chunks);
    s.on('data', (d) => chunks.push(d));
    s.on('end', () => s.end());
  });
  cleanups.push(b.close);
  return { port: b.port, received: () => received.map((c) => Buffer.concat(c).toString('latin1')) };
}

test('a trap through the host: FAIL_CLOSED closes the connection, FAIL_OPEN passes bytes on without the filter', async () => {
  const closed = await startPlugin({ wasm: TRAP });
  const c1 = closed.newConnection({ source: '1.2.3.4:5', destination: '5.6.7.8:9' });
  const r = c1.downstreamData(Buffer.from('!boom'));
  assert.deepEqual([r.closed, r.forwarded.length, closed.failed], [true, 0, true]);
  assert.equal(closed.newConnection().closed, true, 'later connections are closed at once');

  const open = await startPlugin({ wasm: TRAP, failurePolicy: 'FAIL_OPEN' });
  open.newConnection().downstreamData(Buffer.from('!boom'));
  assert.equal(open.failed, true);
  const later = open.newConnection();
  const passed = later.downstreamData(Buffer.from('payload'), true);
  assert.deepEqual([Buffer.from(passed.forwarded).toString(), passed.closed], ['payload', false], 'no "H": the filter is skipped');
});

for (const failOpen of [false, true]) {
  test(`a trap through \`ppv2-wasm proxy\`${failOpen ? ' --fail-open: later connections pass through without a header' : ': fail closed, nothing reaches the upstream'}`, async () => {
    const backend = await recorder();
    const args = ['proxy', '--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${backend.port}`, '--wasm', TRAP, ...(failOpen ? ['--fail-open'] : [])];
    const proxy = await startCli(args);
    cleanups.push(() => proxy.stop());
    const healthy = await client(proxy.port, { parts: [Buffer.from('before')] });
    const trapping = await client(proxy.port, { parts: [Buffer.from('!boom')] });
    const later = await client(proxy.port, { parts: [Buffer.from('after')] });
    // The fixture prepends "H" on every call, the end-of-stream one too.
    await until(() => backend.received()[0]?.startsWith('Hbefore'), 'the healthy connection upstream');
    assert.equal(healthy.data.toString(), '');
    if (failOpen) {
      await until(() => backend.received().length >= 3 && backend.received()[2] === 'after', 'the later connection, untouched, upstream');
      // Envoy continues after the failed call, so what the filter prepended before trapping goes along.
      assert.equal(backend.received()[1], 'T!boom');
    } else {
      await new Promise((r) => setTimeout(r, 200)); // let any stray byte arrive before checking there is none
      // The trapping connection and every later one are closed; their upstream connections carry nothing.
      assert.deepEqual(backend.received().slice(1).filter((b) => b.length > 0), []);
      assert.equal(trapping.data.length + later.data.length, 0);
    }
  });
}

test('a configuration the filter refuses: `proxy` does not start and prints the filter\'s reason', async () => {
  const { code, stderr } = await runCli(['proxy', '--listen', '127.0.0.1:0', '--upstream', '127.0.0.1:9', '--wasm', RELEASE_WASM, '--config-json', '{"version":3}']);
  assert.equal(code, 1);
  assert.match(stderr, /^ppv2-wasm proxy: the filter refused to start: bad plugin configuration: version: expected 1 or 2/);
  assert.equal(stderr.trim().split('\n').length, 1, stderr);
});

for (const kind of ['refuses', 'resets']) {
  test(`an upstream that ${kind}: the client is closed cleanly, every filter context is deleted, no memory is kept`, async () => {
    let upstreamPort;
    if (kind === 'refuses') {
      const b = await startBackend(() => {});
      upstreamPort = b.port;
      await b.close(); // nothing listens there any more
    } else {
      const b = await startBackend((s) => s.resetAndDestroy());
      cleanups.push(b.close);
      upstreamPort = b.port;
    }
    const proxy = await startProxy({ upstreamPort, configuration: '{"tlvs":[{"type":"authority","from":"sni"}]}' });
    cleanups.push(proxy.close);
    const round = () => Promise.all(Array.from({ length: 100 }, () => client(proxy.port, { parts: [randomBytes(2000)] })));
    await round();
    await until(() => proxy.contexts.open === 0, 'contexts deleted after the first round');
    const memory = proxy.plugin.memoryBytes;
    const results = await round();
    for (const r of results) assert.equal(r.data.length, 0, 'the client gets nothing back, and its connection closes');
    await until(() => proxy.contexts.open === 0 && proxy.stats.open === 0, 'all contexts deleted and sockets closed');
    assert.equal(proxy.contexts.created, 200);
    assert.equal(proxy.plugin.memoryBytes, memory);
    assert.equal(proxy.plugin.failed, false);
    assert.equal(proxy.lines.length, 200);
    if (kind === 'refuses') assert.ok(proxy.lines.every((l) => /refused \(ECONNREFUSED\)/.test(l)), proxy.lines[0]);
  });
}

test('an upstream that is slow to read: backpressure holds the proxy\'s buffers bounded, and every byte arrives once it reads', async () => {
  const MIB = 1024 * 1024;
  let upstream;
  const chunks = [];
  const b = await startBackend((s) => {
    upstream = s;
    s.pause(); // reads nothing until told
    s.on('data', (d) => chunks.push(d));
    s.on('end', () => s.end());
  });
  cleanups.push(b.close);
  const proxy = await startProxy({ upstreamPort: b.port, configuration: '{"crc32c":true}' });
  cleanups.push(proxy.close);
  const payload = randomBytes(96 * MIB);
  const baseline = process.memoryUsage().arrayBuffers;
  const parts = [];
  for (let at = 0; at < payload.length; at += MIB) parts.push(payload.subarray(at, at + MIB));
  const done = client(proxy.port, { parts, timeoutMs: 120_000 });
  // Wait until the flow stalls: the proxy has paused the client and memory stops moving.
  await until(() => proxy.stats.clientPauses > 0, 'the proxy pausing the client', 30_000);
  let last = -1;
  let steady = 0;
  await until(() => {
    const now = process.memoryUsage().arrayBuffers;
    steady = Math.abs(now - last) < 64 * 1024 ? steady + 1 : 0;
    last = now;
    return steady >= 10;
  }, 'the stalled flow to settle', 30_000);
  // Without backpressure the proxy would have read most of the 96 MiB into memory by now.
  const held = process.memoryUsage().arrayBuffers - baseline;
  assert.ok(held < 24 * MIB, `${(held / MIB).toFixed(1)} MiB held in buffers while the upstream does not read`);
  assert.deepEqual(proxy.plugin.logs.filter((e) => e.level >= 3), []);
  upstream.resume();
  await done;
  await until(() => Buffer.concat(chunks).length >= payload.length, 'every byte at the upstream', 60_000);
  const got = Buffer.concat(chunks);
  const decoded = decodeProxyHeader(got);
  assert.equal(decoded.state, 'complete');
  const rest = got.subarray(decoded.header.length);
  assert.equal(createHash('sha256').update(rest).digest('hex'), createHash('sha256').update(payload).digest('hex'), 'bytes lost or reordered');
});
