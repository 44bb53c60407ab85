// The fuzz oracle: from a plugin configuration and a connection's properties it
// computes what the filter must do, written from the documented contract
// (docs/configuration.md, docs/ARCHITECTURE.md "The filter's data path") and
// the spec (haproxy doc/proxy-protocol.txt 2.1, 2.2), not from assembly/.
//
//   predictConfig(text)                 -> { ok: true, config } | { ok: false, key, certain }
//   expectConnection(config, conn)      -> what reaches the upstream, and the counter deltas
//
// Where the contract leaves a detail open (a garbage config's exact message),
// the prediction says `certain: false` and the caller checks only the shape.

// ---------------------------------------------------------------- JSON, strictly
// JSON.parse drops duplicate keys, accepts lone surrogates and any depth; the
// filter's reader (docs/configuration.md) rejects all three. This reader keeps members in
// order, with duplicates, and reports where it gave up.

const MAX_DEPTH = 32; // docs/configuration.md: nesting deeper than 32 is refused

class JsonError extends Error {}

/** Parses RFC 8259 JSON from a UTF-8 buffer. Objects become { $members: [[key, value], ...] }. */
export function parseStrictJson(bytes) {
  let text;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new JsonError('invalid UTF-8');
  }
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const value = (depth) => {
    if (depth > MAX_DEPTH) throw new JsonError('too deep');
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const members = [];
      ws();
      if (text[i] === '}') {
        i++;
        return { $members: members };
      }
      for (;;) {
        ws();
        if (text[i] !== '"') throw new JsonError('expected a key');
        const key = string();
        ws();
        if (text[i++] !== ':') throw new JsonError("expected ':'");
        members.push([key, value(depth + 1)]);
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i++] === '}') return { $members: members };
        throw new JsonError("expected ',' or '}'");
      }
    }
    if (c === '[') {
      i++;
      const items = [];
      ws();
      if (text[i] === ']') {
        i++;
        return items;
      }
      for (;;) {
        items.push(value(depth + 1));
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i++] === ']') return items;
        throw new JsonError("expected ',' or ']'");
      }
    }
    if (c === '"') return string();
    for (const [word, v] of [['true', true], ['false', false], ['null', null]]) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    }
    const m = /^-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (m === null) throw new JsonError('unexpected character');
    i += m[0].length;
    // Keep the spelling: "2.0" and "2e0" are not the integer 2 for the filter.
    return { $number: m[0] };
  };
  const string = () => {
    i++; // opening quote
    let out = '';
    for (;;) {
      if (i >= text.length) throw new JsonError('unterminated string');
      const c = text[i];
      const code = c.charCodeAt(0);
      if (c === '"') {
        i++;
        return out;
      }
      if (code < 0x20) throw new JsonError('control character');
      if (c !== '\\') {
        out += c;
        i++;
        continue;
      }
      const e = text[i + 1];
      const simple = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' }[e];
      if (simple !== undefined) {
        out += simple;
        i += 2;
        continue;
      }
      if (e !== 'u' || !/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) throw new JsonError('bad escape');
      const u = parseInt(text.slice(i + 2, i + 6), 16);
      i += 6;
      if (u >= 0xdc00 && u <= 0xdfff) throw new JsonError('lone low surrogate');
      if (u >= 0xd800 && u <= 0xdbff) {
        if (text[i] !== '\\' || text[i + 1] !== 'u' || !/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) throw new JsonError('lone high surrogate');
        const low = parseInt(text.slice(i + 2, i + 6), 16);
        if (low < 0xdc00 || low > 0xdfff) throw new JsonError('lone high surrogate');
        i += 6;
        out += String.fromCharCode(u, low);
        continue;
      }
      out += String.fromCharCode(u);
    }
  };
  const result = value(0);
  ws();
  if (i !== text.length) throw new JsonError('data after the value');
  return result;
}

// ---------------------------------------------------------------- configuration

/**
 * haproxy doc 2.2.1-2.2.7: AUTHORITY and SSL CN are UTF-8, NETNS and SSL
 * VERSION US-ASCII, UNIQUE_ID at most 128 bytes; other types are opaque.
 */
