// Golden vectors for the filter as a whole: for each connection, the literal
// header bytes the module must prepend, written from haproxy's
// doc/proxy-protocol.txt (section 2.2; CRC32C values computed with a bitwise
// Castagnoli CRC outside this project, and the first one is REFERENCE.md's
// worked example). Each vector is checked four ways:
//   1. both builds of the module, through the host, emit exactly these bytes;
//   2. our strict decoder (src/proxy-protocol) reads the expected fields;
//   3. the independent npm decoders proxy-protocol-js and
//      @balena/proxy-protocol-parser read the same addresses and ports;
//   4. real consumers from Debian: tshark's PROXY dissector, and HAProxy
//      (accept-proxy) reporting src/dst and the AUTHORITY and UNIQUE_ID TLVs.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { startPlugin } from '../../dist/host/index.js';
import { decodeProxyHeader } from '../../dist/proxy-protocol/index.js';
import { httpOverRaw, startHaproxy, tsharkDecode } from '../e2e/consumers.mjs';
import { requireTool } from '../e2e/tools.mjs';

const require = createRequire(import.meta.url);
const ppjs = require('proxy-protocol-js');
const balena = require('@balena/proxy-protocol-parser');

const MODULES = {
  release: fileURLToPath(new URL('../../build/ppv2.wasm', import.meta.url)),
  debug: fileURLToPath(new URL('../../build/ppv2.debug.wasm', import.meta.url)),
};
const SIG = '0d0a0d0a000d0a515549540a';
const PAYLOAD = Buffer.from('GET / HTTP/1.0\r\nHost: golden\r\n\r\n');
const unixPath = (p) => Buffer.from(p).toString('hex').padEnd(216, '0');

/**
 * name, the connection (Envoy's property values), the plugin configuration,
 * the literal header, and what a decoder must read from it.
 */
const VECTORS = [
  {
    name: 'TCP4, no TLVs',
    conn: { source: '1.2.3.4:5678', destination: '5.6.7.8:80' },
    config: '{}',
    hex: SIG + '2111' + '000c' + '01020304' + '05060708' + '162e' + '0050',
    expect: { command: 'PROXY', family: 'TCP4', source: ['1.2.3.4', 5678], destination: ['5.6.7.8', 80], tlvs: [] },
  },
  {
    name: 'TCP4 with CRC32C (REFERENCE.md worked example)',
    conn: { source: '1.2.3.4:5678', destination: '5.6.7.8:80' },
    config: '{"crc32c": true}',
    hex: SIG + '2111' + '0013' + '01020304' + '05060708' + '162e' + '0050' + '030004' + '6a0e9e74',
    expect: { command: 'PROXY', family: 'TCP4', source: ['1.2.3.4', 5678], destination: ['5.6.7.8', 80], tlvs: [3] },
  },
  {
    name: 'TCP4 with AUTHORITY from SNI, UNIQUE_ID from the connection id, a custom 0xEA TLV and CRC32C',
    conn: { source: '1.2.3.4:5678', destination: '5.6.7.8:80', sni: 'app.example', connectionId: 42n },
    config: JSON.stringify({
      crc32c: true,
      tlvs: [{ type: 'authority', from: 'sni' }, { type: 'unique_id', from: 'connection_id' }, { type: 0xea, hex: '0176706365' }],
    }),
    hex: SIG + '2111' + '002e' + '01020304' + '05060708' + '162e' + '0050'
      + '02000b' + '6170702e6578616d706c65' + '050002' + '3432' + 'ea0005' + '0176706365' + '030004' + '9aac5743',
    expect: { command: 'PROXY', family: 'TCP4', source: ['1.2.3.4', 5678], destination: ['5.6.7.8', 80], tlvs: [2, 5, 0xea, 3], authority: 'app.example', uniqueId: '42' },
  },
  {
    name: 'TCP6 with AUTHORITY',
    conn: { source: '[2001:db8::1]:443', destination: '[2001:db8::2]:8443', sni: 'app.example' },
    config: '{"tlvs": [{"type": "authority", "from": "sni"}]}',
    hex: SIG + '2121' + '0032' + '20010db8000000000000000000000001' + '20010db8000000000000000000000002' + '01bb' + '20fb'
      + '02000b' + '6170702e6578616d706c65',
    expect: { command: 'PROXY', family: 'TCP6', source: ['2001:db8::1', 443], destination: ['2001:db8::2', 8443], tlvs: [2], authority: 'app.example' },
  },
  {
    name: 'mixed: IPv4 client on an IPv6 destination becomes TCP6 with ::ffff:a.b.c.d',
    conn: { source: '1.2.3.4:1000', destination: '[2001:db8::2]:443' },
    config: '{}',
    hex: SIG + '2121' + '0024' + '00000000000000000000ffff01020304' + '20010db8000000000000000000000002' + '03e8' + '01bb',
    expect: { command: 'PROXY', family: 'TCP6', source: ['::ffff:1.2.3.4', 1000], destination: ['2001:db8::2', 443], tlvs: [] },
  },
  {
    name: 'both sides IPv4-mapped (as a downstream PROXY header can give them) become TCP4',
    conn: { source: '[::ffff:1.2.3.4]:5678', destination: '[::ffff:5.6.7.8]:80' },
    config: '{}',
    hex: SIG + '2111' + '000c' + '01020304' + '05060708' + '162e' + '0050',
    expect: { command: 'PROXY', family: 'TCP4', source: ['1.2.3.4', 5678], destination: ['5.6.7.8', 80], tlvs: [] },
  },
  {
    name: 'UNIX stream: both addresses are paths',
    conn: { source: '/run/app.sock', destination: '/run/app.sock' },
    config: '{}',
    hex: SIG + '2131' + '00d8' + unixPath('/run/app.sock') + unixPath('/run/app.sock'),
    expect: { command: 'PROXY', family: 'UNIX_STREAM', source: ['/run/app.sock', null], destination: ['/run/app.sock', null], tlvs: [] },
  },
  {
    name: 'LOCAL when an address is not an IP or a path (an internal listener)',
    conn: { source: 'envoy://internal_client_address/', destination: '5.6.7.8:80' },
    config: '{"tlvs": [{"type": "authority", "value": "ignored.example"}]}',
    hex: SIG + '2000' + '0000',
    expect: { command: 'LOCAL', family: 'UNSPEC', source: null, destination: null, tlvs: [] },
  },
  {
    name: 'v1 TCP4',
    conn: { source: '1.2.3.4:5678', destination: '5.6.7.8:80' },
    config: '{"version": 1}',
    hex: Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 5678 80\r\n').toString('hex'),
    expect: { version: 1, command: 'PROXY', family: 'TCP4', source: ['1.2.3.4', 5678], destination: ['5.6.7.8', 80], tlvs: [] },
  },
  {
    name: 'v1 TCP6, ports 0 and 65535',
    conn: { source: '[2001:db8::1]:0', destination: '[::1]:65535' },
    config: '{"version": 1}',
    hex: Buffer.from('PROXY TCP6 2001:db8::1 ::1 0 65535\r\n').toString('hex'),
    expect: { version: 1, command: 'PROXY', family: 'TCP6', source: ['2001:db8::1', 0], destination: ['::1', 65535], tlvs: [] },
  },
  {
    name: 'v1 UNKNOWN for a missing address',
    conn: { source: '1.2.3.4:5678', properties: { 'destination.address': null } },
    config: '{"version": 1}',
    hex: Buffer.from('PROXY UNKNOWN\r\n').toString('hex'),
    expect: { version: 1, command: 'PROXY', family: 'UNKNOWN', source: null, destination: null, tlvs: [] },
  },
];

