// Buffers as Envoy offers them to a network filter (source/extensions/common/wasm/context.cc:
// Buffer::copyFrom and Context::getBuffer; cpp-host src/exports.cc get_buffer_bytes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPlugin, FilterStatus } from '../../dist/host/index.js';
import { fixture, messages, u32le, hex, bytes, text } from './helpers.mjs';

const setBuffer = fixture('set-buffer');
const probe = fixture('buffer-probe');

async function withSetBuffer(start, length, data) {
  return startPlugin({ wasm: setBuffer, configuration: Buffer.concat([u32le(start), u32le(length), bytes(data)]) });
}

// proxy_set_buffer_bytes on "abcdef": start 0 drains `length` then prepends, start at or past
// the end appends, any other start is BadArgument (2) and leaves the buffer alone.
const copyFrom = [
  { start: 0, length: 0, data: 'XY', status: 0, out: 'XYabcdef', why: 'prepend' },
  { start: 0, length: 2, data: 'XY', status: 0, out: 'XYcdef', why: 'replace the first bytes' },
  { start: 0, length: 6, data: 'XY', status: 0, out: 'XY', why: 'replace everything' },
  { start: 0, length: 100, data: 'XY', status: 0, out: 'XY', why: 'drain more than there is' },
  { start: 0, length: 3, data: '', status: 0, out: 'def', why: 'drain only' },
  { start: 6, length: 0, data: 'XY', status: 0, out: 'abcdefXY', why: 'append at the length' },
  { start: 0xffffffff, length: 0, data: 'XY', status: 0, out: 'abcdefXY', why: 'append at the largest start' },
  { start: 3, length: 0, data: 'XY', status: 2, out: 'abcdef', why: 'insert in the middle' },
  { start: 1, length: 5, data: 'XY', status: 2, out: 'abcdef', why: 'replace from the middle' },
];

for (const c of copyFrom) {
  test(`set_buffer_bytes(start ${c.start}, length ${c.length}) downstream: ${c.why}`, async () => {
    const plugin = await withSetBuffer(c.start, c.length, c.data);
    const conn = plugin.newConnection();
    const r = conn.downstreamData(bytes('abcdef'));
    assert.deepEqual(messages(plugin), [`set ${c.status}`]);
    assert.equal(text(r.forwarded), c.out);
    assert.equal(r.status, FilterStatus.Continue);
  });
}

test('set_buffer_bytes works the same on the upstream data', async () => {
  const plugin = await withSetBuffer(0, 1, '>');
  const r = plugin.newConnection().upstreamData(bytes('xyz'), true);
  assert.equal(text(r.forwarded), '>yz');
  assert.equal(r.endOfStream, true);
});

test('outside a data callback the data buffer cannot be written, nor can the configuration or an unknown type', async () => {
  const plugin = await withSetBuffer(0, 0, 'Z');
  assert.equal(plugin.tick(), true);
  // Envoy hands out an empty, unset buffer (BadArgument on write); string buffers are
  // read-only (BadArgument); a type above 8 is BadArgument.
  assert.deepEqual(messages(plugin), ['tick downstream 2 vm_configuration 2 type9 2']);
});

// proxy_get_buffer_bytes on "abcdef": reads past the end are clipped, never refused.
const getBytes = [
  { start: 0, length: 100, out: `get 0 6 ${hex('abcdef')}` },
  { start: 2, length: 2, out: `get 0 2 ${hex('cd')}` },
  { start: 4, length: 10, out: `get 0 2 ${hex('ef')}` },
  { start: 6, length: 5, out: 'get 0 0' },
  { start: 10, length: 5, out: 'get 0 0' },
  { start: 0, length: 0, out: 'get 0 0' },
];

for (const c of getBytes) {
  test(`get_buffer_bytes(start ${c.start}, length ${c.length}) returns ${JSON.stringify(c.out)}`, async () => {
    const plugin = await startPlugin({ wasm: probe, configuration: Buffer.concat([u32le(c.start), u32le(c.length)]) });
    const conn = plugin.newConnection();
    const before = plugin.logs.length;
    conn.downstreamData(bytes('abcdef'));
    assert.deepEqual(messages(plugin, before), ['downstream_data 0 6 0 0', c.out]);
  });
}

