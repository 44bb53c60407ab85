// TLVs through a real Envoy: fixed ones (value, hex), Envoy's own attributes
// (property), its connection id (from: connection_id) and CRC32C, read back
// by the strict `inspect` decoder (which verifies the CRC) and by HAProxy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { envoyFor, inspectBackend, connectOnce, record, counterReaches, connectionId } from './harness.mjs';
import { requireTool } from '../e2e/tools.mjs';
import { startHaproxy, parseHttpJson } from '../e2e/consumers.mjs';

/** The TLVs of an inspect record as [type, hex] pairs, in wire order. */
const tlvPairs = (r) => r.header.tlvs.map((tlv) => [tlv.type, tlv.hex]);
const hexOf = (text) => Buffer.from(text).toString('hex');
/** Envoy's property encoding of a uint64 (connection_id): 8 bytes little-endian. */
const u64le = (n) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b.toString('hex');
};

test('fixed TLVs (value, hex) arrive as configured and in order; HAProxy reads the AUTHORITY', async (t) => {
  const tlvs = [{ type: 'authority', value: 'backend.example' }, { type: 234, hex: '01767063652d30313233' }, { type: 'noop', hex: '0000' }];
  const inspect = await inspectBackend(t);
  const envoy = await envoyFor(t, { upstreamPort: inspect.port, config: { tlvs } });
  if (!envoy) return;
  const r = record(await connectOnce({ port: envoy.port }));
  assert.deepEqual(tlvPairs(r), [[2, hexOf('backend.example')], [234, '01767063652d30313233'], [4, '0000']]);

  const haproxyBinary = requireTool(t, 'haproxy');
  if (!haproxyBinary) return;
  const haproxy = await startHaproxy(haproxyBinary);
  t.after(() => haproxy.stop());
  const viaHaproxy = await envoyFor(t, { upstreamPort: haproxy.port, config: { tlvs } });
  const reply = await connectOnce({ port: viaHaproxy.port, localAddress: '127.0.0.2', send: [Buffer.from('GET / HTTP/1.0\r\n\r\n')] });
  const body = parseHttpJson(reply.data.toString('latin1'));
  assert.equal(body.authority, 'backend.example');
  assert.equal(body.src, '127.0.0.2');
});

test('property TLVs carry Envoy\'s own values; a property Envoy does not have is left out and counted', async (t) => {
  const inspect = await inspectBackend(t);
  const envoy = await envoyFor(t, {
    upstreamPort: inspect.port,
    config: {
      tlvs: [
        { type: 224, property: 'xds.cluster_name' },
        { type: 225, property: ['connection', 'requested_server_name'] },
        { type: 226, property: 'connection_id' },
        { type: 227, property: 'source.port' },
      ],
    },
  });
  if (!envoy) return;
  const reply = await connectOnce({ port: envoy.port, localAddress: '127.0.0.2' });
  const r = record(reply);
  const id = connectionId(await envoy.lines.next());
  // No SNI without TLS: 225 is missing. Integers come as 8 bytes little-endian.
  assert.deepEqual(tlvPairs(r), [[224, hexOf('backend')], [226, u64le(id)], [227, u64le(reply.local.port)]]);
  await counterReaches(envoy.envoy, 'wasmcustom.ppv2.tlvs_omitted', 1);
});

test('from: connection_id is the id Envoy prints in its access log, as decimal ASCII', async (t) => {
  const inspect = await inspectBackend(t);
  const envoy = await envoyFor(t, { upstreamPort: inspect.port, config: { tlvs: [{ type: 'unique_id', from: 'connection_id' }] } });
  if (!envoy) return;
  for (let i = 0; i < 3; i++) {
    const r = record(await connectOnce({ port: envoy.port }));
    const id = connectionId(await envoy.lines.next());
    assert.ok(Number.isInteger(id), 'the access log has the id');
    assert.deepEqual(tlvPairs(r), [[5, hexOf(String(id))]]);
  }
});

test('CRC32C: the last TLV, over the whole header, verified by inspect; HAProxy accepts the header', async (t) => {
  const config = { crc32c: true, tlvs: [{ type: 'authority', value: 'crc.example' }, { type: 'unique_id', from: 'connection_id' }] };
  const inspect = await inspectBackend(t);
  const envoy = await envoyFor(t, { upstreamPort: inspect.port, config });
  if (!envoy) return;
  const r = record(await connectOnce({ port: envoy.port }));
  assert.deepEqual(r.header.tlvs.map((tlv) => tlv.name), ['PP2_TYPE_AUTHORITY', 'PP2_TYPE_UNIQUE_ID', 'PP2_TYPE_CRC32C']);
  assert.match(r.header.tlvs[2].crc32c, /^[0-9a-f]{8}$/, 'inspect checked the CRC (it refuses a wrong one)');

  const haproxyBinary = requireTool(t, 'haproxy');
  if (!haproxyBinary) return;
  const haproxy = await startHaproxy(haproxyBinary);
  t.after(() => haproxy.stop());
  const viaHaproxy = await envoyFor(t, { upstreamPort: haproxy.port, config });
  const reply = await connectOnce({ port: viaHaproxy.port, localAddress: '127.0.0.3', send: [Buffer.from('GET / HTTP/1.0\r\n\r\n')] });
  const body = parseHttpJson(reply.data.toString('latin1'));
  assert.equal(body.authority, 'crc.example');
  assert.equal(body.src, '127.0.0.3');
});
