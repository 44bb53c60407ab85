// Memory safety: the filter built with AssemblyScript's runtime tracing
// (scripts/build-rtraced.mjs), driven through the host with a test-only shim
// for the "rtrace" imports (rtrace.mjs). Fails on any invalid or double free,
// any heap store outside a live block, and any block a connection leaves behind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { startPlugin } from '../../dist/host/index.js';
import { installRtraceShim } from './rtrace.mjs';
import { fuzz } from './engine.mjs';

const dir = mkdtempSync(join(tmpdir(), 'ppv2-rtrace-'));
const wasmPath = join(dir, 'ppv2.rtraced.wasm');
let shim;

before(async () => {
  // Built fresh from assembly/ so the test always traces the current source.
  await promisify(execFile)(process.execPath, [fileURLToPath(new URL('../../scripts/build-rtraced.mjs', import.meta.url)), wasmPath], { timeout: 180_000 });
  shim = installRtraceShim(wasmPath);
});
after(() => {
  shim?.restore();
  rmSync(dir, { recursive: true, force: true });
});

const payload = Buffer.from('GET / HTTP/1.1\r\n\r\n');
const big = 'b'.repeat(64 * 1024);

/** Lifecycle scenarios: [name, configuration, connection props, what the client does]. */
const SCENARIOS = [
  ['IPv4, no TLVs', '', { source: '1.2.3.4:5678', destination: '5.6.7.8:80' }, 'send'],
  ['IPv6 with CRC and TLVs', JSON.stringify({ crc32c: true, tlvs: [{ type: 'authority', from: 'sni' }, { type: 'unique_id', from: 'connection_id' }, { from: 'ssl' }, { type: 0xe0, value: 'x' }] }),
    { source: '[2001:db8::1]:1', destination: '[::1]:443', sni: 'a.example', properties: { 'connection.tls_version': 'TLSv1.3', 'connection.mtls': true, 'connection.subject_peer_certificate': 'CN=c,O=o' } }, 'send'],
  ['UNIX paths', '', { properties: { 'source.address': '/run/a.sock', 'destination.address': '@abstract' } }, 'send'],
  ['unknown address, LOCAL', '', { source: 'envoy://internal', destination: '1.2.3.4:5' }, 'send'],
  ['unknown address, closed by policy', '{"on_unknown_address":"close"}', { source: 'garbage', destination: '1.2.3.4:5' }, 'send'],
  ['client PROXY header rejected', '{"reject_client_proxy_header":true}', { source: '1.2.3.4:5', destination: '5.6.7.8:9' }, 'spoof'],
  ['one byte at a time, reject mode', '{"reject_client_proxy_header":true}', { source: '1.2.3.4:5', destination: '5.6.7.8:9' }, 'trickle'],
  ['v1', '{"version":1}', { source: '[::ffff:1.2.3.4]:5', destination: '[::1]:9' }, 'send'],
  ['64 KiB property values (heap-allocated host values)', JSON.stringify({ tlvs: [{ type: 0xe1, property: 'custom.big' }, { type: 'authority', from: 'sni' }] }),
    { source: '1.2.3.4:5', destination: '5.6.7.8:9', sni: big, properties: { 'custom.big': big } }, 'send'],
  ['connects and never sends', '', { source: '1.2.3.4:5', destination: '5.6.7.8:9' }, 'silent'],
  ['upstream speaks first, then end of stream both ways', '', { source: '1.2.3.4:5', destination: '5.6.7.8:9' }, 'upstream-first'],
];

function drive(plugin, props, behaviour) {
  const conn = plugin.newConnection(props);
  if (behaviour === 'send') conn.downstreamData(payload, false);
  else if (behaviour === 'spoof') conn.downstreamData(Buffer.from('PROXY TCP4 6.6.6.6 7.7.7.7 1 2\r\nhi'), false);
  else if (behaviour === 'trickle') for (const b of payload) conn.downstreamData(Buffer.from([b]), false);
  else if (behaviour === 'upstream-first') {
    conn.upstreamData(Buffer.from('220 hello\r\n'), false);
    conn.downstreamData(payload, true);
    conn.upstreamData(Buffer.alloc(0), true);
  }
  conn.close('remote');
}

