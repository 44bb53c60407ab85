// Metrics, log levels, configuration buffers and host-call counting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPlugin } from '../../dist/host/index.js';
import { fixture, messages, u32le, hex, bytes } from './helpers.mjs';

test('metrics behave as Envoy defines them', async () => {
  const plugin = await startPlugin({ wasm: fixture('metrics') });
  // Ids carry the type in their low two bits and start at type + 4; type 3 is BadArgument.
  assert.deepEqual(messages(plugin), ['define 2 ids 4 5 6']);
  const conn = plugin.newConnection();
  conn.downstreamData(bytes('hello'));
  // inc hits +1 Ok; inc hits 0 BadArgument (counters only go up); inc depth -2 Ok; record depth
  // 40 Ok (sets); record sizes 5 Ok; inc sizes BadArgument (histogram); record hits 3 Ok (adds);
  // inc unknown counter NotFound. get: hits 1+3; depth 40; sizes BadArgument.
  assert.deepEqual(messages(plugin, 1), ['update 0 2 0 0 0 2 0 1', 'get 0 4 0 40 2 0']);
  conn.downstreamData(bytes('hey'));
  assert.equal(messages(plugin).at(-1), 'get 0 8 0 40 2 0');
  assert.equal(plugin.counter('hits'), 8);
  assert.equal(plugin.gauge('depth'), 40);
  assert.equal(plugin.counter('never-defined'), 0);
  assert.deepEqual(plugin.metrics(), [
    { name: 'hits', type: 'counter', value: 8n },
    { name: 'depth', type: 'gauge', value: 40n },
    { name: 'sizes', type: 'histogram', value: 2n, sum: 8n, min: 3n, max: 5n },
  ]);
});

const levels = [
  { logLevel: undefined, want: ['level 2', 'msg 2', 'msg 3', 'msg 4', 'msg 5', 'level 6 status 2'] },
  { logLevel: 'warn', want: ['level 3', 'msg 3', 'msg 4', 'msg 5', 'level 6 status 2'] },
  { logLevel: 'trace', want: ['level 0', 'msg 0', 'msg 1', 'msg 2', 'msg 3', 'msg 4', 'msg 5', 'level 6 status 2'] },
  { logLevel: 5, want: ['level 5', 'msg 5', 'level 6 status 2'] },
];
for (const { logLevel, want } of levels) {
  test(`log level ${logLevel ?? 'info (default)'}: proxy_get_log_level reports it and lower levels are dropped`, async () => {
    const seen = [];
    const plugin = await startPlugin({ wasm: fixture('loglevel'), logLevel, onLog: (e) => seen.push(e.message) });
    assert.deepEqual(messages(plugin), want);
    assert.deepEqual(seen, want);
  });
}

test('log lines carry Envoy\'s prefix and the logging context', async () => {
  const plugin = await startPlugin({ wasm: fixture('recorder'), pluginName: 'ppv2', rootId: 'r', vmId: 'v' });
  plugin.newConnection();
  const byContext = plugin.logs.map((e) => [e.context, e.line, e.levelName]);
  assert.deepEqual(byContext.slice(0, 1), [[1, 'wasm log r v: context_create 1 0', 'info']]);
  assert.deepEqual(byContext.at(-1), [2, 'wasm log ppv2 r v: new_connection 2', 'info']);
  plugin.logLevel = 'warn';
  plugin.newConnection();
  assert.equal(plugin.logs.length, byContext.length, 'info lines are dropped once the level is warn');
});

test('configuration buffers exist where Envoy offers them', async () => {
  const plugin = await startPlugin({ wasm: fixture('config'), vmConfiguration: 'vmcfg', configuration: 'plug' });
  plugin.newConnection().downstreamData(bytes('x'));
  const vm = `0 ${hex('vmcfg')}`;
  const pl = `0 ${hex('plug')}`;
  assert.deepEqual(messages(plugin), [
    `context_create vm ${vm} plugin ${pl}`, // Envoy sets the plugin during the root's context_create
    `vm_start 5 vm ${vm} plugin 1 `, // ... but not in vm_start: NotFound
    `configure 4 vm ${vm} plugin ${pl}`,
    `data vm ${vm} plugin 1 `, // the VM configuration is readable anywhere
  ]);
});

test('proxy_on_vm_start and proxy_on_configure can refuse their configuration', async () => {
  await assert.rejects(startPlugin({ wasm: fixture('config'), vmConfiguration: 'x' }), /Failed to start base Wasm/);
  await assert.rejects(startPlugin({ wasm: fixture('config'), configuration: 'xyz' }), /Failed to configure base Wasm plugin/);
});

test('the root id defaults to "" and is what plugin_root_id returns', async () => {
  const paths = (p) => Buffer.concat([u32le(p.length), Buffer.from(p)]);
  const plugin = await startPlugin({ wasm: fixture('property'), configuration: paths('plugin_root_id') });
  assert.deepEqual(messages(plugin), ['prop 0 0 ']);
});

test('host calls are counted per import and in total, with allocations; reset() zeroes them', async () => {
  const paths = Buffer.concat(['plugin_name', 'plugin_root_id'].map((p) => Buffer.concat([u32le(p.length), Buffer.from(p)])));
  const plugin = await startPlugin({ wasm: fixture('property'), configuration: paths, pluginName: 'counted' });
  plugin.stats.reset();
  assert.equal(plugin.stats.total, 0);
  const conn = plugin.newConnection();
  conn.downstreamData(bytes('x'));
  // Two properties (one allocation: the empty root id needs none) and two log lines.
  assert.equal(plugin.stats.calls.proxy_get_property, 2);
  assert.equal(plugin.stats.calls.proxy_log, 2);
  assert.equal(plugin.stats.total, 4);
  assert.equal(plugin.stats.allocations, 1);
  assert.equal(plugin.stats.calls.proxy_set_buffer_bytes, 0);
  plugin.stats.reset();
  assert.deepEqual([plugin.stats.total, plugin.stats.allocations, plugin.stats.calls.proxy_log], [0, 0, 0]);
  assert.equal(plugin.memoryBytes, 2 * 65536);
});

test('the no-op module makes no host calls at all', async () => {
  const plugin = await startPlugin({ wasm: fixture('noop') });
  const conn = plugin.newConnection({ source: '1.2.3.4:5', destination: '5.6.7.8:80' });
  conn.downstreamData(bytes('a'));
  conn.upstreamData(bytes('b'), true);
  conn.close('remote');
  assert.equal(plugin.stats.total, 0);
});

test('accepts a compiled WebAssembly.Module, checking imports and exports by name', async () => {
  const plugin = await startPlugin({ wasm: new WebAssembly.Module(fixture('recorder')) });
  assert.deepEqual(messages(plugin).slice(0, 3), ['context_create 1 0', 'vm_start 1 0', 'configure 1 0']);
  const { watToWasm } = await import('./helpers.mjs');
  const foreign = new WebAssembly.Module(watToWasm('(module (import "env" "nope" (func)) (memory (export "memory") 1) (func (export "proxy_abi_version_0_2_1")) (func (export "malloc") (param i32) (result i32) (i32.const 8)))'));
  await assert.rejects(startPlugin({ wasm: foreign }), /missing import: env\.nope/);
});
