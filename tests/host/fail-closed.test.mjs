// The filter fails closed: no client byte reaches the upstream unless our header
// went first. A stock Envoy never refuses a network filter's prepend or close
// (source/extensions/common/wasm/context.cc Buffer::copyFrom, Context::closeStream),
// so each failure is injected into the host (src/host/faults.ts): a refused
// prepend, every buffer write refused (then only the close stops the bytes), a
// failing close, a root with no configuration, and callbacks out of order. Every
// test runs against both builds of the module.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { startPlugin, FilterStatus, WasmResult } from '../../dist/host/index.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const MODULES = [
  { name: 'release', path: `${root}build/ppv2.wasm` },
  { name: 'debug', path: `${root}build/ppv2.debug.wasm` },
];
const IPV4 = { source: '1.2.3.4:5678', destination: '5.6.7.8:80' };
const SIG = '0d0a0d0a000d0a515549540a';
const IPV4_HEADER = `${SIG}2111000c0102030405060708162e0050`;
const bytes = (text) => new Uint8Array(Buffer.from(text));
const hex = (b) => Buffer.from(b).toString('hex');

const isPrepend = (type, start, length) => type === 2 && start === 0 && length === 0;
/** set_buffer_bytes on the client's data refused, prepend only or every write. */
const refusePrepend = (type, start, length) => (isPrepend(type, start, length) ? WasmResult.InternalFailure : undefined);
const refuseEveryWrite = (type) => (type === 2 ? WasmResult.InternalFailure : undefined);
const refuse = () => WasmResult.InternalFailure;

/** The plugin's warn-or-above lines. */
const warnings = (plugin) => plugin.logs.filter((e) => e.origin === 'plugin' && e.level >= 3).map((e) => e.message);

function counters(plugin) {
  plugin.tick();
  const names = ['headers_written', 'local_fallbacks', 'closed_by_policy', 'tlvs_omitted', 'closed_on_error'];
  return Object.fromEntries(names.map((n) => [n, plugin.counter(`ppv2.${n}`)]));
}