function textValueValid(type, bytes) {
  if (type === 0x05) return bytes.length <= 128;
  if (type === 0x30 || type === 0x21) return bytes.every((b) => b < 0x80);
  if (type !== 0x02 && type !== 0x22) return true;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

const TLV_NAMES = { alpn: 0x01, authority: 0x02, noop: 0x04, unique_id: 0x05, netns: 0x30 };
const TOP_KEYS = ['version', 'on_unknown_address', 'crc32c', 'tlvs', 'reject_client_proxy_header'];
const TLV_KEYS = ['type', 'value', 'hex', 'property', 'from', 'listener_verifies_client_cert'];
/** docs/configuration.md: at most 64 TLVs. */
export const MAX_TLVS = 64;
/** Largest address block (UNIX, 2 x 108): static TLVs and the CRC must fit after it. */
const LARGEST_ADDRESS_BLOCK = 216;
const MAX_LENGTH = 65535;
/** Values the filter reads from a number: an integer literal of at most 9 digits. */
const smallInteger = (v) => (v !== null && typeof v === 'object' && /^-?\d{1,9}$/.test(v.$number) ? Number(v.$number) : undefined);
const isObject = (v) => v !== null && typeof v === 'object' && Array.isArray(v.$members);

/** Allowed TLV types (docs/configuration.md; haproxy doc 2.2): the named ones, 0xE0-0xF7. */
export function tlvTypeAllowed(type) {
  return [0x01, 0x02, 0x04, 0x05, 0x30].includes(type) || (type >= 0xe0 && type <= 0xf7);
}

/**
 * Predicts whether the filter accepts `text` (a string or bytes), and if not,
 * which key its error line must name. `certain` is false when more than one
 * problem could be reported first (then any of `keys` may be named).
 */
export function predictConfig(text) {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : Buffer.from(text);
  if (/^[ \t\n\r]*$/.test(bytes.toString('latin1'))) return { ok: true, config: defaults() };
  let doc;
  try {
    doc = parseStrictJson(bytes);
  } catch (error) {
    if (!(error instanceof JsonError)) throw error;
    return { ok: false, key: 'invalid JSON', certain: true };
  }
  if (!isObject(doc)) return { ok: false, key: 'expected a JSON object', certain: true };
  const config = defaults();
  const seen = new Set();
  for (const [key, value] of doc.$members) {
    const fail = (k = key) => ({ ok: false, key: k, certain: true });
    if (!TOP_KEYS.includes(key)) return { ok: false, key: 'unknown key', unknown: key, certain: true };
    if (key === 'version') {
      const v = smallInteger(value);
      if (v !== 1 && v !== 2) return fail();
      config.version = v;
    } else if (key === 'on_unknown_address') {
      if (value !== 'local' && value !== 'close') return fail();
      config.closeOnUnknown = value === 'close';
    } else if (key === 'crc32c' || key === 'reject_client_proxy_header') {
      if (typeof value !== 'boolean') return fail();
      if (key === 'crc32c') config.crc32c = value;
      else config.rejectClientHeader = value;
    } else if (key === 'tlvs') {
      if (!Array.isArray(value)) return fail();
      config.tlvs = [];
      for (let index = 0; index < value.length; index++) {
        if (index >= MAX_TLVS) return fail('tlvs');
        const tlv = predictTlv(value[index], index);
        if (tlv.error !== undefined) return { ok: false, key: tlv.error, certain: true };
        config.tlvs.push(tlv);
      }
    }
    if (seen.has(key)) return fail();
    seen.add(key);
  }
  if (config.version === 1 && (config.tlvs.length > 0 || config.crc32c)) {
    return { ok: false, key: config.tlvs.length > 0 ? 'tlvs' : 'crc32c', certain: true };
  }
  let reserve = config.crc32c ? 7 : 0;
  for (const tlv of config.tlvs) if (tlv.source === 'static') reserve += 3 + tlv.value.length;
  if (reserve + LARGEST_ADDRESS_BLOCK > MAX_LENGTH) return { ok: false, key: 'tlvs', certain: true };
  return { ok: true, config };
}

function defaults() {
  return { version: 2, closeOnUnknown: false, crc32c: false, rejectClientHeader: false, tlvs: [] };
}

function predictTlv(value, index) {
  const at = `tlvs[${index}]`;
  if (!isObject(value)) return { error: at };
  const seen = new Set();
  let type;
  let source;
  let data;
  let path;
  let listenerVerifiesClientCert = false;
  for (const [key, v] of value.$members) {
    if (!TLV_KEYS.includes(key)) return { error: at };
    if (key === 'type') {
      type = smallInteger(v);
      if (typeof v === 'string' && Object.hasOwn(TLV_NAMES, v)) type = TLV_NAMES[v];
      if (type === undefined || type < 0 || type > 255) return { error: `${at}.type` };
    } else if (key === 'value') {
      if (typeof v !== 'string') return { error: `${at}.value` };
      source = 'static';
      data = Buffer.from(v, 'utf8');
    } else if (key === 'hex') {
      if (typeof v !== 'string' || v.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(v)) return { error: `${at}.hex` };
      source = 'static';
      data = Buffer.from(v, 'hex');
    } else if (key === 'property') {
      source = 'property';
      if (typeof v === 'string') {
        const segments = v.split('.');
        if (segments.some((s) => s === '' || s.includes('\0'))) return { error: `${at}.property` };
        path = segments;
      } else if (Array.isArray(v)) {
        if (v.length === 0 || v.some((s) => typeof s !== 'string' || s === '' || s.includes('\0'))) return { error: `${at}.property` };
        path = v;
      } else return { error: `${at}.property` };
    } else if (key === 'from') {
      if (v !== 'sni' && v !== 'connection_id' && v !== 'ssl') return { error: `${at}.from` };
      source = v;
    } else if (key === 'listener_verifies_client_cert') {
      if (typeof v !== 'boolean') return { error: `${at}.${key}` };
      listenerVerifiesClientCert = v;
    }
    if (seen.has(key)) return { error: `${at}.${key}` };
    seen.add(key);
  }
  const sources = ['value', 'hex', 'property', 'from'].filter((k) => seen.has(k));
  if (sources.length !== 1) return { error: at };
  if (seen.has('listener_verifies_client_cert') && source !== 'ssl') return { error: `${at}.listener_verifies_client_cert` };
  if (source === 'ssl') {
    if (type !== undefined && type !== 0x20) return { error: `${at}.type` };
    type = 0x20;
  } else {
    if (type === undefined || !tlvTypeAllowed(type)) return { error: `${at}.type` };
    if (source === 'static' && !textValueValid(type, data)) return { error: at };
  }
  return { type, source, value: data, path, listenerVerifiesClientCert };
}

// ---------------------------------------------------------------- Envoy addresses

/** Strict dotted quad (no leading zeros) -> 4 bytes, or null. */
function ipv4Bytes(text) {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const out = [];
  for (const p of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255) return null;
    out.push(Number(p));
  }
  return out;
}

