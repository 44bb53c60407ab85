// Fault injection (src/host/faults.ts): a host call that answers with an error instead of doing
// its work, and a module callback the host skips or makes with other arguments. The filter's
// fail-closed tests (tests/module.test.mjs) build on these.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPlugin, WasmResult } from '../../dist/host/index.js';
import { fixture, messages, u32le, bytes, text } from './helpers.mjs';

const setBuffer = fixture('set-buffer');
const close = fixture('close');
const roots = fixture('roots');

test('a host call fault returns its status instead of running the call, and is still counted', async () => {
  const plugin = await startPlugin({ wasm: setBuffer, configuration: Buffer.concat([u32le(0), u32le(0), bytes('H')]) });
  const seen = [];
  plugin.faults.hostCall('proxy_set_buffer_bytes', (type, start, length, ptr, size) => {
    seen.push([type, start, length, size]);
    return WasmResult.InternalFailure;
  });
  plugin.stats.reset();
  const r = plugin.newConnection().downstreamData(bytes('abc'));
  assert.deepEqual(messages(plugin), [`set ${WasmResult.InternalFailure}`]);
  assert.equal(text(r.forwarded), 'abc', 'the buffer was not touched');
  assert.deepEqual(seen, [[2, 0, 0, 1]]);
  assert.equal(plugin.stats.calls.proxy_set_buffer_bytes, 1);
});

test('a fault that returns undefined lets the call run; clear() removes every fault', async () => {
  const plugin = await startPlugin({ wasm: setBuffer, configuration: Buffer.concat([u32le(0), u32le(0), bytes('H')]) });
  plugin.faults.hostCall('proxy_set_buffer_bytes', (type) => (type === 3 ? WasmResult.BadArgument : undefined));
  const conn = plugin.newConnection();
  assert.equal(text(conn.downstreamData(bytes('down')).forwarded), 'Hdown');
  assert.equal(text(conn.upstreamData(bytes('up')).forwarded), 'up');
  plugin.faults.clear();
  assert.equal(text(conn.upstreamData(bytes('up')).forwarded), 'Hup');
});

test('a failing proxy_close_stream leaves the connection open', async () => {
  const plugin = await startPlugin({ wasm: close });
  plugin.faults.hostCall('proxy_close_stream', () => WasmResult.InternalFailure);
  const conn = plugin.newConnection();
  const r = conn.downstreamData(bytes('close me'));
  assert.equal(r.closed, false);
  assert.ok(messages(plugin).includes(`close downstream ${WasmResult.InternalFailure}`), JSON.stringify(messages(plugin)));
});

test('a callback fault can skip a callback or change its arguments', async () => {
  const plugin = await startPlugin({ wasm: roots });
  const created = [];
  plugin.faults.callback('proxy_on_context_create', ([id, parent], call) => {
    created.push([id, parent]);
    return parent === 0 ? call(id, parent) : 0; // streams are never announced to the module
  });
  const other = plugin.addRoot({ rootId: 'second' });
  plugin.newConnection();
  assert.deepEqual(created, [[2, 0], [3, 1]]);
  assert.equal(other.rootContextId, 2);
});