for (const mod of MODULES) {
  describe(`${mod.name} module fails closed`, () => {
    const start = (opts = {}) => startPlugin({ wasm: mod.path, ...opts });

    test('a refused prepend: the data is drained, the connection closed and counted, one line logged', async () => {
      const plugin = await start();
      plugin.faults.hostCall('proxy_set_buffer_bytes', refusePrepend);
      const conn = plugin.newConnection(IPV4);
      const r = conn.downstreamData(bytes('PROXY TCP4 6.6.6.6 5.6.7.8 1 80\r\nGET /'));
      assert.deepEqual({ forwarded: hex(r.forwarded), closed: r.closed, status: r.status }, { forwarded: '', closed: true, status: FilterStatus.StopIteration });
      assert.deepEqual(warnings(plugin), [`ppv2-wasm: context ${conn.id}: closed on error: the prepend failed, status ${WasmResult.InternalFailure}`]);
      assert.deepEqual(counters(plugin), { headers_written: 0, local_fallbacks: 0, closed_by_policy: 0, tlvs_omitted: 0, closed_on_error: 1 });
      // The next connection, with the host healthy again, gets its header.
      plugin.faults.clear();
      assert.equal(hex(plugin.newConnection(IPV4).downstreamData(bytes('ok')).forwarded), IPV4_HEADER + hex(bytes('ok')));
    });

    test('every buffer write refused (the drain fails too): the close and StopIteration stop the bytes', async () => {
      const plugin = await start();
      plugin.faults.hostCall('proxy_set_buffer_bytes', refuseEveryWrite);
      const closes = [];
      const conn = plugin.newConnection(IPV4, { close: () => closes.push(conn.id) });
      const r = conn.downstreamData(bytes('secret'));
      assert.deepEqual({ forwarded: hex(r.forwarded), closed: r.closed, status: r.status }, { forwarded: '', closed: true, status: FilterStatus.StopIteration });
      assert.deepEqual(closes, [conn.id]);
      assert.equal(counters(plugin).closed_on_error, 1);
    });

    test('a close that fails: nothing is forwarded, now or later; every later chunk is drained', async () => {
      const plugin = await start();
      plugin.faults.hostCall('proxy_set_buffer_bytes', refusePrepend);
      plugin.faults.hostCall('proxy_close_stream', refuse);
      const conn = plugin.newConnection(IPV4);
      const first = conn.downstreamData(bytes('one'));
      assert.deepEqual({ forwarded: hex(first.forwarded), closed: first.closed, status: first.status }, { forwarded: '', closed: false, status: FilterStatus.StopIteration });
      for (const chunk of ['two', 'three', '']) {
        const later = conn.downstreamData(bytes(chunk), chunk === '');
        assert.equal(hex(later.forwarded), '', `chunk ${JSON.stringify(chunk)}`);
        assert.equal(later.endOfStream, false);
      }
      assert.deepEqual(warnings(plugin), [
        `ppv2-wasm: context ${conn.id}: closed on error: the prepend failed, status ${WasmResult.InternalFailure}; the close failed too, status ${WasmResult.InternalFailure}`,
      ]);
      assert.equal(counters(plugin).closed_on_error, 1, 'counted once per connection');
      conn.close('remote');
    });

    test('a close that fails and every buffer write refused: StopIteration alone keeps the bytes back', async () => {
      const plugin = await start();
      plugin.faults.hostCall('proxy_set_buffer_bytes', refuseEveryWrite);
      plugin.faults.hostCall('proxy_close_stream', refuse);
      const conn = plugin.newConnection(IPV4);
      for (const chunk of ['one', 'two']) {
        const r = conn.downstreamData(bytes(chunk));
        assert.deepEqual({ forwarded: hex(r.forwarded), status: r.status }, { forwarded: '', status: FilterStatus.StopIteration });
      }
      conn.close('remote');
    });

    test('a close by policy that fails: counted as closed by policy and on error, later chunks drained', async () => {
      const plugin = await start({ configuration: '{"on_unknown_address": "close"}' });
      plugin.faults.hostCall('proxy_close_stream', refuse);
      const conn = plugin.newConnection({ source: 'envoy://internal', destination: '5.6.7.8:80' });
      assert.equal(hex(conn.downstreamData(bytes('one')).forwarded), '');
      assert.equal(hex(conn.downstreamData(bytes('two')).forwarded), '');
      assert.deepEqual(warnings(plugin), [
        `ppv2-wasm: context ${conn.id}: closed by policy (address unknown), but the close failed, status ${WasmResult.InternalFailure}`,
      ]);
      assert.deepEqual(counters(plugin), { headers_written: 0, local_fallbacks: 1, closed_by_policy: 1, tlvs_omitted: 0, closed_on_error: 1 });
    });

    test('a connection of a root that has no configuration is closed at once, before the upstream is dialled', async () => {
      const plugin = await start();
      // A second root in the same VM whose proxy_on_configure never reaches the module.
      plugin.faults.callback('proxy_on_configure', () => 1);
      const other = plugin.addRoot({ rootId: 'unconfigured' });
      const conn = other.newConnection(IPV4);
      assert.equal(conn.newConnectionStatus, FilterStatus.StopIteration);
      assert.equal(conn.closed, true);
      assert.equal(hex(conn.downstreamData(bytes('data')).forwarded), '');
      assert.deepEqual(warnings(other), [`ppv2-wasm: context ${conn.id}: closed on error: its plugin has no valid configuration`]);
      assert.equal(counters(plugin).closed_on_error, 1);
    });

    test('a connection whose parent is not a root the filter knows: closed on error', async () => {
      const plugin = await start();
      plugin.faults.callback('proxy_on_context_create', ([id, parent], call) => call(id, parent === 0 ? 0 : 999));
      plugin.faults.callback('proxy_on_new_connection', () => 0); // and the check there is skipped too
      const conn = plugin.newConnection(IPV4);
      const r = conn.downstreamData(bytes('data'));
      assert.deepEqual({ forwarded: hex(r.forwarded), closed: r.closed }, { forwarded: '', closed: true });
      assert.deepEqual(warnings(plugin), [`ppv2-wasm: context ${conn.id}: closed on error: its plugin has no valid configuration`]);
    });

    test('callbacks out of order: a new connection the filter never saw created is closed, and stays closed', async () => {
      const plugin = await start();
      plugin.faults.callback('proxy_on_context_create', ([id, parent], call) => (parent === 0 ? call(id, parent) : 0));
      plugin.faults.hostCall('proxy_close_stream', refuse); // the close fails too: later data is still dropped
      const conn = plugin.newConnection(IPV4);
      assert.equal(conn.newConnectionStatus, FilterStatus.StopIteration);
      const r = conn.downstreamData(bytes('data'));
      assert.deepEqual({ forwarded: hex(r.forwarded), status: r.status }, { forwarded: '', status: FilterStatus.StopIteration });
      assert.match(warnings(plugin)[0], /closed on error: a new connection for a context that was never created; the close failed too/);
      conn.close('remote');
    });
  });
}