function port(text) {
  return /^(0|[1-9]\d{0,4})$/.test(text) && Number(text) <= 65535 ? Number(text) : null;
}

/** RFC 4291 2.2 text -> 16 bytes, or null. */
export function ipv6Bytes(text) {
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groupsOf = (s, last) => {
    if (s === '') return [];
    const pieces = s.split(':');
    const out = [];
    for (let k = 0; k < pieces.length; k++) {
      const p = pieces[k];
      if (last && k === pieces.length - 1 && p.includes('.')) {
        const quad = ipv4Bytes(p);
        if (quad === null) return null;
        out.push((quad[0] << 8) | quad[1], (quad[2] << 8) | quad[3]);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(p)) out.push(parseInt(p, 16));
      else return null;
    }
    return out;
  };
  const gap = halves.length === 2;
  const head = groupsOf(halves[0], !gap);
  const tail = gap ? groupsOf(halves[1], true) : [];
  if (head === null || tail === null) return null;
  const count = head.length + tail.length;
  if (gap ? count > 7 : count !== 8) return null;
  const groups = [...head, ...new Array(8 - count).fill(0), ...tail];
  const out = [];
  for (const g of groups) out.push(g >> 8, g & 0xff);
  return out;
}

/**
 * An Envoy `source.address`/`destination.address` value (bytes) -> its kind.
 * { kind: 'ipv4'|'ipv6', ip: 16 bytes (IPv4 mapped), port } | { kind: 'unix', path } | null.
 */
