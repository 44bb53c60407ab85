// Validates the e2e harness itself: golden headers, written from the spec,
// sent straight to HAProxy, nginx and tshark. If these pass, a failure in
// through-proxy.test.mjs is the proxy's or the filter's, not the harness's.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { httpOverRaw, startHaproxy, startNginx, tsharkDecode } from './consumers.mjs';
import { requireTool } from './tools.mjs';

const hex = (s) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const SIG = '0d0a0d0a000d0a515549540a';

const GOLDEN = {
  v2ipv4: hex(`${SIG} 21 11 000c 7f000002 7f000001 d431 2710`), // 127.0.0.2:54321 -> 127.0.0.1:10000
  v2ipv4Tlvs: hex(`${SIG} 21 11 0022 c0000201 c6336401 3039 01bb
    02 000b 6578616d706c652e636f6d
    05 0005 0102030405`), // 192.0.2.1:12345 -> 198.51.100.1:443, AUTHORITY example.com, UNIQUE_ID 0102030405
  v2ipv6: hex(`${SIG} 21 21 0024 20010db8000000000000000000000001 20010db8000000000000000000000002 04d2 0050`),
  v2local: hex(`${SIG} 20 00 0000`),
  v1ipv4: Buffer.from('PROXY TCP4 192.0.2.7 198.51.100.9 40000 8080\r\n'),
  v1ipv6: Buffer.from('PROXY TCP6 2001:db8::7 2001:db8::9 40000 8080\r\n'),
};

const stops = [];
after(async () => { await Promise.all(stops.map((stop) => stop())); });

test('HAProxy decodes the golden headers', async (t) => {
  const binary = requireTool(t, 'haproxy');
  if (!binary) return;
  const haproxy = await startHaproxy(binary);
  stops.push(haproxy.stop);
  assert.deepEqual(await httpOverRaw(haproxy.port, GOLDEN.v2ipv4),
    { src: '127.0.0.2', src_port: '54321', dst: '127.0.0.1', dst_port: '10000', authority: '', unique_id: '' });
  assert.deepEqual(await httpOverRaw(haproxy.port, GOLDEN.v2ipv4Tlvs),
    { src: '192.0.2.1', src_port: '12345', dst: '198.51.100.1', dst_port: '443', authority: 'example.com', unique_id: '0102030405' });
  assert.deepEqual(await httpOverRaw(haproxy.port, GOLDEN.v2ipv6),
    { src: '2001:db8::1', src_port: '1234', dst: '2001:db8::2', dst_port: '80', authority: '', unique_id: '' });
  assert.deepEqual(await httpOverRaw(haproxy.port, GOLDEN.v1ipv4),
    { src: '192.0.2.7', src_port: '40000', dst: '198.51.100.9', dst_port: '8080', authority: '', unique_id: '' });
  // LOCAL: HAProxy keeps the real endpoints of the TCP connection.
  const local = await httpOverRaw(haproxy.port, GOLDEN.v2local);
  assert.equal(local.src, '127.0.0.1');
  assert.equal(local.dst, '127.0.0.1');
  assert.equal(local.dst_port, String(haproxy.port));
  // And the harness can tell a rejected header from an accepted one.
  await assert.rejects(httpOverRaw(haproxy.port, hex(`${SIG} 21 11 000b 7f000002 7f000001 d431 27`)), /not an HTTP response/);
});

