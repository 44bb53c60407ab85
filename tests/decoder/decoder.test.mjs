// The strict PROXY decoder against literal vectors written from haproxy's
// doc/proxy-protocol.txt, each positive case next to the negative ones that
// break one rule, and cross-checked against two independent npm decoders.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { crc32c, decodeProxyHeader } from '../../dist/proxy-protocol/index.js';

const require = createRequire(import.meta.url);
const ppjs = require('proxy-protocol-js');
const balena = require('@balena/proxy-protocol-parser');

/** Hex with spaces and comments-free grouping → bytes. */
const hex = (s) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const ascii = (s) => Uint8Array.from(Buffer.from(s, 'latin1'));
const concat = (...parts) => Uint8Array.from(Buffer.concat(parts.map((p) => Buffer.from(p))));
const SIG = '0d0a0d0a000d0a515549540a';

const decodeComplete = (bytes) => {
  const result = decodeProxyHeader(bytes);
  assert.equal(result.state, 'complete', result.reason);
  return result.header;
};

test('crc32c matches the check value and the RFC 3720 B.4 vectors', () => {
  assert.equal(crc32c(ascii('123456789')), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c);
});

// ---------------------------------------------------------------- v2 positive
const V2_POSITIVE = [
  {
    name: 'TCP4 with only a CRC32C TLV (the REFERENCE.md vector)',
    bytes: hex(`${SIG} 21 11 0013 01020304 05060708 162e 0050 03 0004 6a0e9e74`),
    expect: {
      version: 2, command: 'PROXY', family: 'TCP4', length: 35,
      source: { address: '1.2.3.4', port: 5678 }, destination: { address: '5.6.7.8', port: 80 },
      tlvs: [{ type: 3, name: 'PP2_TYPE_CRC32C', hex: '6a0e9e74', crc32c: '6a0e9e74' }],
    },
  },
  {
    name: 'TCP4 without TLVs, ports 0 and 65535',
    bytes: hex(`${SIG} 21 11 000c c0a80001 c0a8000b 0000 ffff`),
    expect: {
      version: 2, command: 'PROXY', family: 'TCP4', length: 28, tlvs: [],
      source: { address: '192.168.0.1', port: 0 }, destination: { address: '192.168.0.11', port: 65535 },
    },
  },
  {
    name: 'TCP6',
    bytes: hex(`${SIG} 21 21 0024 20010db8000000000000000000000001 20010db8000000000000000000000002 04d2 01bb`),
    expect: {
      version: 2, command: 'PROXY', family: 'TCP6', length: 52, tlvs: [],
      source: { address: '2001:db8::1', port: 1234 }, destination: { address: '2001:db8::2', port: 443 },
    },
  },
  {
    name: 'TCP6 with IPv4-mapped addresses in mixed notation',
    bytes: hex(`${SIG} 21 21 0024 00000000000000000000ffff7f000002 00000000000000000000ffff0a000001 c350 0050`),
    expect: {
      version: 2, command: 'PROXY', family: 'TCP6', length: 52, tlvs: [],
      source: { address: '::ffff:127.0.0.2', port: 50000 }, destination: { address: '::ffff:10.0.0.1', port: 80 },
    },
  },
  {
    name: 'UDP4 is decoded, not mistaken for TCP',
    bytes: hex(`${SIG} 21 12 000c 7f000001 7f000001 0035 0035`),
    expect: {
      version: 2, command: 'PROXY', family: 'UDP4', length: 28, tlvs: [],
      source: { address: '127.0.0.1', port: 53 }, destination: { address: '127.0.0.1', port: 53 },
    },
  },
  {
    name: 'UNIX stream: NUL-padded 108-byte paths',
    bytes: concat(hex(`${SIG} 21 31 00d8`), padded('/run/a.sock', 108), padded('/run/b.sock', 108)),
    expect: {
      version: 2, command: 'PROXY', family: 'UNIX_STREAM', length: 232, tlvs: [],
      source: { address: '/run/a.sock', port: null }, destination: { address: '/run/b.sock', port: null },
    },
  },
  {
    name: 'UNIX stream: a Linux abstract socket (sun_path starts with a NUL) reads back as "@name", as Envoy prints it',
    bytes: concat(hex(`${SIG} 21 31 00d8`), padded('\0envoy.admin', 108), padded('', 108)),
    expect: {
      version: 2, command: 'PROXY', family: 'UNIX_STREAM', length: 232, tlvs: [],
      source: { address: '@envoy.admin', port: null }, destination: { address: '', port: null },
    },
  },
  {
    name: 'LOCAL with UNSPEC and length 0',
    bytes: hex(`${SIG} 20 00 0000`),
    expect: { version: 2, command: 'LOCAL', family: 'UNSPEC', length: 16, source: null, destination: null, tlvs: [] },
  },
  {
    name: 'LOCAL ignores an address block it carries ("discard the protocol block")',
    bytes: hex(`${SIG} 20 11 000c 01020304 05060708 0001 0002`),
    expect: { version: 2, command: 'LOCAL', family: 'TCP4', length: 28, source: null, destination: null, tlvs: [] },
  },
  {
    name: 'PROXY with UNSPEC: addresses ignored, TLVs still read',
    bytes: hex(`${SIG} 21 00 0004 04 0001 00`),
    expect: {
      version: 2, command: 'PROXY', family: 'UNSPEC', length: 20, source: null, destination: null,
      tlvs: [{ type: 4, name: 'PP2_TYPE_NOOP', hex: '00' }],
    },
  },
  {
    name: 'every registered TLV is named and its value decoded',
    // ALPN "h2", AUTHORITY "example.com", NOOP(0), UNIQUE_ID "id-1", NETNS "ns",
    // custom 0xEA (AWS VPC endpoint: subtype 01 "vpce-1"), SSL (client 0x05,
    // verify 0, VERSION "TLSv1.3", CN "client", CIPHER "AES", GROUP "x25519")
    bytes: hex(`${SIG} 21 11 0062 7f000002 7f000001 d431 2710
      01 0002 6832
      02 000b 6578616d706c652e636f6d
      04 0000
      05 0004 69642d31
      30 0002 6e73
      ea 0007 01 767063652d31
      20 0027 05 00000000
         21 0007 544c5376312e33
         22 0006 636c69656e74
         23 0003 414553
         26 0006 783235353139`),
    expect: {
      version: 2, command: 'PROXY', family: 'TCP4', length: 114,
      source: { address: '127.0.0.2', port: 54321 }, destination: { address: '127.0.0.1', port: 10000 },
      tlvs: [
        { type: 0x01, name: 'PP2_TYPE_ALPN', hex: '6832', text: 'h2' },
        { type: 0x02, name: 'PP2_TYPE_AUTHORITY', hex: '6578616d706c652e636f6d', text: 'example.com' },
        { type: 0x04, name: 'PP2_TYPE_NOOP', hex: '' },
        { type: 0x05, name: 'PP2_TYPE_UNIQUE_ID', hex: '69642d31', text: 'id-1' },
        { type: 0x30, name: 'PP2_TYPE_NETNS', hex: '6e73', text: 'ns' },
        { type: 0xea, name: 'PP2_TYPE_CUSTOM(0xea)', hex: '01767063652d31' },
        {
          type: 0x20, name: 'PP2_TYPE_SSL',
          hex: '0500000000210007544c5376312e33220006636c69656e74230003414553260006783235353139',
          ssl: {
            client: 5, clientFlags: ['PP2_CLIENT_SSL', 'PP2_CLIENT_CERT_SESS'], verify: 0,
            subTlvs: [
              { type: 0x21, name: 'PP2_SUBTYPE_SSL_VERSION', hex: '544c5376312e33', text: 'TLSv1.3' },
              { type: 0x22, name: 'PP2_SUBTYPE_SSL_CN', hex: '636c69656e74', text: 'client' },
              { type: 0x23, name: 'PP2_SUBTYPE_SSL_CIPHER', hex: '414553', text: 'AES' },
              { type: 0x26, name: 'PP2_SUBTYPE_SSL_GROUP', hex: '783235353139', text: 'x25519' },
            ],
          },
        },
      ],
    },
  },
  {
    name: 'UNIQUE_ID of exactly 128 bytes is accepted',
    bytes: concat(hex(`${SIG} 21 11 008f 01020304 05060708 0001 0002 05 0080`), new Uint8Array(128).fill(0x41)),
    expect: {
      version: 2, command: 'PROXY', family: 'TCP4', length: 159,
      source: { address: '1.2.3.4', port: 1 }, destination: { address: '5.6.7.8', port: 2 },
      tlvs: [{ type: 5, name: 'PP2_TYPE_UNIQUE_ID', hex: '41'.repeat(128), text: 'A'.repeat(128) }],
    },
  },
];

