// Callback order and data flow through a connection, as Envoy's network filter manager and
// Wasm context drive them (source/common/network/filter_manager_impl.cc,
// source/extensions/common/wasm/context.cc, cpp-host src/context.cc).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startPlugin, FilterStatus } from '../../dist/host/index.js';
import { fixture, messages, u32le, bytes, text } from './helpers.mjs';

const recorder = fixture('recorder');
const pause = fixture('pause');
const close = fixture('close');

test('callbacks run in Envoy order for the root context and for a connection', async () => {
  const plugin = await startPlugin({ wasm: recorder, configuration: 'cfg', vmConfiguration: 'vm' });
  const a = plugin.newConnection({ source: '1.2.3.4:1', destination: '5.6.7.8:2' });
  a.downstreamData(bytes('hello'));
  a.upstreamData(bytes('hi'));
  a.downstreamData(new Uint8Array(0), true); // an end of stream with no bytes still reaches the filter
  a.upstreamData(bytes('bye'), true); // the upstream end of stream is also an upstream close
  a.close('remote');
  const b = plugin.newConnection();
  b.downstreamData(new Uint8Array(0)); // no bytes, no end of stream: no callback
  b.close('local');
  const c = plugin.newConnection(); // still open at shutdown: closed as a local close
  assert.equal(plugin.tick(), true);
  plugin.shutdown();
  assert.deepEqual(messages(plugin), [
    'context_create 1 0', 'vm_start 1 2', 'configure 1 3',
    'context_create 2 1', 'new_connection 2',
    'downstream_data 2 5 0', 'upstream_data 2 2 0', 'downstream_data 2 0 1',
    'upstream_data 2 3 1', 'upstream_close 2 0',
    'downstream_close 2 2', 'done 2', 'log 2', 'delete 2',
    'context_create 3 1', 'new_connection 3', 'downstream_close 3 1', 'done 3', 'log 3', 'delete 3',
    'context_create 4 1', 'new_connection 4',
    'tick 1',
    'downstream_close 4 1', 'done 4', 'log 4', 'delete 4',
    'done 1', 'delete 1',
  ]);
  assert.equal(c.closed, true);
  assert.throws(() => plugin.newConnection(), /the plugin is shut down/);
  assert.equal(plugin.tick(), false, 'no ticks after shutdown');
});

test('data passes through when the filter continues, with the end of stream', async () => {
  const plugin = await startPlugin({ wasm: recorder });
  const conn = plugin.newConnection();
  assert.deepEqual(conn.downstreamData(bytes('abc'), true), { forwarded: bytes('abc'), endOfStream: true, status: FilterStatus.Continue, closed: false });
  assert.throws(() => conn.downstreamData(bytes('more')), /already ended its stream/);
  const up = conn.upstreamData(bytes('xyz'));
  assert.equal(text(up.forwarded), 'xyz');
  assert.equal(up.endOfStream, false);
});

test('paused data is kept, prepended bytes included, and delivered again with what follows', async () => {
  const plugin = await startPlugin({ wasm: pause, configuration: u32le(6) });
  const conn = plugin.newConnection();
  const steps = [
    ['ab', '', FilterStatus.StopIteration, 'downstream_data 2 2 0'],
    ['cd', '', FilterStatus.StopIteration, 'downstream_data 2 5 0'], // "<abcd": the "<" was prepended
    ['ef', '<abcdef', FilterStatus.Continue, 'downstream_data 2 7 0'],
    ['gh', '', FilterStatus.StopIteration, 'downstream_data 2 2 0'], // a fresh buffer after Continue
    ['ijklmn', 'ghijklmn', FilterStatus.Continue, 'downstream_data 2 8 0'],
  ];
  for (const [send, forwarded, status, log] of steps) {
    const mark = plugin.logs.length;
    const r = conn.downstreamData(bytes(send));
    assert.equal(text(r.forwarded), forwarded, `after ${send}`);
    assert.equal(r.status, status, `status after ${send}`);
    assert.deepEqual(messages(plugin, mark), [log]);
  }
  // The same on the way back to the client.
  assert.equal(text(conn.upstreamData(bytes('xy')).forwarded), '');
  const r = conn.upstreamData(bytes('zzzz'));
  assert.equal(text(r.forwarded), '>xyzzzz');
  assert.deepEqual(messages(plugin).slice(-2), ['upstream_data 2 2 0', 'upstream_data 2 7 0']);
});