for (const [name, configuration, props, behaviour] of SCENARIOS) {
  test(`rtrace: ${name}: no invalid free, no stray store, nothing left after close and shutdown`, async () => {
    const plugin = await startPlugin({ wasm: shim.module, configuration });
    const tracer = shim.tracers.at(-1);
    const afterStart = tracer.live.size;
    for (let i = 0; i < 50; i++) drive(plugin, props, behaviour); // warm up: per-VM tables reach their size
    const warm = { blocks: tracer.live.size, bytes: tracer.liveBytes };
    for (let i = 0; i < 300; i++) drive(plugin, props, behaviour);
    assert.deepEqual({ blocks: tracer.live.size, bytes: tracer.liveBytes }, warm, '300 more connections left blocks behind');
    // Many open at once, then closed: the table may grow, nothing else may stay.
    const open = Array.from({ length: 500 }, () => plugin.newConnection(props));
    for (const c of open) c.close('local');
    plugin.tick();
    assert.equal(plugin.failed, false, plugin.failure);
    const beforeShutdown = tracer.live.size;
    assert.ok(beforeShutdown <= warm.blocks, `${beforeShutdown - warm.blocks} more block(s) after 500 concurrent connections closed`);
    plugin.shutdown();
    assert.deepEqual(tracer.errors, []);
    assert.ok(tracer.allocations > 0 && tracer.stores > 0, 'the tracer saw nothing: is the module rtraced?');
    // The root's configuration is freed with it; what stays is the VM's own tables.
    assert.ok(tracer.live.size < beforeShutdown || afterStart === 0, `shutdown freed nothing (${tracer.live.size} blocks live)`);
    assert.ok(tracer.live.size <= 2, `blocks left after shutdown: ${JSON.stringify([...tracer.live])}`);
  });
}

test('rtrace: after a flood of connections that never sent a byte, the next tick gives the table\'s memory back', async () => {
  const plugin = await startPlugin({ wasm: shim.module, configuration: '' });
  const tracer = shim.tracers.at(-1);
  const props = { source: '1.2.3.4:5', destination: '5.6.7.8:9' };
  for (let i = 0; i < 50; i++) drive(plugin, props, 'silent');
  plugin.tick();
  const calm = tracer.liveBytes;
  const flood = Array.from({ length: 20_000 }, () => plugin.newConnection(props));
  const peak = tracer.liveBytes;
  assert.ok(peak >= calm + 20_000 * 8, `the flood took ${peak - calm} bytes`);
  for (const c of flood) c.close('remote');
  plugin.tick();
  assert.ok(tracer.liveBytes <= calm + 1024, `${tracer.liveBytes - calm} bytes still held after the flood left and a tick ran`);
  plugin.shutdown();
  assert.deepEqual(tracer.errors, []);
});

test('rtrace: a refused configuration frees what parsing allocated', async () => {
  for (const configuration of ['{"tlvs":[{"type":1,"value":"x"},{"type":3,"value":"y"}]}', '{"version":1,"crc32c":true}', '[', '{"tlvs":[' + '{"type":1,"value":"v"},'.repeat(500) + '7]}']) {
    await assert.rejects(startPlugin({ wasm: shim.module, configuration }));
    const tracer = shim.tracers.at(-1);
    assert.deepEqual(tracer.errors, []);
    // Only the root-context table (created before configure, a few pairs) may stay; no parse buffer.
    assert.ok(tracer.live.size <= 1 && tracer.liveBytes <= 64, `${configuration.slice(0, 40)}: blocks left: ${JSON.stringify([...tracer.live])}`);
  }
});

test('rtrace: the fuzz engine through the rtraced module finds nothing, and the tracer neither', async () => {
  const first = shim.tracers.length;
  const { tally, findings } = await fuzz({ wasm: shim.module, seed: 0x7ace, count: 60 });
  assert.deepEqual(findings.map((f) => f.message), []);
  const traced = shim.tracers.slice(first);
  assert.ok(traced.length >= 60 && tally.accepted > 10, `${traced.length} instances, ${JSON.stringify(tally)}`);
  for (const t of traced) assert.deepEqual(t.errors, []);
});