for (const { name, bytes, expect } of V2_POSITIVE) {
  test(`v2 decodes: ${name}`, () => {
    assert.deepEqual(decodeComplete(bytes), expect);
    // Invariant from the spec: the header is exactly 16 + the length field.
    assert.equal(expect.length, 16 + ((bytes[14] << 8) | bytes[15]));
  });
}

test('v2: the header length is where the payload starts; payload bytes are not TLVs', () => {
  const bytes = concat(hex(`${SIG} 21 11 000c 01020304 05060708 0001 0002`), ascii('GET / HTTP/1.0\r\n\r\n'));
  const header = decodeComplete(bytes);
  assert.equal(header.length, 28);
  assert.deepEqual(header.tlvs, []);
});

test('v2: decoding never modifies the caller\'s bytes, also when they are a Buffer', () => {
  const original = hex(`${SIG} 21 11 0013 01020304 05060708 162e 0050 03 0004 6a0e9e74`);
  const buffer = Buffer.from(original);
  decodeComplete(buffer);
  assert.deepEqual(Uint8Array.from(buffer), original);
  decodeComplete(buffer); // and the CRC still verifies the second time
});

test('v2: the maximum header (16 + 65535 bytes) decodes', () => {
  // TCP4 block (12) + one NOOP of 65520 value bytes (3 + 65520) = 65535.
  const bytes = concat(hex(`${SIG} 21 11 ffff 01020304 05060708 0001 0002 04 fff0`), new Uint8Array(0xfff0));
  const header = decodeComplete(bytes);
  assert.equal(header.length, 16 + 65535);
  assert.equal(header.tlvs.length, 1);
  assert.equal(header.tlvs[0].name, 'PP2_TYPE_NOOP');
});