/** The header the module prepends for `vector`, with the payload checked to follow unchanged. */
async function emitted(wasm, vector) {
  const plugin = await startPlugin({ wasm, configuration: vector.config });
  try {
    const conn = plugin.newConnection(vector.conn);
    const { forwarded, closed } = conn.downstreamData(PAYLOAD, false);
    assert.equal(closed, false);
    const out = Buffer.from(forwarded);
    assert.ok(out.subarray(out.length - PAYLOAD.length).equals(PAYLOAD), 'the payload follows the header unchanged');
    conn.close('remote');
    assert.equal(plugin.failed, false);
    return out.subarray(0, out.length - PAYLOAD.length).toString('hex');
  } finally {
    plugin.shutdown();
  }
}

const endpoint = (e) => (e === null ? null : [e.address, e.port]);

describe('the module emits the golden bytes', () => {
  for (const [build, wasm] of Object.entries(MODULES)) {
    for (const vector of VECTORS) {
      test(`${build}: ${vector.name}`, async () => {
        assert.equal(await emitted(wasm, vector), vector.hex);
      });
    }
  }
});

describe('our strict decoder reads the golden bytes', () => {
  for (const vector of VECTORS) {
    test(vector.name, () => {
      const bytes = Buffer.from(vector.hex, 'hex');
      const result = decodeProxyHeader(bytes);
      assert.equal(result.state, 'complete', result.reason);
      const h = result.header;
      assert.equal(h.length, bytes.length);
      assert.equal(h.version, vector.expect.version ?? 2);
      assert.equal(h.command, vector.expect.command);
      assert.equal(h.family, vector.expect.family);
      assert.deepEqual(endpoint(h.source), vector.expect.source);
      assert.deepEqual(endpoint(h.destination), vector.expect.destination);
      assert.deepEqual(h.tlvs.map((t) => t.type), vector.expect.tlvs);
      if (h.version === 2) assert.equal(bytes.readUInt16BE(14), bytes.length - 16, 'length field == bytes after the first 16');
    });
  }
});