test('proxy_continue_stream inside the callback releases the held data when the callback returns', async () => {
  const plugin = await startPlugin({ wasm: pause, configuration: u32le(100) });
  const conn = plugin.newConnection();
  assert.equal(conn.downstreamData(bytes('ab')).forwarded.length, 0);
  const r = conn.downstreamData(bytes('cd'), true);
  assert.equal(text(r.forwarded), '<abcd');
  assert.equal(r.endOfStream, true);
  assert.equal(r.status, FilterStatus.StopIteration, 'the filter still returned StopIteration');
  assert.deepEqual(messages(plugin).slice(-2), ['downstream_data 2 5 1', 'continue 0']);
});

test('proxy_continue_stream from a tick, through the effective context, reaches the sink', async () => {
  const plugin = await startPlugin({ wasm: pause, configuration: u32le(100) });
  const released = [];
  const conn = plugin.newConnection({}, { upstream: (b, end) => released.push([text(b), end]) });
  conn.downstreamData(bytes('ab'));
  assert.deepEqual(released, []);
  assert.equal(plugin.tick(), true);
  // Continue(Downstream) is Ok and releases "<ab"; Continue(Upstream) is Unimplemented (12).
  assert.equal(messages(plugin).at(-1), 'tick effective 0 continue downstream 0 continue upstream 12');
  assert.deepEqual(released, [['<ab', false]]);
});

test('without a sink, bytes released outside a call come first in the next result', async () => {
  const plugin = await startPlugin({ wasm: pause, configuration: u32le(100) });
  const conn = plugin.newConnection();
  conn.downstreamData(bytes('ab'));
  plugin.tick();
  const r = conn.downstreamData(bytes('c'));
  assert.equal(text(r.forwarded), '<ab');
  assert.equal(r.status, FilterStatus.StopIteration, '"c" is held again');
});

const closes = [
  { name: 'proxy_close_stream(Downstream) from downstream data', dir: 'down', send: 'close me', log: 'close downstream 0' },
  { name: 'proxy_close_stream(Upstream) from downstream data', dir: 'down', send: 'u', log: 'close upstream 0' },
  { name: 'proxy_close_stream(Downstream) from upstream data', dir: 'up', send: 'c', log: 'close from upstream 0' },
];
for (const c of closes) {
  test(`${c.name} closes the connection after the callback, forwarding nothing`, async () => {
    const plugin = await startPlugin({ wasm: close });
    let sinkCloses = 0;
    const conn = plugin.newConnection({}, { close: () => sinkCloses++ });
    assert.equal(text(conn.downstreamData(bytes('fine')).forwarded), 'fine');
    const r = c.dir === 'down' ? conn.downstreamData(bytes(c.send)) : conn.upstreamData(bytes(c.send));
    assert.equal(r.forwarded.length, 0);
    assert.equal(r.closed, true);
    assert.equal(conn.closed, true);
    assert.equal(sinkCloses, 1);
    assert.deepEqual(messages(plugin), [c.log, 'downstream_close 2 1', 'done 2', 'log 2', 'delete 2']);
    // Closed for good: later calls do nothing, a close() from the proxy too.
    assert.deepEqual(conn.downstreamData(bytes('late')), { forwarded: new Uint8Array(0), endOfStream: false, status: FilterStatus.StopIteration, closed: true });
    conn.close('remote');
    assert.equal(messages(plugin).length, 5);
    assert.equal(sinkCloses, 1);
  });
}

test('real tick timers call proxy_on_tick at the plugin period, and stop at shutdown', async () => {
  const plugin = await startPlugin({ wasm: recorder, tickTimers: true });
  assert.equal(plugin.tickPeriodMs, 1000);
  const deadline = Date.now() + 5000;
  while (!messages(plugin).includes('tick 1') && Date.now() < deadline) await sleep(50);
  assert.ok(messages(plugin).includes('tick 1'), 'a tick within 5 s');
  plugin.shutdown();
  assert.equal(plugin.tickPeriodMs, 0);
});