export function parseEnvoyAddress(bytes) {
  if (bytes === null || bytes === undefined || bytes.length === 0) return null;
  const b = Buffer.from(bytes);
  const first = b[0];
  if (first === 0x2f || first === 0x40) {
    // A pipe path: Envoy refuses 108 bytes or more (sun_path); "@" is abstract.
    if (b.length >= 108 || b.includes(0)) return null;
    const path = Buffer.from(b);
    if (first === 0x40) path[0] = 0;
    return { kind: 'unix', path };
  }
  const text = b.toString('latin1');
  if (first >= 0x30 && first <= 0x39) {
    const colon = text.indexOf(':');
    if (colon < 0) return null;
    const quad = ipv4Bytes(text.slice(0, colon));
    const p = port(text.slice(colon + 1));
    if (quad === null || p === null) return null;
    return { kind: 'ipv4', ip: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...quad], port: p };
  }
  if (first === 0x5b) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':') return null;
    const p = port(text.slice(close + 2));
    if (p === null) return null;
    let inside = text.slice(1, close);
    const pct = inside.indexOf('%');
    if (pct >= 0) {
      // A scope id (Envoy appends "%<id>"): PROXY v2 has no field for it.
      if (!/^[A-Za-z0-9._-]{1,15}$/.test(inside.slice(pct + 1))) return null;
      inside = inside.slice(0, pct);
    }
    const ip = ipv6Bytes(inside);
    if (ip === null) return null;
    return { kind: 'ipv6', ip, port: p };
  }
  return null;
}

const isV4Like = (a) => a.kind === 'ipv4' || (a.kind === 'ipv6' && a.ip.slice(0, 10).every((x) => x === 0) && a.ip[10] === 0xff && a.ip[11] === 0xff);

/** The PROXY family of a source/destination pair: TCP4, TCP6, UNIX_STREAM or null (unknown). */
export function pairFamily(src, dst) {
  if (src === null || dst === null) return null;
  if (src.kind === 'unix' && dst.kind === 'unix') return 'UNIX_STREAM';
  if (src.kind === 'unix' || dst.kind === 'unix') return null;
  return isV4Like(src) && isV4Like(dst) ? 'TCP4' : 'TCP6';
}

// ---------------------------------------------------------------- the header

