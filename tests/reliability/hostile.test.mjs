// Hostile clients, through the proxy server `ppv2-wasm proxy` runs, with the
// release filter and the strict `inspect` backend (--echo): a client that
// sends its own PROXY header to spoof its address, one that connects and never
// sends, and one that sends a byte at a time.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { client, startInspect, startProxy, until } from './harness.mjs';

const cleanups = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function setup(configuration) {
  const inspect = await startInspect({ headerTimeoutMs: 3000 });
  cleanups.push(inspect.close);
  const proxy = await startProxy({ upstreamPort: inspect.port, configuration });
  cleanups.push(proxy.close);
  return { inspect, proxy };
}

const SPOOF_V1 = Buffer.from('PROXY TCP4 6.6.6.6 7.7.7.7 1111 2222\r\n');
const SPOOF_V2 = Buffer.from('0d0a0d0a000d0a515549540a2111000c06060606070707070457' + '08ae', 'hex');

test('reject_client_proxy_header: a client that sends its own v1 or v2 header is closed and counted; no byte reaches the backend', async () => {
  const { inspect, proxy } = await setup('{"reject_client_proxy_header":true}');
  const attempts = [
    [SPOOF_V1, Buffer.from('GET / HTTP/1.0\r\n\r\n')],
    [SPOOF_V2, Buffer.from('hello')],
    // The signature split across reads: from 5 bytes on the filter waits for enough bytes to decide.
    [SPOOF_V1.subarray(0, 5), SPOOF_V1.subarray(5), Buffer.from('x')],
    [SPOOF_V2.subarray(0, 7), SPOOF_V2.subarray(7)],
  ];
  for (const parts of attempts) {
    const r = await client(proxy.port, { parts, gap: () => new Promise((res) => setTimeout(res, 5)) });
    assert.equal(r.data.length, 0, 'nothing comes back');
  }
  await inspect.waitFor(attempts.length);
  for (const record of inspect.records) {
    assert.equal(record.header, undefined, `the backend saw a header: ${JSON.stringify(record)}`);
    assert.equal(record.receivedHex ?? '', '', `bytes reached the backend: ${JSON.stringify(record)}`);
  }
  await until(() => proxy.contexts.open === 0, 'every filter context deleted');
  proxy.plugin.tick();
  assert.equal(proxy.plugin.counter('ppv2.closed_by_policy'), attempts.length);
  assert.equal(proxy.plugin.counter('ppv2.headers_written'), 0);
  // A client that merely starts like a header but is not one is served normally.
  const r = await client(proxy.port, { parts: [Buffer.from('PROXZ not a header')] });
  assert.equal(r.data.toString(), 'PROXZ not a header');
  // Fewer than 5 bytes never hold a connection back (a SIP keep-alive is CRLF or CRLFCRLF), so a
  // header split after 4 bytes is not rejected: it arrives as payload, after ours, which carries
  // the real client; a backend trusts only the first header.
  const before = inspect.records.length;
  const split = await client(proxy.port, { parts: [SPOOF_V1.subarray(0, 4), SPOOF_V1.subarray(4)], gap: () => new Promise((res) => setTimeout(res, 5)) });
  await inspect.waitFor(before + 1);
  const record = inspect.records[before];
  assert.equal(record.header?.source?.address, split.local.address, JSON.stringify(record));
  assert.equal(record.header.source.port, split.local.port);
  assert.deepEqual(split.data, SPOOF_V1, 'the client\'s header came through as payload');
});

