// Properties as Envoy encodes them (source/extensions/filters/common/expr/context.cc,
// source/extensions/common/wasm/context.cc getProperty/serializeValue): NUL-separated paths,
// strings raw, ports and ids 8 bytes little-endian, bools one byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPlugin, envoyAddress } from '../../dist/host/index.js';
import { fixture, messages, u32le, hex } from './helpers.mjs';

const wasm = fixture('property');
const paths = (...list) => Buffer.concat(list.flatMap((p) => [u32le(Buffer.byteLength(p)), Buffer.from(p)]));
const le64 = (n) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(n)));
  return b.toString('hex');
};
const found = (value) => `prop 0 ${Buffer.from(value, 'hex').length} ${value}`; // $hex always adds the space
const NOT_FOUND = 'prop 1 0';
const SERIALIZATION_FAILURE = 'prop 3 0';

const connection = { source: '1.2.3.4:5678', destination: '[2001:db8::1]:443', sni: 'example.com', connectionId: 42n };

const cases = [
  ['source\0address', found(hex('1.2.3.4:5678'))],
  ['source\0port', found(le64(5678))],
  ['destination\0address', found(hex('[2001:db8::1]:443'))],
  ['destination\0port', found(le64(443))],
  ['connection\0requested_server_name', found(hex('example.com'))],
  ['connection\0mtls', found('00')],
  ['connection\0id', found(le64(42))],
  ['connection_id', found(le64(42))],
  ['plugin_name', found(hex('ppv2'))],
  ['plugin_root_id', found('')],
  ['plugin_vm_id', found(hex('vm1'))],
  ['source\0address\0', found(hex('1.2.3.4:5678')), 'a trailing NUL changes nothing'],
  ['source.address', NOT_FOUND, 'dots do not separate segments'],
  ['\0source\0address', NOT_FOUND, 'an empty first segment'],
  ['source\0\0address', NOT_FOUND, 'an empty middle segment'],
  ['source\0address\0more', NOT_FOUND, 'a segment below a string'],
  ['source', SERIALIZATION_FAILURE, 'a map cannot be serialized'],
  ['connection', SERIALIZATION_FAILURE, 'a map cannot be serialized'],
  ['', SERIALIZATION_FAILURE, 'the empty path'],
  ['upstream\0address', NOT_FOUND, 'no upstream host picked'],
  ['connection\0tls_version', NOT_FOUND, 'no TLS'],
  ['node\0id', NOT_FOUND],
];

test('stream-context properties, in Envoy encodings', async () => {
  const plugin = await startPlugin({ wasm, configuration: paths(...cases.map((c) => c[0])), pluginName: 'ppv2', vmId: 'vm1' });
  const mark = plugin.logs.length;
  plugin.newConnection(connection).downstreamData(Buffer.from('x'));
  const got = messages(plugin, mark);
  cases.forEach(([path, want, why], i) => assert.equal(got[i], want, `${JSON.stringify(path)}${why ? ` (${why})` : ''}`));
  assert.equal(got.length, cases.length);
});

test('in the root context (vm start, configure, tick) connection properties are NotFound', async () => {
  const plugin = await startPlugin({
    wasm,
    configuration: paths('source\0address', 'destination\0port', 'connection_id', 'connection\0requested_server_name', 'plugin_root_id', 'plugin_name'),
    rootId: 'my_root',
  });
  assert.deepEqual(messages(plugin), [NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND, found(hex('my_root')), found('')]);
});

test('overrides by dotted path, with each value type encoded as Envoy would', async () => {
  const plugin = await startPlugin({
    wasm,
    configuration: paths('upstream\0address', 'connection\0mtls', 'source\0port', 'x\0big', 'x\0neg', 'x\0int', 'x\0float', 'x\0raw', 'node\0id', 'source\0address'),
    properties: { 'node.id': 'sidecar~1', 'source.address': 'plugin-level' },
  });
  const mark = plugin.logs.length;
  plugin.newConnection({
    ...connection,
    properties: {
      'upstream.address': '10.0.0.1:80',
      'connection.mtls': true,
      'source.port': null,
      'x.big': (1n << 64n) - 1n,
      'x.neg': -2n,
      'x.int': 7,
      'x.float': 1.5,
      'x.raw': Uint8Array.of(0, 1, 2),
      'source.address': 'connection-level',
    },
  }).downstreamData(Buffer.from('x'));
  const double = Buffer.alloc(8);
  double.writeDoubleLE(1.5);
  assert.deepEqual(messages(plugin, mark), [
    found(hex('10.0.0.1:80')),
    found('01'),
    NOT_FOUND,
    found('ffffffffffffffff'),
    found(le64(-2)),
    found(le64(7)),
    found(double.toString('hex')),
    found('000102'),
    found(hex('sidecar~1')),
    found(hex('connection-level')),
  ]);
});