test('nginx decodes the golden headers', async (t) => {
  const binary = requireTool(t, 'nginx');
  if (!binary) return;
  const nginx = await startNginx(binary);
  stops.push(nginx.stop);
  assert.deepEqual(await httpOverRaw(nginx.port, GOLDEN.v2ipv4),
    { addr: '127.0.0.2', port: '54321', server_addr: '127.0.0.1', server_port: '10000', remote_addr: '127.0.0.1' });
  assert.deepEqual(await httpOverRaw(nginx.port, GOLDEN.v2ipv6),
    { addr: '2001:db8::1', port: '1234', server_addr: '2001:db8::2', server_port: '80', remote_addr: '127.0.0.1' });
  assert.deepEqual(await httpOverRaw(nginx.port, GOLDEN.v1ipv6),
    { addr: '2001:db8::7', port: '40000', server_addr: '2001:db8::9', server_port: '8080', remote_addr: '127.0.0.1' });
  assert.deepEqual(await httpOverRaw(nginx.port, GOLDEN.v2ipv4Tlvs),
    { addr: '192.0.2.1', port: '12345', server_addr: '198.51.100.1', server_port: '443', remote_addr: '127.0.0.1' });
  await assert.rejects(httpOverRaw(nginx.port, Buffer.from('PROXY TCP4 1.2.3.4\r\n')), /not an HTTP response/);
});

test('tshark dissects the golden headers', async (t) => {
  const tools = { tshark: requireTool(t, 'tshark'), text2pcap: requireTool(t, 'text2pcap') };
  if (!tools.tshark || !tools.text2pcap) return;
  const v4 = await tsharkDecode(tools, GOLDEN.v2ipv4);
  assert.equal(v4['proxy.version'], '2');
  assert.equal(v4['proxy.v2.cmd'], '1');
  assert.equal(v4['proxy.v2.addr_family_protocol'], '0x11');
  assert.equal(v4['proxy.src.ipv4'], '127.0.0.2');
  assert.equal(v4['proxy.dst.ipv4'], '127.0.0.1');
  assert.equal(v4['proxy.srcport'], '54321');
  assert.equal(v4['proxy.dstport'], '10000');
  assert.equal(v4['proxy.v2.length'], '12');

  const v6 = await tsharkDecode(tools, GOLDEN.v2ipv6);
  assert.equal(v6['proxy.v2.addr_family_protocol'], '0x21');
  assert.equal(v6['proxy.src.ipv6'], '2001:db8::1');
  assert.equal(v6['proxy.dst.ipv6'], '2001:db8::2');
  assert.equal(v6['proxy.srcport'], '1234');

  const local = await tsharkDecode(tools, GOLDEN.v2local);
  assert.equal(local['proxy.v2.cmd'], '0');
  assert.equal(local['proxy.v2.addr_family_protocol'], '0x00');
  assert.equal(local['proxy.v2.length'], '0');
  assert.equal(local['proxy.src.ipv4'], null);

  // tshark 4.0.17 shows only the first TLV of a header (observed).
  const tlvs = await tsharkDecode(tools, GOLDEN.v2ipv4Tlvs);
  assert.equal(tlvs['proxy.v2.tlv.type'], '0x02');

  // v1 has no proxy.version field in 4.0; its protocol field marks it.
  const v1 = await tsharkDecode(tools, GOLDEN.v1ipv4);
  assert.equal(v1['proxy.version'], null);
  assert.equal(v1['proxy.v1.proto'], 'TCP4');
  assert.equal(v1['proxy.src.ipv4'], '192.0.2.7');
  assert.equal(v1['proxy.dst.ipv4'], '198.51.100.9');
  assert.equal(v1['proxy.srcport'], '40000');
  assert.equal(v1['proxy.dstport'], '8080');

  // Not a PROXY header: the dissector stays silent, so a test cannot pass on noise.
  const none = await tsharkDecode(tools, Buffer.from('GET / HTTP/1.0\r\n\r\n'));
  assert.equal(none['proxy.version'], null);
});

test('the golden headers are valid for our strict decoder too', async () => {
  const { decodeProxyHeader } = await import('../../dist/proxy-protocol/index.js');
  for (const [name, bytes] of Object.entries(GOLDEN)) {
    const result = decodeProxyHeader(bytes);
    assert.equal(result.state, 'complete', `${name}: ${result.reason}`);
    assert.equal(result.header.length, bytes.length, name);
  }
});
