// Several plugins in one VM, as Envoy runs filters that share a vm_config: each has its own root
// context, configuration, logs, tick period and failure policy; metrics and the VM's failed state
// are shared (proxy-wasm-cpp-host src/wasm.cc getOrCreateThreadLocalPlugin, WasmBase::start,
// startShutdown; src/context.cc ContextBase::onStart, onConfigure, setTimerPeriod).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPlugin, PluginStartError, FilterStatus } from '../../dist/host/index.js';
import { fixture, messages, hex, bytes, text } from './helpers.mjs';

const wasm = fixture('roots');
const start = () => startPlugin({ wasm, rootId: 'a', configuration: 'AAA' });

test('addRoot starts a second root context in the same VM with its own configuration and logs', async () => {
  const a = await start();
  const b = a.addRoot({ rootId: 'b', configuration: 'BB' });
  assert.equal(a.rootContextId, 1);
  assert.equal(b.rootContextId, 2);
  // ContextBase::onStart then onConfigure, for each root; on_vm_start runs once per root too.
  assert.deepEqual(messages(a), ['create 1 0', 'vm_start 1', `configure 1 ${hex('AAA')}`]);
  assert.deepEqual(messages(b), ['create 2 0', 'vm_start 2', `configure 2 ${hex('BB')}`]);
  assert.match(b.logs[0].line, /^wasm log b: create 2 0$/);
  assert.equal(b.memoryBytes, a.memoryBytes);
});

test("connections of both roots interleave, each named after its root and filtered by its configuration", async () => {
  const a = await start();
  const b = a.addRoot({ rootId: 'b', configuration: 'BB' });
  const ca = a.newConnection();
  const cb = b.newConnection();
  const ca2 = a.newConnection();
  assert.deepEqual([ca.id, cb.id, ca2.id], [3, 4, 5]); // one id sequence per VM
  assert.equal(text(cb.downstreamData(bytes('y')).forwarded), 'BBy');
  assert.equal(text(ca.downstreamData(bytes('x')).forwarded), 'AAAx');
  assert.equal(text(ca2.downstreamData(bytes('z')).forwarded), 'AAAz');
  assert.deepEqual(messages(a, 3), ['create 3 1', 'create 5 1']);
  assert.deepEqual(messages(b, 3), ['create 4 2']);
});

test('a metric defined by name in both roots is one stat of the VM', async () => {
  const a = await start();
  const b = a.addRoot({ rootId: 'b', configuration: 'BB' });
  a.newConnection();
  b.newConnection();
  b.newConnection();
  assert.equal(a.counter('roots.connections'), 3);
  assert.equal(b.counter('roots.connections'), 3);
  assert.deepEqual(b.metrics(), a.metrics());
  assert.equal(a.stats, b.stats);
});

test('each root has its own tick period and ticks', async () => {
  const a = await start();
  const b = a.addRoot({ rootId: 'b', configuration: 'BB' });
  assert.deepEqual([a.tickPeriodMs, b.tickPeriodMs], [100, 200]);
  assert.equal(b.tick(), true);
  assert.deepEqual(messages(b, 3), ['tick 2']);
  assert.deepEqual(messages(a, 3), []);
});

test('shutting one root down closes only its connections; the other keeps filtering', async () => {
  const a = await start();
  const b = a.addRoot({ rootId: 'b', configuration: 'BB' });
  const closed = [];
  const ca = a.newConnection({}, { close: () => closed.push('a') });
  const cb = b.newConnection({}, { close: () => closed.push('b') });
  b.shutdown();
  assert.deepEqual(closed, ['b']);
  assert.equal(cb.closed, true);
  assert.equal(ca.closed, false);
  assert.deepEqual(messages(b, 3), ['create 4 2', 'done 4', 'delete 4', 'done 2', 'delete 2']);
  assert.throws(() => b.newConnection(), /shut down/);
  assert.equal(text(ca.downstreamData(bytes('x')).forwarded), 'AAAx');
  assert.equal(text(a.newConnection().downstreamData(bytes('w')).forwarded), 'AAAw');
});

test('a refused configuration throws PluginStartError, ends that root, and leaves the VM running', async () => {
  const a = await start();
  let err;
  try {
    a.addRoot({ rootId: 'bad', configuration: '!no' });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof PluginStartError);
  assert.match(err.message, /proxy_on_configure returned false/);
  assert.deepEqual(err.logs.map((e) => e.message), [
    'create 2 0',
    'vm_start 2',
    `configure 2 ${hex('!no')}`,
    'Failed to configure base Wasm plugin: proxy_on_configure returned false',
    'done 2',
    'delete 2',
  ]);
  assert.equal(a.failed, false);
  assert.equal(text(a.newConnection().downstreamData(bytes('x')).forwarded), 'AAAx');
});

test('a trap fails the VM for every root; each applies its own failure policy and logs why', async () => {
  const a = await start();
  const b = a.addRoot({ rootId: 'b', configuration: 'BB', failurePolicy: 'FAIL_OPEN' });
  const r = a.newConnection().downstreamData(bytes('T'));
  assert.equal(r.closed, true);
  assert.equal(b.failed, true);
  for (const p of [a, b]) assert.ok(p.logs.some((e) => e.origin === 'host' && /proxy_on_downstream_data failed/.test(e.message)));
  assert.deepEqual(b.newConnection().downstreamData(bytes('y')), { forwarded: bytes('y'), endOfStream: false, status: FilterStatus.Continue, closed: false });
  assert.equal(a.newConnection().closed, true);
  assert.throws(() => a.addRoot({ rootId: 'c' }), (e) => e instanceof PluginStartError && /the VM has failed/.test(e.message));
});

test('addRoot refuses what belongs to the VM, a running duplicate, and a shut-down plugin', async () => {
  const a = await start();
  for (const key of ['wasm', 'vmId', 'vmConfiguration']) {
    assert.throws(() => a.addRoot({ [key]: 'x' }), new RegExp(`^TypeError: addRoot: ${key} belongs to the VM`));
  }
  assert.throws(() => a.addRoot({ rootId: 'a', configuration: 'AAA' }), /already runs in this VM/);
  assert.throws(() => a.addRoot({ failurePolicy: 'FAIL_SOMETIMES' }), /failurePolicy must be/);
  const b = a.addRoot({ rootId: 'a', configuration: 'other' }); // same root_id, other configuration: a new plugin
  assert.equal(b.rootContextId, 2);
  a.shutdown();
  assert.throws(() => a.addRoot({ rootId: 'c' }), /shut down/);
  assert.equal(text(b.newConnection().downstreamData(bytes('q')).forwarded), 'otherq');
});
