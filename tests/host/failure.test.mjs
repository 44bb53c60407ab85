// A trap fails the VM; the failure policy then decides every connection's fate
// (cpp-host src/context.cc CHECK_FAIL_NET; Envoy source/extensions/common/wasm/wasm.cc
// PluginConfig::createContext: FAIL_OPEN skips the filter, FAIL_CLOSED closes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPlugin, FilterStatus } from '../../dist/host/index.js';
import { fixture, watToWasm, messages, bytes, text } from './helpers.mjs';

const trap = fixture('trap');
const TRAP_MESSAGE = 'Function: proxy_on_downstream_data failed: Uncaught RuntimeError: unreachable';

test('FAIL_CLOSED (the default): the trapping connection, every open one and every later one close', async () => {
  const plugin = await startPlugin({ wasm: trap });
  const closes = { before: 0, trapping: 0, after: 0 };
  const before = plugin.newConnection({}, { close: () => closes.before++ });
  assert.equal(text(before.downstreamData(bytes('ok')).forwarded), 'Hok');

  const trapping = plugin.newConnection({}, { close: () => closes.trapping++ });
  const r = trapping.downstreamData(bytes('!boom'));
  assert.deepEqual(r, { forwarded: new Uint8Array(0), endOfStream: false, status: FilterStatus.StopIteration, closed: true });
  assert.equal(plugin.failed, true);
  assert.equal(plugin.failure, TRAP_MESSAGE);
  assert.ok(plugin.logs.some((e) => e.origin === 'host' && e.levelName === 'error' && e.message === TRAP_MESSAGE));

  // An open connection closes at its next event, without calling into the failed VM.
  const r2 = before.downstreamData(bytes('more'));
  assert.equal(r2.closed, true);
  assert.equal(r2.forwarded.length, 0);
  // A new connection is closed at once.
  const after = plugin.newConnection({}, { close: () => closes.after++ });
  assert.equal(after.closed, true);
  assert.equal(after.newConnectionStatus, FilterStatus.StopIteration);
  assert.equal(after.downstreamData(bytes('x')).closed, true);
  assert.deepEqual(closes, { before: 1, trapping: 1, after: 1 });
  assert.deepEqual(messages(plugin).filter((m) => m !== TRAP_MESSAGE), [], 'no close/done/delete callbacks into a failed VM');
  assert.equal(plugin.tick(), false);
});

test('FAIL_OPEN: bytes pass through without the filter, including what it did before trapping', async () => {
  const plugin = await startPlugin({ wasm: trap, failurePolicy: 'FAIL_OPEN' });
  const before = plugin.newConnection();
  const trapping = plugin.newConnection();
  const r = trapping.downstreamData(bytes('!boom'));
  // Envoy continues after the failed call: the "T" prepended before `unreachable` goes along.
  assert.deepEqual({ out: text(r.forwarded), status: r.status, closed: r.closed }, { out: 'T!boom', status: FilterStatus.Continue, closed: false });
  assert.equal(plugin.failed, true);
  assert.equal(text(before.downstreamData(bytes('ok')).forwarded), 'ok', 'no "H": the VM is not called');
  assert.equal(text(before.upstreamData(bytes('back')).forwarded), 'back');
  const after = plugin.newConnection();
  assert.equal(after.closed, false);
  assert.equal(after.id, 0, 'no Wasm context: the filter is skipped');
  assert.deepEqual(after.downstreamData(bytes('zz'), true), { forwarded: bytes('zz'), endOfStream: true, status: FilterStatus.Continue, closed: false });
  assert.equal(text(after.upstreamData(bytes('yy')).forwarded), 'yy');
});

test('a trap on the upstream path fails the VM too', async () => {
  const plugin = await startPlugin({ wasm: trap });
  const conn = plugin.newConnection();
  const r = conn.upstreamData(bytes('!'));
  assert.equal(r.closed, true);
  assert.match(plugin.failure, /^Function: proxy_on_upstream_data failed: Uncaught RuntimeError: unreachable$/);
});

test('a host call inside the allocator is fatal, as in Envoy; the plugin still starts, failed', async () => {
  const wat = `(module
    (import "env" "proxy_get_log_level" (func $lvl (param i32) (result i32)))
    (import "env" "proxy_get_property" (func $prop (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    (func (export "proxy_abi_version_0_2_1"))
    (data (i32.const 0) "plugin_name")
    (func (export "malloc") (param i32) (result i32) (drop (call $lvl (i32.const 100))) (i32.const 4096))
    (func (export "proxy_on_configure") (param i32 i32) (result i32)
      ;; the allocation fails, so the call returns InvalidMemoryAccess (6); configure still succeeds
      (i32.eq (call $prop (i32.const 0) (i32.const 11) (i32.const 200) (i32.const 204)) (i32.const 6))))`;
  const plugin = await startPlugin({ wasm: watToWasm(wat), pluginName: 'p' });
  assert.equal(plugin.failed, true);
  assert.equal(plugin.failure, 'Function: malloc failed: Uncaught RuntimeError: restricted_callback');
  assert.equal(plugin.newConnection().closed, true);
});

test('a trap in the root proxy_on_context_create does not refuse the plugin: it starts failed', async () => {
  const wat = `(module (memory (export "memory") 1) (func (export "proxy_abi_version_0_2_1"))
    (func (export "malloc") (param i32) (result i32) (i32.const 4096))
    (func (export "proxy_on_context_create") (param i32 i32) unreachable))`;
  const plugin = await startPlugin({ wasm: watToWasm(wat), failurePolicy: 'FAIL_OPEN' });
  assert.equal(plugin.failed, true);
  assert.equal(text(plugin.newConnection().downstreamData(bytes('a')).forwarded), 'a');
});