export const V2_SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC32C (Castagnoli, reflected; haproxy doc 2.2.3). */
export function crc32c(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const be16 = (n) => [n >> 8, n & 0xff];
const tlvBytes = (type, value) => Buffer.concat([Buffer.from([type, ...be16(value.length)]), Buffer.from(value)]);

/** RFC 5952 text of 16 bytes in hex groups only (v1, haproxy doc 2.1, allows no dotted quad). */
export function ipv6Text(ip) {
  const groups = [];
  for (let g = 0; g < 8; g++) groups.push((ip[2 * g] << 8) | ip[2 * g + 1]);
  let best = -1;
  let bestLen = 1;
  for (let g = 0; g < 8; ) {
    if (groups[g] !== 0) {
      g++;
      continue;
    }
    let e = g;
    while (e < 8 && groups[e] === 0) e++;
    if (e - g > bestLen) {
      best = g;
      bestLen = e - g;
    }
    g = e;
  }
  const hex = (g) => g.toString(16);
  if (best < 0) return groups.map(hex).join(':');
  return `${groups.slice(0, best).map(hex).join(':')}::${groups.slice(best + bestLen).map(hex).join(':')}`;
}

/** The longest SSL VERSION and CN values sent (docs/configuration.md); longer ones are left out, never cut. */
const SSL_VERSION_MAX = 64;
const SSL_CN_MAX = 192;

/**
 * The Common Name in an RFC 2253 subject (Envoy's connection.subject_peer_certificate),
 * unescaped: { cn } when there is one to send, { none } when there is no CN (or an empty
 * one), { unusable } when there is one that cannot be sent (DER "#hex", a dangling escape,
 * over 192 bytes).
 */
export function commonNameOf(subject) {
  const b = Buffer.from(subject);
  const isHex = (c) => /^[0-9a-fA-F]$/.test(String.fromCharCode(c));
  let i = 0;
  while (i < b.length) {
    const isCN = i + 3 <= b.length && (b[i] === 0x43 || b[i] === 0x63) && (b[i + 1] === 0x4e || b[i + 1] === 0x6e) && b[i + 2] === 0x3d;
    if (isCN) i += 3;
    if (isCN && b[i] === 0x23) return { unusable: true }; // "#" + DER hex: not text
    const value = [];
    while (i < b.length && b[i] !== 0x2c && b[i] !== 0x2b) {
      if (b[i] === 0x5c) {
        if (i + 1 >= b.length) return { unusable: true }; // a dangling escape: malformed
        if (i + 2 < b.length && isHex(b[i + 1]) && isHex(b[i + 2])) {
          value.push(parseInt(String.fromCharCode(b[i + 1], b[i + 2]), 16));
          i += 3;
        } else {
          value.push(b[i + 1]);
          i += 2;
        }
      } else value.push(b[i++]);
    }
    if (isCN) {
      if (value.length === 0) return { none: true };
      return value.length <= SSL_CN_MAX ? { cn: Buffer.from(value) } : { unusable: true };
    }
    i++; // the separator
  }
  return { none: true };
}

/**
 * The header the filter must prepend for one connection. `lookup(path)` answers
 * a property as Envoy would (path segments joined by NUL; null for NotFound);
 * `counters` gets the metric increments. { close: true } when the policy closes.
 */
export function expectHeader(config, lookup, counters) {
  const src = parseEnvoyAddress(lookup('source\0address'));
  const dst = src === null ? null : parseEnvoyAddress(lookup('destination\0address'));
  const family = pairFamily(src, dst);
  // A fallback: the addresses are unknown, or the version cannot express them (v1 has no UNIX
  // sockets). Counted either way; on_unknown_address "close" then closes instead of sending.
  const fallback = family === null || (config.version === 1 && family === 'UNIX_STREAM');
  if (fallback) counters.local_fallbacks++;
  if (fallback && config.closeOnUnknown) {
    counters.closed_by_policy++;
    return { close: true };
  }
  counters.headers_written++;
  if (config.version === 1) {
    let line;
    if (family === 'TCP4') line = `PROXY TCP4 ${src.ip.slice(12).join('.')} ${dst.ip.slice(12).join('.')} ${src.port} ${dst.port}\r\n`;
    else if (family === 'TCP6') line = `PROXY TCP6 ${ipv6Text(src.ip)} ${ipv6Text(dst.ip)} ${src.port} ${dst.port}\r\n`;
    else line = 'PROXY UNKNOWN\r\n';
    return { header: Buffer.from(line, 'latin1'), family: fallback ? null : family, src, dst, tlvs: [] };
  }
  if (family === null) {
    return { header: Buffer.concat([V2_SIGNATURE, Buffer.from([0x20, 0x00, 0, 0])]), family: null, tlvs: [] };
  }
  let block;
  if (family === 'TCP4') block = [...src.ip.slice(12), ...dst.ip.slice(12), ...be16(src.port), ...be16(dst.port)];
  else if (family === 'TCP6') block = [...src.ip, ...dst.ip, ...be16(src.port), ...be16(dst.port)];
  else {
    const pad = (p) => Buffer.concat([p, Buffer.alloc(108 - p.length)]);
    block = [...pad(src.path), ...pad(dst.path)];
  }
  const famByte = { TCP4: 0x11, TCP6: 0x21, UNIX_STREAM: 0x31 }[family];
  // Room: a dynamic TLV may not eat into the bytes the static TLVs after it and the CRC need.
  const reserveAfter = config.tlvs.map((_, k) => {
    let r = config.crc32c ? 7 : 0;
    for (const t of config.tlvs.slice(k + 1)) if (t.source === 'static') r += 3 + t.value.length;
    return r;
  });
  const limit = 16 + MAX_LENGTH;
  let length = 16 + block.length;
  const tlvs = [];
  config.tlvs.forEach((t, k) => {
    let value = null;
    let subOmitted = 0;
    if (t.source === 'static') value = t.value;
    else if (t.source === 'ssl') ({ value, subOmitted } = sslValue(lookup, t.listenerVerifiesClientCert));
    else {
      let raw = t.source === 'property' ? lookup(t.path.join('\0')) : lookup(t.source === 'sni' ? 'connection\0requested_server_name' : 'connection_id');
      if (raw !== null && raw.length > 0 && t.source === 'connection_id') {
        // Sent as decimal ASCII (docs/configuration.md), from Envoy's uint64 LE.
        raw = raw.length === 8 ? Buffer.from(Buffer.from(raw).readBigUInt64LE().toString(), 'latin1') : null;
      }
      if (raw !== null && raw.length > 0 && textValueValid(t.type, raw)) value = raw;
    }
    if (value === null || length + 3 + value.length > limit - (t.source === 'static' ? 0 : reserveAfter[k])) {
      counters.tlvs_omitted++;
      return;
    }
    tlvs.push({ type: t.type, value: Buffer.from(value) });
    length += 3 + value.length;
    counters.tlvs_omitted += subOmitted;
  });
  if (config.crc32c) tlvs.push({ type: 0x03, value: Buffer.alloc(4) });
  const body = Buffer.concat([Buffer.from(block), ...tlvs.map((t) => tlvBytes(t.type, t.value))]);
  const header = Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, famByte, ...be16(body.length)]), body]);
  if (config.crc32c) {
    const crc = crc32c(header);
    header.writeUInt32BE(crc, header.length - 4);
    tlvs[tlvs.length - 1].value = header.subarray(header.length - 4);
  }
  return { header, family, src, dst, tlvs };
}