test('ports come from IP addresses only', async () => {
  const plugin = await startPlugin({ wasm, configuration: paths('source\0address', 'source\0port') });
  const cases = [
    ['[::ffff:1.2.3.4]:5678', [found(hex('[::ffff:1.2.3.4]:5678')), found(le64(5678))]],
    ['/run/envoy.sock', [found(hex('/run/envoy.sock')), NOT_FOUND]],
    ['envoy://internal_listener/', [found(hex('envoy://internal_listener/')), NOT_FOUND]],
  ];
  for (const [source, want] of cases) {
    const mark = plugin.logs.length;
    plugin.newConnection({ source }).downstreamData(Buffer.from('x'));
    assert.deepEqual(messages(plugin, mark), want, source);
  }
});

test('proxy_set_property values are read back by their one-segment path', async () => {
  const { watToWasm } = await import('./helpers.mjs');
  const wat = `(module
    (import "env" "proxy_set_property" (func $set (param i32 i32 i32 i32) (result i32)))
    (import "env" "proxy_get_property" (func $get (param i32 i32 i32 i32) (result i32)))
    (import "env" "proxy_define_metric" (func $def (param i32 i32 i32 i32) (result i32)))
    (import "env" "proxy_record_metric" (func $rec (param i32 i64) (result i32)))
    (memory (export "memory") 1)
    (func (export "proxy_abi_version_0_2_1"))
    (global $heap (mut i32) (i32.const 8192))
    (func (export "malloc") (param $n i32) (result i32) (global.get $heap) (global.set $heap (i32.add (global.get $heap) (local.get $n))))
    (data (i32.const 0) "mykeyvalueset_rootget_first")
    (func $gauge (param $name i32) (param $len i32) (param $v i32)
      (drop (call $def (i32.const 1) (local.get $name) (local.get $len) (i32.const 100)))
      (drop (call $rec (i32.load (i32.const 100)) (i64.extend_i32_u (local.get $v)))))
    (func (export "proxy_on_configure") (param i32 i32) (result i32)
      (call $gauge (i32.const 10) (i32.const 8) (call $set (i32.const 0) (i32.const 5) (i32.const 5) (i32.const 5))) (i32.const 1))
    (func (export "proxy_on_downstream_data") (param i32 i32 i32) (result i32)
      (drop (call $set (i32.const 0) (i32.const 5) (i32.const 5) (i32.const 5)))
      (call $gauge (i32.const 18) (i32.const 9) (call $get (i32.const 0) (i32.const 5) (i32.const 200) (i32.const 204)))
      (call $gauge (i32.const 5) (i32.const 5) (i32.load (i32.const 204)))
      (i32.const 0)))`;
  const plugin = await startPlugin({ wasm: watToWasm(wat) });
  assert.equal(plugin.gauge('set_root'), 1, 'NotFound in the root context: no stream info');
  plugin.newConnection().downstreamData(Buffer.from('x'));
  assert.equal(plugin.gauge('get_first'), 0);
  assert.equal(plugin.gauge('value'), 5);
});

test('bad property values are refused with one line naming the key', async () => {
  const plugin = await startPlugin({ wasm, configuration: paths() });
  assert.throws(() => plugin.newConnection({ properties: { 'x.y': 2 ** 60 } }), /property "x\.y": .*not a safe integer/);
  assert.throws(() => plugin.newConnection({ properties: { 'x.y': {} } }), /property "x\.y": unsupported value type object/);
  assert.throws(() => plugin.newConnection({ properties: { 'x.y': 1n << 64n } }), /property "x\.y": .* does not fit in 64 bits/);
  assert.throws(() => plugin.newConnection({ source: 1234 }), /connection source must be an Envoy address string/);
});

const addresses = [
  ['1.2.3.4', 5678, '1.2.3.4:5678'],
  ['::1', 443, '[::1]:443'],
  ['::ffff:1.2.3.4', 80, '[::ffff:1.2.3.4]:80'],
  ['2001:DB8::1', 1, '[2001:db8::1]:1'],
];
for (const [ip, port, want] of addresses) {
  test(`envoyAddress(${ip}, ${port}) is ${want}`, () => assert.equal(envoyAddress(ip, port), want));
}
test('envoyAddress refuses what is not an IP address and port', () => {
  assert.throws(() => envoyAddress('example.com', 80), /not an IP address: "example.com"/);
  assert.throws(() => envoyAddress('1.2.3.4', 70000), /port must be an integer 0-65535, got 70000/);
});

test('a path rewritten at the same address, and reads after the memory grew, see the current bytes', async () => {
  // The host keeps the string made for a path address and its memory views between calls;
  // neither may outlive a change (tests/fixtures/reread.wat).
  const plugin = await startPlugin({ wasm: fixture('reread') });
  const conn = plugin.newConnection({ properties: { k1: 'one', k2: 'two' } });
  const pagesBefore = plugin.memoryBytes / 65536;
  conn.downstreamData(Buffer.from('x'));
  assert.deepEqual(messages(plugin), [
    `k1 0 3 ${hex('one')}`,
    `k2 0 3 ${hex('two')}`,
    `grown ${pagesBefore}`,
    `k2 0 3 ${hex('two')}`,
  ]);
  assert.equal(plugin.memoryBytes, (pagesBefore + 1) * 65536);
});