test('default (reject_client_proxy_header off): a client\'s own header is payload, after ours; the first header carries the real client', async () => {
  const { inspect, proxy } = await setup('');
  for (const spoof of [SPOOF_V1, SPOOF_V2]) {
    const before = inspect.records.length;
    const body = Buffer.concat([spoof, Buffer.from('after the spoof')]);
    const r = await client(proxy.port, { parts: [body] });
    await inspect.waitFor(before + 1);
    const record = inspect.records.at(-1);
    // What a backend that trusts only the first header sees: the real client, not 6.6.6.6.
    assert.equal(record.header.source.address, r.local.address);
    assert.equal(record.header.source.port, r.local.port);
    assert.deepEqual(r.data, body, 'the spoofed header and the rest come through unchanged as payload');
  }
  await until(() => proxy.contexts.open === 0, 'every filter context deleted');
  proxy.plugin.tick();
  assert.equal(proxy.plugin.counter('ppv2.headers_written'), 2);
  assert.equal(proxy.plugin.counter('ppv2.closed_by_policy'), 0);
});

test('clients that connect and never send: nothing leaks when they leave (contexts deleted, wasm memory unchanged)', async () => {
  const { proxy } = await setup('{"crc32c":true,"tlvs":[{"type":"unique_id","from":"connection_id"}]}');
  // Warm up so the filter's context table has its working size.
  await Promise.all(Array.from({ length: 50 }, () => client(proxy.port, { parts: [] })));
  await until(() => proxy.contexts.open === 0, 'warm-up contexts deleted');
  const memory = proxy.plugin.memoryBytes;
  const created = proxy.contexts.created;
  const accepted = proxy.stats.accepted;
  // 200 half-close politely; 100 reset the connection as soon as it is up.
  const polite = Array.from({ length: 200 }, () => client(proxy.port, { parts: [] }));
  const rude = Array.from({ length: 100 }, () => new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: proxy.port });
    socket.on('error', () => {});
    socket.on('connect', () => socket.resetAndDestroy());
    socket.on('close', resolve);
  }));
  await Promise.all([...polite, ...rude]);
  // A reset that lands before the proxy looks at the socket gets no filter context at all.
  await until(() => proxy.stats.accepted - accepted === 300 && proxy.stats.open === 0, 'all 300 connections accepted and closed');
  assert.ok(proxy.contexts.created - created >= 200, `only ${proxy.contexts.created - created} connections reached the filter`);
  assert.equal(proxy.contexts.open, 0, `${proxy.contexts.open} filter contexts still open`);
  assert.equal(proxy.plugin.memoryBytes, memory, 'wasm linear memory grew');
  proxy.plugin.tick();
  // A half-close with no data still gets its header before the FIN (end_of_stream with 0 bytes, as
  // docs/ARCHITECTURE.md says); a reset gets none.
  assert.equal(proxy.plugin.counter('ppv2.headers_written'), 250);
  assert.equal(proxy.plugin.failed, false);
});

test('slow clients, one byte per write: one header per connection, in front of the first byte, nothing lost', async () => {
  const { inspect, proxy } = await setup('{"reject_client_proxy_header":true,"tlvs":[{"type":"authority","value":"example"}]}');
  const payloads = Array.from({ length: 6 }, () => randomBytes(150));
  payloads[0] = Buffer.from('PROXZ: starts like a v1 signature, one byte at a time');
  payloads[1] = Buffer.concat([Buffer.from('0d0a0d0a000d0a5155', 'hex'), randomBytes(40)]); // 9 bytes of the v2 signature
  const results = await Promise.all(payloads.map((p) => client(proxy.port, {
    parts: [...p].map((b) => Buffer.from([b])),
    gap: () => new Promise((res) => setTimeout(res, 1)),
  })));
  await inspect.waitFor(payloads.length);
  results.forEach((r, i) => assert.deepEqual(r.data, payloads[i], `client ${i}: echo differs`));
  for (const r of results) {
    const mine = inspect.records.filter((rec) => rec.header?.source.port === r.local.port);
    assert.equal(mine.length, 1, 'exactly one connection with one header at the backend');
    assert.deepEqual(mine[0].header.tlvs.map((t) => t.text), ['example']);
  }
  proxy.plugin.tick();
  assert.equal(proxy.plugin.counter('ppv2.headers_written'), payloads.length);
  assert.equal(proxy.plugin.counter('ppv2.closed_by_policy'), 0);
});