test('data buffers hold bytes only inside their callback, or while paused from it', async () => {
  const plugin = await startPlugin({ wasm: probe, configuration: Buffer.concat([u32le(0), u32le(100)]) });
  // "<callback> <status ds> <size ds> <status us> <size us>": outside its callback a data
  // buffer is Envoy's unset buffer: status Ok (0), size 0. Never NotFound.
  assert.deepEqual(messages(plugin), ['context_create 0 0 0 0', 'configure 0 0 0 0']);
  const conn = plugin.newConnection();
  conn.downstreamData(bytes('hello'));
  conn.upstreamData(bytes('abc'));
  plugin.tick();
  assert.deepEqual(messages(plugin, 2), [
    'context_create 0 0 0 0',
    'new_connection 0 0 0 0',
    'downstream_data 0 5 0 0',
    `get 0 5 ${hex('hello')}`,
    'upstream_data 0 0 0 3',
    `get 0 3 ${hex('abc')}`,
    'tick root 0 0 0 0',
    'tick effective 0 0 0 0',
  ]);

  // Paused ("p..."): the bytes stay in the buffer, visible from another callback through
  // proxy_set_effective_context, and come back with the next bytes appended.
  let mark = plugin.logs.length;
  const held = conn.downstreamData(bytes('pq'));
  assert.equal(held.status, FilterStatus.StopIteration);
  assert.equal(held.forwarded.length, 0);
  plugin.tick();
  const more = conn.downstreamData(bytes('r'));
  assert.equal(more.status, FilterStatus.StopIteration);
  assert.deepEqual(messages(plugin, mark), [
    'downstream_data 0 2 0 0',
    `get 0 2 ${hex('pq')}`,
    'tick root 0 0 0 0',
    'tick effective 0 2 0 0',
    'downstream_data 0 3 0 0',
    `get 0 3 ${hex('pqr')}`,
  ]);
  mark = plugin.logs.length;
  conn.close('remote');
  assert.deepEqual(messages(plugin, mark), ['downstream_close 0 3 0 0', 'done 0 3 0 0']);
});

test('HTTP body buffers read as empty, the HTTP call response body is NotFound', async () => {
  const { watToWasm } = await import('./helpers.mjs');
  const wat = `(module
    (import "env" "proxy_get_buffer_status" (func $st (param i32 i32 i32) (result i32)))
    (import "env" "proxy_define_metric" (func $def (param i32 i32 i32 i32) (result i32)))
    (import "env" "proxy_record_metric" (func $rec (param i32 i64) (result i32)))
    (memory (export "memory") 1)
    (func (export "proxy_abi_version_0_2_1"))
    (func (export "malloc") (param i32) (result i32) (i32.const 4096))
    (data (i32.const 0) "b0b1b4b5")
    ;; gauge "bN" = the status of proxy_get_buffer_status(N)
    (func $g (param $name i32) (param $type i32)
      (drop (call $def (i32.const 1) (local.get $name) (i32.const 2) (i32.const 100)))
      (drop (call $rec (i32.load (i32.const 100)) (i64.extend_i32_u (call $st (local.get $type) (i32.const 104) (i32.const 108))))))
    (func (export "proxy_on_configure") (param i32 i32) (result i32)
      (call $g (i32.const 0) (i32.const 0)) (call $g (i32.const 2) (i32.const 1))
      (call $g (i32.const 4) (i32.const 4)) (call $g (i32.const 6) (i32.const 5)) (i32.const 1)))`;
  const plugin = await startPlugin({ wasm: watToWasm(wat) });
  assert.deepEqual(['b0', 'b1', 'b4', 'b5'].map((n) => plugin.gauge(n)), [0, 0, 1, 0]);
});

test('forwarded bytes stay intact while later connections prepend (small arrays share a slab)', async () => {
  // 2,000 prepends and joins cross many 8 KiB slabs; every earlier result must keep its bytes,
  // and be a plain Uint8Array of exactly its length.
  const plugin = await withSetBuffer(0, 0, 'HEADER:');
  const kept = [];
  for (let i = 0; i < 2000; i++) {
    const payload = bytes(`payload ${i}`);
    const r = plugin.newConnection().downstreamData(payload);
    kept.push([r.forwarded, `HEADER:payload ${i}`]);
  }
  for (const [forwarded, want] of kept) {
    assert.equal(Object.getPrototypeOf(forwarded), Uint8Array.prototype);
    assert.equal(text(forwarded), want);
  }
});