// ---------------------------------------------------------------- v2 negative
const V2_MALFORMED = [
  ['version nibble 1', `${SIG} 11 11 000c 01020304 05060708 0001 0002`, /version nibble is 1/],
  ['version nibble 3', `${SIG} 31 11 000c 01020304 05060708 0001 0002`, /version nibble is 3/],
  ['command 0x2', `${SIG} 22 11 000c 01020304 05060708 0001 0002`, /command is 0x2/],
  ['family 4', `${SIG} 21 41 000c 01020304 05060708 0001 0002`, /family\/transport byte 0x41/],
  ['transport 3', `${SIG} 21 13 000c 01020304 05060708 0001 0002`, /family\/transport byte 0x13/],
  ['UNSPEC family with STREAM transport', `${SIG} 21 01 0000`, /family\/transport byte 0x01/],
  ['length shorter than the IPv4 block', `${SIG} 21 11 000b 01020304 05060708 0001 00`, /length field is 11, shorter than the 12-byte address block of TCP4/],
  ['length shorter than the IPv6 block', `${SIG} 21 21 000c 01020304 05060708 0001 0002`, /shorter than the 36-byte address block of TCP6/],
  ['length shorter than the UNIX block', `${SIG} 21 31 000c 01020304 05060708 0001 0002`, /shorter than the 216-byte address block of UNIX_STREAM/],
  ['1 stray byte after the addresses', `${SIG} 21 11 000d 01020304 05060708 0001 0002 00`, /truncated: 1 bytes left/],
  ['2 stray bytes after the addresses', `${SIG} 21 11 000e 01020304 05060708 0001 0002 0400`, /truncated: 2 bytes left/],
  ['TLV value running past the header', `${SIG} 21 11 0010 01020304 05060708 0001 0002 02 0002 61`, /PP2_TYPE_AUTHORITY at offset 0 declares 2 value bytes but only 1 remain/],
  ['CRC32C mismatch (one address bit flipped)', `${SIG} 21 11 0013 01020305 05060708 162e 0050 03 0004 6a0e9e74`, /PP2_TYPE_CRC32C mismatch: header carries 0x6a0e9e74, computed 0x/],
  ['CRC32C of 3 bytes', `${SIG} 21 11 0012 01020304 05060708 162e 0050 03 0003 6a0e9e`, /PP2_TYPE_CRC32C has 3 value bytes, not 4/],
  ['two CRC32C TLVs', `${SIG} 21 11 001a 01020304 05060708 162e 0050 03 0004 00000000 03 0004 00000000`, /PP2_TYPE_CRC32C appears more than once/],
  ['NETNS that is not US-ASCII', `${SIG} 21 11 0010 01020304 05060708 0001 0002 30 0001 c3`, /PP2_TYPE_NETNS is not US-ASCII/],
  ['SSL shorter than client + verify', `${SIG} 21 11 0013 01020304 05060708 0001 0002 20 0004 01000000`, /PP2_TYPE_SSL has 4 value bytes, fewer than client\(1\) \+ verify\(4\)/],
  ['SSL sub-TLV running past the SSL TLV', `${SIG} 21 11 0018 01020304 05060708 0001 0002 20 0009 01 00000000 21 0005 41`, /inside PP2_TYPE_SSL: PP2_SUBTYPE_SSL_VERSION at offset 5 declares 5 value bytes but only 1 remain/],
  ['AUTHORITY that is not UTF-8', `${SIG} 21 11 0011 01020304 05060708 0001 0002 02 0002 c328`, /PP2_TYPE_AUTHORITY is not valid UTF-8 \(hex c328\)/],
  ['an SSL sub-TLV of 2 bytes', `${SIG} 21 11 0016 01020304 05060708 0001 0002 20 0007 01 00000000 2100`, /inside PP2_TYPE_SSL: TLV at offset 5 is truncated: 2 bytes left/],
  ['SSL VERSION that is not UTF-8', `${SIG} 21 11 0019 01020304 05060708 0001 0002 20 000a 01 00000000 21 0002 ff41`, /PP2_SUBTYPE_SSL_VERSION is not valid UTF-8/],
  ['UNIQUE_ID of 129 bytes', `${SIG} 21 11 0090 01020304 05060708 0001 0002 05 0081 ${'41'.repeat(129)}`, /PP2_TYPE_UNIQUE_ID is 129 bytes, more than the spec's 128/],
  ['a corrupted signature (byte 5 is 0x01)', `0d0a0d0a010d0a515549540a 21 11 000c 01020304 05060708 0001 0002`, /no PROXY header: the stream starts with 0d 0a 0d 0a 01/],
];

for (const [name, bytes, reason] of V2_MALFORMED) {
  test(`v2 rejects: ${name}`, () => {
    const result = decodeProxyHeader(hex(bytes));
    assert.equal(result.state, 'malformed', `expected malformed, got ${JSON.stringify(result)}`);
    assert.match(result.reason, reason);
    assert.doesNotMatch(result.reason, /\n/);
  });
}

test('v2: every strict prefix of a valid header is incomplete, never malformed', () => {
  for (const { bytes } of V2_POSITIVE) {
    for (let n = 0; n < bytes.length; n++) {
      const result = decodeProxyHeader(bytes.subarray(0, n));
      assert.equal(result.state, 'incomplete', `prefix of ${n} bytes: ${JSON.stringify(result)}`);
    }
  }
});

test('v2: a length field larger than the bytes received is incomplete', () => {
  const result = decodeProxyHeader(hex(`${SIG} 21 11 0100 01020304 05060708 0001 0002`));
  assert.equal(result.state, 'incomplete');
  assert.match(result.reason, /length field says 272 bytes in all, have 28/);
});

// ---------------------------------------------------------------- v1
const V1_POSITIVE = [
  ['the spec\'s example line, followed by the request', 'PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n',
    { family: 'TCP4', source: { address: '192.168.0.1', port: 56324 }, destination: { address: '192.168.0.11', port: 443 }, length: 47 }],
  ['TCP4 with ports 0 and 65535', 'PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n',
    { family: 'TCP4', source: { address: '0.0.0.0', port: 0 }, destination: { address: '255.255.255.255', port: 65535 }, length: 44 }],
  ['TCP6, printed in RFC 5952 form', 'PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::1 1234 80\r\n',
    { family: 'TCP6', source: { address: '2001:db8::1', port: 1234 }, destination: { address: '::1', port: 80 }, length: 45 }],
  ['TCP6 at the longest the spec allows (104 bytes)', `PROXY TCP6 ${'ffff:'.repeat(7)}ffff ${'ffff:'.repeat(7)}ffff 65535 65535\r\n`,
    { family: 'TCP6', source: { address: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', port: 65535 }, destination: { address: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', port: 65535 }, length: 104 }],
  ['UNKNOWN, short form', 'PROXY UNKNOWN\r\n', { family: 'UNKNOWN', source: null, destination: null, length: 15 }],
  ['UNKNOWN, worst case of 107 bytes: the rest of the line is ignored', `PROXY UNKNOWN ${'ffff:'.repeat(7)}ffff ${'ffff:'.repeat(7)}ffff 65535 65535\r\n`,
    { family: 'UNKNOWN', source: null, destination: null, length: 107 }],
];

for (const [name, text, expect] of V1_POSITIVE) {
  test(`v1 decodes: ${name}`, () => {
    assert.deepEqual(decodeComplete(ascii(text)), { version: 1, command: 'PROXY', tlvs: [], ...expect });
  });
}

const V1_MALFORMED = [
  ['a leading zero in an IPv4 octet', 'PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n', /source: IPv4 address "01.2.3.4" has "01"/],
  ['an octet over 255', 'PROXY TCP4 1.2.3.4 5.6.7.256 1 2\r\n', /destination: IPv4 address "5.6.7.256" has 256, more than 255/],
  ['three octets', 'PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n', /does not have 4 dot-separated numbers/],
  ['a leading zero in a port', 'PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n', /source port: "080" is not a decimal number without leading zeros/],
  ['port 65536', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n', /destination port: 65536 is more than 65535/],
  ['a double space', 'PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n', /with single spaces/],
  ['a missing port', 'PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n', /with single spaces/],
  ['a trailing space', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n', /with single spaces/],
  ['TCP4 carrying IPv6 addresses', 'PROXY TCP4 ::1 ::1 1 2\r\n', /source: IPv4 address "::1".*\(family TCP4\)/],
  ['TCP6 carrying IPv4 addresses', 'PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n', /source: IPv6 address "1.2.3.4" has "1.2.3.4".*\(family TCP6\)/],
  ['IPv6 with an embedded dotted quad', 'PROXY TCP6 ::ffff:1.2.3.4 ::1 1 2\r\n', /IPv6 address "::ffff:1.2.3.4" has "1.2.3.4"/],
  ['IPv6 with two "::"', 'PROXY TCP6 1::2::3 ::1 1 2\r\n', /has more than one "::"/],
  ['IPv6 with 7 groups and no "::"', 'PROXY TCP6 1:2:3:4:5:6:7 ::1 1 2\r\n', /has 7 groups, not 8/],
  ['IPv6 with a 5-digit group', 'PROXY TCP6 12345::1 ::1 1 2\r\n', /"12345", not a group of 1 to 4 hex digits/],
  ['protocol TCP5', 'PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n', /protocol "TCP5" is not TCP4, TCP6 or UNKNOWN/],
  ['lower-case tcp4', 'PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n', /protocol "tcp4"/],
  ['a lone LF', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n', /LF at offset 30 without CR before it/],
  ['a CR not followed by LF', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX', /CR at offset 30 is not followed by LF/],
  ['a non-ASCII byte', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 \u00e92\r\n', /byte 0xe9 at offset 29 is not printable US-ASCII/],
  ['no CRLF in the first 107 bytes', `PROXY UNKNOWN ${'x'.repeat(100)}`, /no CRLF within the first 107 bytes/],
  ['a CRLF that ends at byte 108', `PROXY UNKNOWN ${'x'.repeat(92)}\r\n`, /no CRLF within the first 107 bytes/],
  ['"PROXYTCP4" without the space', 'PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n', /no PROXY header/],
  ['an HTTP request instead of a header', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', /no PROXY header: the stream starts with 47 45 54 20 .*\("GET \/ HTTP\/1.1\.\."\)/],
];

for (const [name, text, reason] of V1_MALFORMED) {
  test(`v1 rejects: ${name}`, () => {
    const result = decodeProxyHeader(ascii(text));
    assert.equal(result.state, 'malformed', `expected malformed, got ${JSON.stringify(result)}`);
    assert.match(result.reason, reason);
  });
}

test('v1: every strict prefix of a valid line is incomplete', () => {
  for (const [, text] of V1_POSITIVE) {
    const line = ascii(text.slice(0, text.indexOf('\r\n') + 2));
    for (let n = 0; n < line.length; n++) {
      const result = decodeProxyHeader(line.subarray(0, n));
      assert.equal(result.state, 'incomplete', `prefix of ${n} bytes: ${JSON.stringify(result)}`);
    }
  }
});

// ------------------------------------------------- cross-check, independent decoders
test('the positive vectors agree with proxy-protocol-js and @balena/proxy-protocol-parser', () => {
  let checked = 0;
  for (const { bytes, expect } of V2_POSITIVE) {
    if (expect.command !== 'PROXY' || !['TCP4', 'TCP6'].includes(expect.family)) continue;
    const theirs = ppjs.V2ProxyProtocol.parse(bytes);
    assert.equal(theirs.command, ppjs.Command.PROXY);
    assert.equal(ipv(theirs.proxyAddress.sourceAddress.address), canonical(expect.source.address));
    assert.equal(ipv(theirs.proxyAddress.destinationAddress.address), canonical(expect.destination.address));
    assert.equal(theirs.proxyAddress.sourcePort, expect.source.port);
    assert.equal(theirs.proxyAddress.destinationPort, expect.destination.port);
    const other = balena.decode(Buffer.from(bytes));
    assert.equal(canonical(other.remoteAddress), canonical(expect.source.address));
    assert.equal(canonical(other.localAddress), canonical(expect.destination.address));
    assert.equal(other.remotePort, expect.source.port);
    assert.equal(other.localPort, expect.destination.port);
    checked++;
  }
  for (const [, text, expect] of V1_POSITIVE) {
    if (expect.family === 'UNKNOWN') continue;
    const theirs = ppjs.V1ProxyProtocol.parse(text);
    assert.equal(canonical(theirs.source.ipAddress), canonical(expect.source.address));
    assert.equal(theirs.destination.port, expect.destination.port);
    const other = balena.decode(Buffer.from(text, 'latin1'));
    assert.equal(canonical(other.remoteAddress), canonical(expect.source.address));
    assert.equal(other.localPort, expect.destination.port);
    checked++;
  }
  assert.ok(checked >= 8, `only ${checked} vectors were cross-checked`);
});

test('random v2 headers built by proxy-protocol-js decode to the same endpoints', () => {
  const random = seeded(0x5eed);
  for (let i = 0; i < 300; i++) {
    const six = i % 2 === 1;
    const n = six ? 16 : 4;
    const src = Array.from({ length: n }, () => random() & 0xff);
    const dst = Array.from({ length: n }, () => random() & 0xff);
    const sport = random() & 0xffff;
    const dport = random() & 0xffff;
    const address = six
      ? new ppjs.IPv6ProxyAddress(ppjs.IPv6Address.createFrom(src), sport, ppjs.IPv6Address.createFrom(dst), dport)
      : new ppjs.IPv4ProxyAddress(ppjs.IPv4Address.createFrom(src), sport, ppjs.IPv4Address.createFrom(dst), dport);
    const bytes = new ppjs.V2ProxyProtocol(ppjs.Command.PROXY, ppjs.TransportProtocol.STREAM, address).build();
    const header = decodeComplete(bytes);
    assert.equal(header.family, six ? 'TCP6' : 'TCP4');
    assert.equal(canonical(header.source.address), ipv(src));
    assert.equal(canonical(header.destination.address), ipv(dst));
    assert.equal(header.source.port, sport);
    assert.equal(header.destination.port, dport);
    // Our IPv6 text must be what a standard parser reads back to the same bytes.
    if (six) assert.equal(canonical(header.source.address), canonical(new URL(`http://[${header.source.address}]`).hostname.slice(1, -1)));
  }
});

test('random v1 lines built by proxy-protocol-js decode to the same endpoints', () => {
  const random = seeded(0xc0ffee);
  for (let i = 0; i < 300; i++) {
    const six = i % 2 === 1;
    const src = six ? ipv(Array.from({ length: 16 }, () => random() & 0xff)) : ipv(Array.from({ length: 4 }, () => random() & 0xff));
    const dst = six ? ipv(Array.from({ length: 16 }, () => random() & 0xff)) : ipv(Array.from({ length: 4 }, () => random() & 0xff));
    const sport = random() & 0xffff;
    const dport = random() & 0xffff;
    const text = new ppjs.V1ProxyProtocol(
      six ? ppjs.INETProtocol.TCP6 : ppjs.INETProtocol.TCP4,
      new ppjs.Peer(src, sport), new ppjs.Peer(dst, dport),
    ).build();
    const header = decodeComplete(ascii(text));
    assert.equal(canonical(header.source.address), src);
    assert.equal(canonical(header.destination.address), dst);
    assert.deepEqual([header.source.port, header.destination.port], [sport, dport]);
  }
});

// ------------------------------------------------------------------ helpers
function padded(text, size) {
  const out = new Uint8Array(size);
  out.set(Buffer.from(text));
  return out;
}

/** WHATWG URL's host serializer: an independent canonical form for both families. */
function canonical(address) {
  if (!address.includes(':')) return new URL(`http://${address}`).hostname;
  return new URL(`http://[${address}]`).hostname.slice(1, -1);
}

/** Address bytes → canonical text, without our formatter. */
function ipv(bytes) {
  if (bytes.length === 4) return bytes.join('.');
  const groups = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  return canonical(groups.join(':'));
}

function seeded(seed) {
  let s = seed >>> 0;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s;
  };
}