describe('independent npm decoders read the golden bytes', () => {
  const ip = (vector) => vector.expect.family === 'TCP4' || vector.expect.family === 'TCP6';
  for (const vector of VECTORS.filter(ip)) {
    test(vector.name, () => {
      const bytes = Buffer.from(vector.hex, 'hex');
      const [src, sport] = vector.expect.source;
      const [dst, dport] = vector.expect.destination;
      const other = balena.decode(bytes, true);
      assert.deepEqual([canonical(other.remoteAddress), other.remotePort, canonical(other.localAddress), other.localPort], [src, sport, dst, dport]);
      if (vector.expect.version === 1) {
        const theirs = ppjs.V1ProxyProtocol.parse(bytes.toString('latin1'));
        assert.deepEqual([canonical(theirs.source.ipAddress), theirs.source.port, canonical(theirs.destination.ipAddress), theirs.destination.port], [src, sport, dst, dport]);
      } else {
        const theirs = ppjs.V2ProxyProtocol.parse(bytes);
        const a = theirs.proxyAddress;
        assert.equal(theirs.command, ppjs.Command.PROXY);
        assert.deepEqual([ipText(a.sourceAddress.address), a.sourcePort, ipText(a.destinationAddress.address), a.destinationPort], [src, sport, dst, dport]);
      }
    });
  }
});

describe('tshark dissects the golden bytes', () => {
  const V2_FAMILY = { TCP4: '0x11', TCP6: '0x21', UNIX_STREAM: '0x31', UNSPEC: '0x00' };
  for (const vector of VECTORS.filter((v) => v.expect.family !== 'UNKNOWN')) {
    test(vector.name, async (t) => {
      const tools = { tshark: requireTool(t, 'tshark'), text2pcap: requireTool(t, 'text2pcap') };
      if (!tools.tshark || !tools.text2pcap) return;
      const fields = await tsharkDecode(tools, Buffer.concat([Buffer.from(vector.hex, 'hex'), PAYLOAD]));
      const { expect } = vector;
      if (expect.version === 1) {
        assert.equal(fields['proxy.v1.proto'], expect.family);
      } else {
        assert.equal(fields['proxy.version'], '2');
        assert.equal(fields['proxy.v2.cmd'], expect.command === 'LOCAL' ? '0' : '1');
        assert.equal(Number(fields['proxy.v2.addr_family_protocol']), Number(V2_FAMILY[expect.family]));
      }
      if (expect.family === 'TCP4' || expect.family === 'TCP6') {
        const v = expect.family === 'TCP4' ? 'ipv4' : 'ipv6';
        assert.equal(canonical(fields[`proxy.src.${v}`]), expect.source[0]);
        assert.equal(canonical(fields[`proxy.dst.${v}`]), expect.destination[0]);
        assert.equal(Number(fields['proxy.srcport']), expect.source[1]);
        assert.equal(Number(fields['proxy.dstport']), expect.destination[1]);
      }
    });
  }
});

describe('HAProxy (accept-proxy) reads the golden bytes', () => {
  let haproxy;
  after(async () => { await haproxy?.stop(); });
  const consumable = VECTORS.filter((v) => v.expect.family !== 'UNIX_STREAM');
  for (const vector of consumable) {
    test(vector.name, async (t) => {
      const binary = requireTool(t, 'haproxy');
      if (!binary) return;
      haproxy ??= await startHaproxy(binary);
      const seen = await httpOverRaw(haproxy.port, Buffer.from(vector.hex, 'hex'));
      const { expect } = vector;
      if (expect.source === null) {
        // LOCAL and v1 UNKNOWN: HAProxy keeps the real connection's addresses.
        assert.equal(seen.src, '127.0.0.1');
        return;
      }
      assert.deepEqual([canonical(seen.src), Number(seen.src_port), canonical(seen.dst), Number(seen.dst_port)],
        [expect.source[0], expect.source[1], expect.destination[0], expect.destination[1]]);
      assert.equal(seen.authority, expect.authority ?? '');
      assert.equal(Buffer.from(seen.unique_id, 'hex').toString(), expect.uniqueId ?? '');
    });
  }
});

/** proxy-protocol-js gives v2 addresses as byte arrays. */
function ipText(bytes) {
  if (bytes.length === 4) return bytes.join('.');
  const groups = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  return canonical(groups.join(':'));
}

/** IPv6 text in RFC 5952 form, so that decoders that print it differently compare equal. */
function canonical(address) {
  if (typeof address !== 'string' || !address.includes(':')) return address;
  const url = new URL(`http://[${address}]/`);
  const host = url.hostname.slice(1, -1);
  // WHATWG prints ::ffff:1.2.3.4 as ::ffff:102:304; keep the dotted form decoders use.
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
  if (!mapped) return host;
  const hi = parseInt(mapped[1], 16);
  const lo = parseInt(mapped[2], 16);
  return `::ffff:${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}