/**
 * PP2_TYPE_SSL from Envoy's TLS attributes (haproxy doc 2.2.5; docs/configuration.md):
 * { value: null } with no TLS or a VERSION that cannot be sent, else the value and how many
 * sub-TLVs were left out (a CN that cannot be sent).
 */
function sslValue(lookup, listenerVerifiesClientCert) {
  const version = lookup('connection\0tls_version');
  if (version === null || version.length === 0 || version.length > SSL_VERSION_MAX) return { value: null, subOmitted: 0 };
  if (!textValueValid(0x21, version)) return { value: null, subOmitted: 0 };
  const mtlsRaw = lookup('connection\0mtls');
  const mtls = mtlsRaw !== null && mtlsRaw.length >= 1 && mtlsRaw[0] !== 0;
  let cn = null;
  let subOmitted = 0;
  if (mtls) {
    const subject = lookup('connection\0subject_peer_certificate');
    if (subject !== null) {
      const name = commonNameOf(subject);
      if (name.cn !== undefined && textValueValid(0x22, name.cn)) cn = name.cn;
      else if (name.cn !== undefined || name.unusable) subOmitted = 1;
    }
  }
  // client: SSL, plus CERT_SESS with a certificate (never CERT_CONN: Envoy cannot tell a
  // resumed session); verify 0 only when the configuration says the listener verifies.
  const client = 0x01 | (mtls ? 0x04 : 0);
  const verify = mtls && listenerVerifiesClientCert ? 0 : 1;
  const parts = [Buffer.from([client]), Buffer.from([0, 0, 0, verify]), tlvBytes(0x21, version)];
  if (cn !== null) parts.push(tlvBytes(0x22, cn));
  return { value: Buffer.concat(parts), subOmitted };
}

// ---------------------------------------------------------------- a client's own header

/**
 * With reject_client_proxy_header: 'header' when the data starts with "PROXY "
 * or the 12-byte v2 signature, 'prefix' while it could still become one and
 * holds at least 5 bytes (fewer never hold a connection back: a SIP keep-alive
 * is CRLF or CRLFCRLF), 'none' otherwise.
 */
export function clientHeaderVerdict(data) {
  const check = (sig) => {
    const n = Math.min(data.length, sig.length);
    for (let k = 0; k < n; k++) if (data[k] !== sig[k]) return 'none';
    return data.length >= sig.length ? 'header' : 'prefix';
  };
  const v1 = check(Buffer.from('PROXY ', 'latin1'));
  const v2 = check(V2_SIGNATURE);
  if (v1 === 'header' || v2 === 'header') return 'header';
  if (data.length < 5) return 'none';
  if (v1 === 'prefix' || v2 === 'prefix') return 'prefix';
  return 'none';
}
