// Seeded generators for the fuzzer: plugin configurations (valid, near-valid,
// garbage, huge, deeply nested), connection properties of every shape Envoy
// can hand the filter (and many it never would), and the order and chunking
// of the bytes both ways. Everything derives from one 32-bit seed per case,
// so a failing case is reproduced from (seed, case index) alone.

/** mulberry32: small, fast, good enough to drive a fuzzer; not for secrets. */
export function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const r = {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)), // inclusive
    chance: (p) => next() < p,
    pick: (list) => list[Math.floor(next() * list.length)],
    bytes: (n) => {
      const out = Buffer.alloc(n);
      for (let k = 0; k < n; k++) out[k] = Math.floor(next() * 256);
      return out;
    },
    /** Mostly small lengths, sometimes large ones. */
    length: (max) => (next() < 0.8 ? r.int(0, Math.min(max, 40)) : r.int(0, max)),
  };
  return r;
}

/** The seed of case `index` of a run seeded with `seed`. */
export function caseSeed(seed, index) {
  let h = (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

const KIB64 = 64 * 1024;

// ------------------------------------------------------------------ addresses

const ipv4 = (r) => [r.int(0, 255), r.int(0, 255), r.int(0, 255), r.int(0, 255)];
const port = (r) => r.pick([0, 1, 80, 443, 65535, r.int(0, 65535)]);

function ipv6Groups(r) {
  const g = Array.from({ length: 8 }, () => (r.chance(0.4) ? 0 : r.int(0, 0xffff)));
  if (r.chance(0.2)) return [0, 0, 0, 0, 0, 0, 0, 1];
  if (r.chance(0.1)) return [0, 0, 0, 0, 0, 0xffff, r.int(0, 0xffff), r.int(0, 0xffff)];
  return g;
}

/** One IPv6 address as text, in one of the spellings RFC 4291 allows. */
function ipv6Text(r, groups) {
  const hex = (x) => x.toString(16);
  const style = r.int(0, 4);
  if (style === 0) return groups.map((x) => hex(x).padStart(4, '0')).join(':');
  if (style === 1) return groups.map(hex).join(':').toUpperCase();
  if (style === 2) {
    // Embedded IPv4 in the last 32 bits.
    const q = [groups[6] >> 8, groups[6] & 255, groups[7] >> 8, groups[7] & 255].join('.');
    return `${groups.slice(0, 6).map(hex).join(':')}:${q}`;
  }
  // Compress one run of zero groups with "::" (not necessarily the longest).
  const runs = [];
  for (let k = 0; k < 8; k++) if (groups[k] === 0) {
    let e = k;
    while (e < 8 && groups[e] === 0) e++;
    runs.push([k, e]);
    k = e;
  }
  if (runs.length === 0) return groups.map(hex).join(':');
  const [s, e] = r.pick(runs);
  return `${groups.slice(0, s).map(hex).join(':')}::${groups.slice(e).map(hex).join(':')}`;
}

/** An Envoy address value: a string (or raw bytes) of every shape, valid or not; null for missing. */
export function address(r) {
  switch (r.int(0, 13)) {
    case 0:
    case 1:
    case 2:
      return `${ipv4(r).join('.')}:${port(r)}`;
    case 3:
    case 4:
      return `[${ipv6Text(r, ipv6Groups(r))}]:${port(r)}`;
    case 5:
      return `[::ffff:${ipv4(r).join('.')}]:${port(r)}`;
    case 6:
      return `[fe80::${r.int(1, 0xffff).toString(16)}%${r.pick(['eth0', '1', 'en0.5', 'x'.repeat(15), 'x'.repeat(16), '', 'a b'])}]:${port(r)}`;
    case 7: {
      const len = r.pick([1, 5, 20, 106, 107, 108, 200]);
      const abstract = r.chance(0.3);
      const body = Buffer.alloc(len, 'p');
      body[0] = abstract ? 0x40 : 0x2f;
      if (r.chance(0.2)) body[Math.min(len - 1, 3)] = r.pick([0x00, 0xff, 0xc3]);
      return r.chance(0.5) ? body.toString('latin1').replace(/[^\x20-\x7e]/g, 'q') : body;
    }
    case 8:
      return r.pick(['envoy://internal_listener/x', 'envoy://', '', ':', '[::1]', '[::1]:', '1.2.3.4', '1.2.3.4:', '1.2.3.4:65536',
        '01.2.3.4:80', '1.2.3.4:080', '256.1.1.1:1', '1.2.3:4', '1.2.3.4.5:6', '[1::2::3]:1', '[:::1]:1', '[1:2:3:4:5:6:7:8:9]:1',
        '[1:2:3:4:5:6:7::]:1', '[::1.2.3.4]:5', '[12345::]:1', '[::g]:1', '[]:1', ' 1.2.3.4:5', '1.2.3.4:5 ', '[::1]:5x', '1.2.3.4:-1']);
    case 9:
      return r.bytes(r.length(300)); // not UTF-8, usually
    case 10:
      return 'x'.repeat(KIB64);
    case 11:
      return `${'1'.repeat(KIB64)}.2.3.4:5`;
    case 12:
      return null;
    default:
      return r.bytes(r.int(0, 8)).toString('latin1');
  }
}

/** A property value of any shape the host can encode: strings, bytes, numbers, booleans, missing. */
function propertyValue(r) {
  switch (r.int(0, 9)) {
    case 0:
      return '';
    case 1:
      return 'v'.repeat(r.int(1, 200));
    case 2:
      return Buffer.alloc(r.pick([KIB64, KIB64 - 300, 65300, 200_000]), 'w').toString();
    case 3:
      return r.bytes(r.length(400));
    case 4:
      return BigInt(r.int(0, 0xffffffff)) * 4294967296n + BigInt(r.int(0, 0xffffffff));
    case 5:
      return r.chance(0.5);
    case 6:
      return null;
    case 7:
      return 'é☃\u{1f600}'.repeat(r.int(1, 50));
    case 8:
      return 'u'.repeat(r.pick([127, 128, 129]));
    default:
      return r.bytes(r.pick([1, 8, 129]));
  }
}

const SUBJECTS = [
  'CN=client.example,O=Example', 'O=Example,CN=client', 'cn=lower', 'CN=', 'CN=#0403616263', 'CN=a\\,b\\+c',
  'CN=\\41\\42', 'CN=tail\\', 'OU=x\\,CN=not,CN=yes', 'CN=' + 'c'.repeat(192), 'CN=' + 'c'.repeat(193), 'O=only', '',
  'CN=a+OU=b', 'OU=b+CN=a', 'CN=\\e2\\98\\83', 'CN=\\zz', ',CN=after-empty', 'CN=\\ff', 'O=x\\', 'CN=' + '\\41'.repeat(192),
];

/** Property paths a configuration may name, and what a connection may put there. */
export const PROPERTY_PATHS = [
  'custom.value', ['custom', 'dotted.key'], 'source.port', 'destination.address', 'connection.id', 'connection_id',
  'plugin_name', 'missing.never.set', 'source', 'connection.requested_server_name',
];

/** A connection's properties: what ConnectionProps a proxy would give the host. */
export function connectionProps(r) {
  const props = { properties: {} };
  // Most connections have two addresses Envoy would really print; the rest get anything.
  const kind = r.chance(0.65) ? r.pick(['ipv4', 'ipv4', 'ipv6', 'mixed', 'unix']) : 'any';
  const valid = () =>
    kind === 'ipv4' ? `${ipv4(r).join('.')}:${port(r)}`
    : kind === 'ipv6' ? `[${ipv6Text(r, ipv6Groups(r))}]:${port(r)}`
    : kind === 'unix' ? `${r.pick(['/', '@'])}${'s'.repeat(r.int(0, 106))}`
    : r.chance(0.5) ? `${ipv4(r).join('.')}:${port(r)}` : `[${ipv6Text(r, ipv6Groups(r))}]:${port(r)}`;
  const src = kind === 'any' ? address(r) : valid();
  const dst = kind === 'any' ? address(r) : valid();
  // Addresses arrive either as the connection's own (strings only) or as property overrides (any bytes).
  for (const [key, value] of [['source', src], ['destination', dst]]) {
    if (typeof value === 'string' && r.chance(0.6)) props[key] = value;
    else if (value !== null || r.chance(0.5)) props.properties[`${key}.address`] = value;
  }
  if (r.chance(0.5)) props.sni = r.pick(['', 'a.example', 'ü.example', 's'.repeat(KIB64), 'x'.repeat(r.int(1, 300))]);
  if (r.chance(0.5)) props.connectionId = r.pick([0n, 1n, (1n << 64n) - 1n, BigInt(r.int(0, 2 ** 31))]);
  if (r.chance(0.3)) props.properties['connection_id'] = r.pick([r.bytes(8), r.bytes(3), '', null]);
  if (r.chance(0.4)) props.properties['connection.tls_version'] = r.pick(['TLSv1.3', 'TLSv1.2', '', null, 't'.repeat(64), 't'.repeat(65), 't'.repeat(100)]);
  if (r.chance(0.4)) props.properties['connection.mtls'] = r.pick([true, false, '', r.bytes(2)]);
  if (r.chance(0.4)) props.properties['connection.subject_peer_certificate'] = r.chance(0.8) ? r.pick(SUBJECTS) : r.bytes(r.length(300));
  if (r.chance(0.7)) props.properties['custom.value'] = propertyValue(r);
  if (r.chance(0.5)) props.properties['custom\0dotted.key'] = propertyValue(r);
  return props;
}

// ------------------------------------------------------------------ byte streams

/** A client's payload: random bytes, sometimes its own PROXY header or a prefix of one. */
export function payload(r) {
  const body = r.bytes(r.chance(0.05) ? r.int(KIB64, 3 * KIB64) : r.length(3000));
  switch (r.int(0, 9)) {
    case 0:
      return Buffer.concat([Buffer.from('PROXY TCP4 6.6.6.6 7.7.7.7 1 2\r\n'), body]);
    case 1:
      return Buffer.concat([Buffer.from('0d0a0d0a000d0a515549540a2111000c0606060607070707000100020000', 'hex'), body]);
    case 2: {
      // A prefix of a signature: under 5 bytes (a SIP keep-alive looks like one) or more.
      const sig = r.chance(0.5) ? Buffer.from('PROXY ') : Buffer.from('0d0a0d0a000d0a515549540a', 'hex');
      return Buffer.concat([sig.subarray(0, r.int(1, sig.length - 1)), r.chance(0.5) ? Buffer.alloc(0) : body]);
    }
    case 3:
      return Buffer.alloc(0);
    default:
      return body;
  }
}

/** Splits `bytes` into chunks, some empty. */
export function chunk(r, bytes) {
  const chunks = [];
  let at = 0;
  while (at < bytes.length) {
    if (r.chance(0.1)) chunks.push(Buffer.alloc(0));
    const n = r.chance(0.3) ? 1 : r.int(1, Math.max(1, Math.min(bytes.length - at, r.pick([2, 13, 100, 4096, 100_000]))));
    chunks.push(bytes.subarray(at, at + n));
    at += n;
  }
  if (chunks.length === 0 || r.chance(0.1)) chunks.push(Buffer.alloc(0));
  return chunks;
}

/**
 * The events of one connection in order: [{ dir: 'down'|'up', bytes, eos }].
 * Upstream bytes may come first (a server that speaks first); end_of_stream
 * comes at most once per direction, on its last event.
 */
export function events(r, down) {
  const downChunks = chunk(r, down).map((bytes) => ({ dir: 'down', bytes, eos: false }));
  const upChunks = r.chance(0.5) ? chunk(r, r.bytes(r.length(2000))).map((bytes) => ({ dir: 'up', bytes, eos: false })) : [];
  if (r.chance(0.6)) downChunks[downChunks.length - 1].eos = true;
  if (upChunks.length > 0 && r.chance(0.5)) upChunks[upChunks.length - 1].eos = true;
  const out = [];
  if (r.chance(0.3) && upChunks.length > 0) out.push(upChunks.shift()); // upstream data first
  while (downChunks.length > 0 || upChunks.length > 0) {
    const takeUp = upChunks.length > 0 && (downChunks.length === 0 || r.chance(0.3));
    out.push(takeUp ? upChunks.shift() : downChunks.shift());
  }
  return out;
}

// ------------------------------------------------------------------ configurations

const TLV_TYPES = ['alpn', 'authority', 'unique_id', 'netns', 'noop', 1, 2, 4, 5, 0x30, 0xe0, 0xea, 0xef, 0xf0, 0xf7];

function validTlv(r) {
  const type = r.pick(TLV_TYPES);
  switch (r.int(0, 5)) {
    case 0: {
      const ascii = type === 'netns' || type === 0x30;
      const max = type === 'unique_id' || type === 5 ? 128 : 300;
      const len = r.int(0, max);
      return { type, value: ascii ? 'n'.repeat(len) : r.pick(['', 'v'.repeat(len), 'é'.repeat(Math.floor(len / 2)), '\u0000\u001f"\\']) };
    }
    case 1:
      return { type, hex: r.bytes(r.int(0, type === 'unique_id' || type === 5 || type === 'netns' || type === 0x30 ? 0 : 200)).toString('hex') };
    case 2:
      return { type, property: r.pick(PROPERTY_PATHS) };
    case 3:
      return { type, from: r.pick(['sni', 'connection_id']) };
    case 4: {
      const ssl = r.chance(0.5) ? { from: 'ssl' } : { type: 0x20, from: 'ssl' };
      if (r.chance(0.5)) ssl.listener_verifies_client_cert = r.chance(0.5);
      return ssl;
    }
    default:
      return { type: 0xe1, value: 'x'.repeat(r.pick([1000, 20000, 32000])) };
  }
}

/** A valid configuration object (JSON-able). */
export function validConfig(r) {
  const c = {};
  const version = r.chance(0.15) ? 1 : r.chance(0.5) ? 2 : undefined;
  if (version !== undefined) c.version = version;
  if (r.chance(0.5)) c.on_unknown_address = r.pick(['local', 'close']);
  if (r.chance(0.5)) c.reject_client_proxy_header = r.chance(0.5);
  if (version !== 1) {
    if (r.chance(0.5)) c.crc32c = r.chance(0.6);
    if (r.chance(0.7)) c.tlvs = Array.from({ length: r.chance(0.05) ? r.int(60, 64) : r.int(0, 6) }, () => validTlv(r));
  }
  // Keys in a random order, as a user might write them.
  return Object.fromEntries(Object.entries(c).sort(() => r.next() - 0.5));
}

/** One mutation away from valid: each names the key the error line must name. */
function nearValid(r) {
  const c = validConfig(r);
  const text = () => JSON.stringify(c);
  const tlvs = () => (c.version === 1 ? undefined : (c.tlvs ??= []));
  switch (r.int(0, 19)) {
    case 0:
      c.version = r.pick([0, 3, -1, '2', 2.5, null, true, 1e3, [2]]);
      return text();
    case 1:
      return text().replace(/^\{/, r.pick(['{"version":2.0,', '{"version":2e0,', '{"version":02,', '{"version":-0,', '{"version":1234567890,']));
    case 2:
      c.on_unknown_address = r.pick(['LOCAL', 'drop', '', 1, null]);
      return text();
    case 3:
      c[r.pick(['crc32c', 'reject_client_proxy_header'])] = r.pick([1, 0, 'true', null, {}]);
      return text();
    case 4:
      c[r.pick(['verison', 'tlv', 'Version', 'x', 'crc32', 'reject_client_proxy_headers'])] = 1;
      return text();
    case 5:
      return text().replace(/^\{/, `{${r.pick(['"crc32c":true,"crc32c":false', '"version":2,"version":2', '"tlvs":[],"tlvs":[]', '"on_unknown_address":"local","on_unknown_address":"close"'])},`);
    case 6:
      c.tlvs = r.pick([{}, 'x', 1, null, [1], [[]], ['alpn']]);
      return text();
    case 7:
      c.version = 2;
      tlvs().push(r.pick([{ value: 'x' }, { type: 1 }, { type: 1, value: 'a', hex: '00' }, { type: 1, from: 'sni', property: 'a' }, { type: 1, value: 'x', extra: 1 }]));
      return text();
    case 8:
      c.version = 2;
      tlvs().push({ type: r.pick([3, 0x20, 0x21, 0x28, 0xf8, 0xff, 0, 6, 0x31, 0xdf, 256, -1, 'ssl', 'crc32c', 'ALPN', 1.5, null]), value: 'x' });
      return text();
    case 9:
      c.version = 2;
      tlvs().push({ type: 1, hex: r.pick(['0', 'zz', '0g', 'abc', 12, null]) });
      return text();
    case 10:
      c.version = 2;
      tlvs().push({ type: 1, property: r.pick(['', '.', 'a.', '.a', 'a..b', [], [''], ['a', ''], [1], 'a\u0000b', ['a\u0000'], 7, null]) });
      return text();
    case 11:
      c.version = 2;
      tlvs().push({ type: 1, from: r.pick(['SNI', 'ssl ', '', 'tls', 3, null]) });
      return text();
    case 12:
      c.version = 2;
      tlvs().push({ type: r.pick([1, 'alpn', 0xe0]), from: 'ssl' });
      return text();
    case 13:
      c.version = 2;
      tlvs().push(r.pick([{ type: 'unique_id', value: 'u'.repeat(129) }, { type: 5, hex: '00'.repeat(129) }, { type: 'netns', value: 'é' }, { type: 0x30, hex: '80' }]));
      return text();
    case 14:
      c.version = 1;
      if (r.chance(0.5)) c.crc32c = true;
      else c.tlvs = [{ type: 1, value: 'h2' }];
      return text();
    case 15: {
      // Static TLVs at the size limit: 65535 - 216 bytes of them (and the CRC) fit, one more does not.
      c.version = 2;
      c.crc32c = r.chance(0.5);
      const room = 65535 - 216 - (c.crc32c ? 7 : 0) - 3;
      const extra = r.pick([0, 0, 1]);
      c.tlvs = [{ type: 0xe2, hex: '00'.repeat(room + extra) }];
      if (r.chance(0.5)) c.tlvs.push({ type: 1, property: 'custom.value' }, { from: 'ssl' });
      return text();
    }
    case 16:
      c.version = 2;
      tlvs().push(r.pick([
        { from: 'ssl', listener_verifies_client_cert: r.pick([1, 'true', null, {}]) },
        { type: 1, from: r.pick(['sni', 'connection_id']), listener_verifies_client_cert: true },
        { type: 1, value: 'x', listener_verifies_client_cert: false },
      ]));
      return text();
    case 17:
      // Over the 64-TLV limit, by one or by many.
      c.version = 2;
      c.tlvs = Array.from({ length: r.pick([65, 66, 200]) }, () => ({ type: 'noop', value: '' }));
      return text();
    case 18:
      c.tlvs = 'not reached';
      return `${text().slice(0, -1)}${r.pick([',', ',,', ' x', '}}', ']', ',"a":'])}`;
    default:
      return text().replace(/"/, r.pick(['\u0000', "'", '"\\x'])).replace(/\}$/, '');
  }
}

function garbage(r) {
  switch (r.int(0, 7)) {
    case 0:
      return r.bytes(r.length(500));
    case 1: {
      const t = Buffer.from(JSON.stringify(validConfig(r)));
      for (let k = r.int(1, 4); k > 0 && t.length > 0; k--) t[r.int(0, t.length - 1)] = r.int(0, 255);
      return t;
    }
    case 2: {
      const t = JSON.stringify(validConfig(r));
      return t.slice(0, r.int(0, t.length));
    }
    case 3:
      return r.pick(['null', 'true', '0', '"x"', '[]', '[{}]', '{}', ' \t\r\n ', '', '\ufeff{}', '{"a":1}', '{}{}', '{} x', '\u0000']);
    case 4:
      return `{"tlvs":[{"type":1,"value":"${r.pick(['\\ud800', '\\udc00', '\\ud800\\u0041', '\\ud83d\\ude00', '\\u00e9', '\\x'])}"}]}`;
    case 5:
      return Buffer.concat([Buffer.from('{"tlvs":[{"type":1,"value":"'), r.bytes(r.int(1, 6)), Buffer.from('"}]}')]);
    case 6:
      return JSON.stringify(validConfig(r), null, r.pick([1, 2, '\t', '  \n ']));
    default:
      return `${' '.repeat(r.int(0, 4))}${JSON.stringify(validConfig(r))}${'\n'.repeat(r.int(0, 3))}`;
  }
}

function deep(r) {
  const depth = r.pick([30, 31, 32, 33, 34, 100, 10_000]);
  const open = r.chance(0.5) ? '[' : '{"a":';
  const close = open === '[' ? ']' : '}';
  const nested = open.repeat(depth) + '1' + close.repeat(depth);
  return r.pick([
    nested,
    `{"tlvs":[${nested}]}`,
    `{"x":${nested}}`,
    `{"version":2,"tlvs":[{"type":1,"value":${nested}}]}`,
    `{"tlvs":${'['.repeat(depth)}`,
  ]);
}

/** Configurations big in size: many TLVs, long values, lots of padding. */
export function huge(r, { counts = [64, 65, 1000, 21845] } = {}) {
  switch (r.int(0, 3)) {
    case 0: {
      const n = r.pick(counts);
      return JSON.stringify({ tlvs: Array.from({ length: n }, (_, k) => (k % 2 ? { type: 'noop', value: '' } : { type: 0xe0, property: 'custom.value' })) });
    }
    case 1:
      return `${' '.repeat(r.pick([4096, 1 << 20]))}${JSON.stringify(validConfig(r))}`;
    case 2:
      return JSON.stringify({ version: 2, tlvs: [{ type: 0xe3, value: 'é'.repeat(r.pick([30000, 32600, 32700, 40000])) }] });
    default:
      return JSON.stringify({ [`${'k'.repeat(r.pick([10, 100_000]))}`]: 1 });
  }
}

export const CONFIG_KINDS = ['valid', 'near', 'garbage', 'deep', 'huge'];

/** A configuration of the given kind (or a random one): { kind, text }. */
export function config(r, kinds = CONFIG_KINDS, options = {}) {
  const weights = { valid: 6, near: 4, garbage: 3, deep: 1, huge: 1 };
  const pool = kinds.flatMap((k) => new Array(weights[k]).fill(k));
  const kind = r.pick(pool);
  const text = kind === 'valid' ? JSON.stringify(validConfig(r)) : kind === 'near' ? nearValid(r) : kind === 'garbage' ? garbage(r) : kind === 'deep' ? deep(r) : huge(r, options);
  return { kind, text };
}
