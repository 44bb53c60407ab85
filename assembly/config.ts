// Plugin configuration JSON → Config. Pure: no host calls. On a bad config it
// returns 0 and leaves one error line in the line buffer (bytes.ts) naming
// the key and quoting the bad value; proxy_on_configure logs it and returns 0,
// so Envoy refuses the listener rather than run with a half-understood config.
//
// A Config is one block of raw heap memory (no managed objects: the module
// creates none, see docs/building.md "Why this runtime"). It is built here, during
// proxy_on_configure, and only read afterwards; the data path allocates nothing.
//
//   Config: [0] version u8  [1] flags u8  [2..4) TLV count u16  [4..8) total size u32
//   then one record per configured TLV, in config order, each 4-byte aligned:
//   [0] type u8  [1] source u8  [4..8) reserveAfter u32  [8..12) data length u32
//   [12..) data: the static value, or the property path as NUL-separated segments.

import {
  jsonArrayStart,
  jsonBegin,
  jsonBeginAt,
  jsonDecodeString,
  jsonError,
  jsonErrorAt,
  jsonLiteral,
  jsonMatched,
  jsonNextElement,
  jsonNextMember,
  jsonNumber,
  jsonObjectStart,
  jsonPeek,
  jsonPos,
  jsonPtr,
  jsonSkipValue,
  jsonSkipWs,
  jsonString,
  jsonStringIndex,
  jsonValidateDocument,
  J_ARRAY,
  J_FALSE,
  J_NUMBER,
  J_OBJECT,
  J_STRING,
  J_TRUE,
  numIsSmallInteger,
  numValue,
  strDecodedLength,
  strEnd,
  strStart,
} from "./json";
import { NO_TEXT, Text, hexValue, regrow, lineByte, lineQuoted, lineStart, lineText, lineTextU64, textLength, textNext, utf8, utf8List } from "./bytes";
import {
  PP2_CRC32C_TLV_SIZE,
  PP2_MAX_LENGTH,
  PP2_TLV_HEADER,
  PP2_TYPE_ALPN,
  PP2_TYPE_AUTHORITY,
  PP2_TYPE_CRC32C,
  PP2_TYPE_NETNS,
  PP2_TYPE_NOOP,
  PP2_TYPE_SSL,
  PP2_TYPE_UNIQUE_ID,
  tlvValueValid,
} from "./ppv2";

/** Where a TLV's value comes from. */
export const SOURCE_STATIC: u8 = 0; // "value" or "hex"
export const SOURCE_PROPERTY: u8 = 1; // "property": any Envoy attribute path
export const SOURCE_SNI: u8 = 2; // "from": "sni"
export const SOURCE_CONNECTION_ID: u8 = 3; // "from": "connection_id"
export const SOURCE_SSL: u8 = 4; // "from": "ssl"

/** The largest address block (UNIX, 2 x 108 bytes): static TLVs must fit after it. */
const LARGEST_ADDRESS_BLOCK: i32 = 216;
/** Longest value we quote in an error line. */
const QUOTE_MAX: i32 = 64;

const FLAG_CLOSE_ON_UNKNOWN: u8 = 1;
const FLAG_CRC32C: u8 = 2;
const FLAG_REJECT_CLIENT_HEADER: u8 = 4;
const CONFIG_HEADER: i32 = 8;
const RECORD_HEADER: i32 = 12;

export function configVersion(c: usize): i32 {
  return load<u8>(c);
}
export function configCloseOnUnknown(c: usize): bool {
  return (load<u8>(c, 1) & FLAG_CLOSE_ON_UNKNOWN) != 0;
}
export function configCrc32c(c: usize): bool {
  return (load<u8>(c, 1) & FLAG_CRC32C) != 0;
}
export function configRejectClientHeader(c: usize): bool {
  return (load<u8>(c, 1) & FLAG_REJECT_CLIENT_HEADER) != 0;
}
export function configTlvCount(c: usize): i32 {
  return load<u16>(c, 2);
}
export function configFirstTlv(c: usize): usize {
  return c + <usize>CONFIG_HEADER;
}
export function tlvNext(t: usize): usize {
  return t + <usize>((RECORD_HEADER + tlvDataLength(t) + 3) & ~3);
}
export function tlvType(t: usize): u8 {
  return load<u8>(t);
}
export function tlvSource(t: usize): u8 {
  return load<u8>(t, 1);
}
/**
 * Bytes that must stay free after this TLV: the static TLVs that follow it plus
 * the CRC32C TLV. A dynamic value that would eat into them is left out.
 */
export function tlvReserveAfter(t: usize): i32 {
  return load<i32>(t, 4);
}
export function tlvDataLength(t: usize): i32 {
  return load<i32>(t, 8);
}
export function tlvData(t: usize): usize {
  return t + <usize>RECORD_HEADER;
}

export function freeConfig(c: usize): void {
  if (c != 0) heap.free(c);
}

// The block being built.
let block: usize = 0;
let blockCapacity: i32 = 0;
let blockLength: i32 = 0;

/** Makes room for n more bytes; returns the write position. */
function grow(n: i32): usize {
  if (blockLength + n > blockCapacity) {
    let cap = blockCapacity << 1;
    if (cap < blockLength + n) cap = blockLength + n + 64;
    block = regrow(block, blockLength, cap);
    blockCapacity = cap;
  }
  return block + <usize>blockLength;
}

// ---- error reporting -------------------------------------------------------

let valueStart: i32 = 0;
/** The TLV being read (its index in "tlvs"), for error lines; -1 outside one. */
let tlvIndex: i32 = -1;

function errorPrefix(): void {
  lineStart();
  lineText(utf8("ppv2-wasm: bad plugin configuration: "));
}

/** The error prefix, then "tlvs[<i>]" inside a TLV, then ".<key>" (or "<key>" outside), then ": " if any was written. */
function errorAt(key: Text): void {
  errorPrefix();
  const inTlv = tlvIndex >= 0;
  if (inTlv) {
    lineTextU64(utf8("tlvs["), <u64>tlvIndex);
    lineByte(0x5d);
    if (key != NO_TEXT) lineByte(0x2e);
  }
  lineText(key);
  if (inTlv || key != NO_TEXT) lineText(utf8(": "));
}

/** "<where>: <reason> (got <raw JSON of the value at valueStart>)", where is errorAt's. Returns false. */
function fail(key: Text, reason: Text): bool {
  errorAt(key);
  lineText(reason);
  return gotValue();
}

/** Ends an error line with " (got <raw JSON of the value at valueStart>)". Returns false. */
function gotValue(): bool {
  jsonBeginAt(valueStart);
  jsonSkipValue(0);
  lineText(utf8(" (got "));
  lineQuoted(jsonPtr() + <usize>valueStart, jsonPos() - valueStart, QUOTE_MAX, false);
  lineByte(0x29);
  return false;
}

// ---- parsing ---------------------------------------------------------------

/**
 * Parses the plugin configuration at ptr/len into a new Config block (free it
 * with freeConfig). Empty input (or only whitespace, or "{}") gives the
 * defaults: version 2, no TLVs, LOCAL on unknown addresses. Returns 0 on error.
 */
export function parseConfig(ptr: usize, len: i32): usize {
  block = heap.alloc(256);
  blockCapacity = 256;
  blockLength = CONFIG_HEADER;
  store<u64>(block, 0);
  store<u8>(block, 2);
  if (parseDocument(ptr, len) && finish()) {
    store<u32>(block, blockLength, 4);
    return block;
  }
  heap.free(block);
  return 0;
}

/** Sets or clears a flag bit of the Config being built. */
function setFlag(flag: u8, on: bool): void {
  const f = load<u8>(block, 1);
  store<u8>(block, on ? f | flag : f & ~flag, 1);
}

/** The top-level keys, in the order the unknown-key error lists them. */
// @ts-ignore: decorator
@inline function topKeys(): Text {
  return utf8List("version", "on_unknown_address", "crc32c", "tlvs", "reject_client_proxy_header");
}
const KEY_VERSION = 0;
const KEY_ON_UNKNOWN = 1;
const KEY_CRC32C = 2;
const KEY_TLVS = 3;
const KEY_REJECT = 4;

function parseDocument(ptr: usize, len: i32): bool {
  tlvIndex = -1;
  jsonBegin(ptr, len);
  jsonSkipWs();
  if (jsonPos() >= len) return true;
  if (!jsonValidateDocument()) {
    errorPrefix();
    lineTextU64(utf8("invalid JSON at byte "), <u64>jsonErrorAt);
    lineText(utf8(": "));
    lineText(jsonError);
    return false;
  }
  jsonSkipWs();
  valueStart = jsonPos();
  if (jsonPeek() != J_OBJECT) {
    errorPrefix();
    lineText(utf8("expected a JSON object"));
    return gotValue();
  }
  jsonObjectStart();
  let seen = 0;
  for (let first = true; ; first = false) {
    if (jsonNextMember(first) <= 0) return true; // '}' (errors were ruled out above)
    jsonSkipWs();
    valueStart = jsonPos();
    const key = jsonStringIndex(topKeys());
    const name = jsonMatched;
    if (key == KEY_VERSION) {
      // As u32, numValue - 1 is at most 1 only for 1 and 2.
      if (jsonPeek() != J_NUMBER || !jsonNumber() || !numIsSmallInteger || <u32>(numValue - 1) > 1) {
        return fail(name, utf8("expected 1 or 2"));
      }
      store<u8>(block, <u8>numValue);
    } else if (key == KEY_ON_UNKNOWN) {
      const bad = utf8("expected \"local\" or \"close\"");
      if (jsonPeek() != J_STRING) return fail(name, bad);
      jsonString();
      const policy = jsonStringIndex(utf8List("local", "close"));
      if (policy < 0) return fail(name, bad);
      setFlag(FLAG_CLOSE_ON_UNKNOWN, policy == 1);
    } else if (key == KEY_CRC32C) {
      if (!readBool(name, FLAG_CRC32C)) return false;
    } else if (key == KEY_REJECT) {
      if (!readBool(name, FLAG_REJECT_CLIENT_HEADER)) return false;
    } else if (key == KEY_TLVS) {
      if (!parseTlvs()) return false;
    } else {
      return unknownKey();
    }
    if (seen & (1 << key)) return fail(name, utf8("duplicate key"));
    seen |= 1 << key;
  }
  return true;
}

function readBool(name: Text, flag: u8): bool {
  const k = jsonPeek();
  if (k != J_TRUE && k != J_FALSE) return fail(name, utf8("expected true or false"));
  jsonLiteral();
  setFlag(flag, k == J_TRUE);
  return true;
}

/** The key is the last string read; its value starts at valueStart. */
function unknownKey(): bool {
  const keyStart = strStart;
  const keyLength = strEnd - strStart;
  errorAt(NO_TEXT);
  lineText(utf8("unknown key "));
  lineQuoted(jsonPtr() + <usize>keyStart, keyLength, QUOTE_MAX, true);
  if (tlvIndex < 0) {
    lineText(utf8("; keys: "));
    for (let k = topKeys(); textLength(k) != 0; k = textNext(k)) {
      if (k != topKeys()) lineText(utf8(", "));
      lineText(k);
    }
  }
  return gotValue();
}

function finish(): bool {
  const count = configTlvCount(block);
  const crc = configCrc32c(block);
  if (configVersion(block) == 1 && (count > 0 || crc)) {
    errorPrefix();
    lineText(count > 0 ? utf8("tlvs") : utf8("crc32c"));
    lineText(utf8(": needs version 2 (PROXY v1 has no TLVs)"));
    return false;
  }
  // Static TLVs are a promise: they must fit even after the largest address
  // block, so reserve room for them (and the CRC) behind every dynamic TLV.
  let reserve = crc ? PP2_CRC32C_TLV_SIZE : 0;
  for (let k = count - 1; k >= 0; k--) {
    let t = configFirstTlv(block);
    for (let j = 0; j < k; j++) t = tlvNext(t);
    store<i32>(t, reserve, 4);
    if (tlvSource(t) == SOURCE_STATIC) reserve += PP2_TLV_HEADER + tlvDataLength(t);
  }
  if (reserve + LARGEST_ADDRESS_BLOCK > PP2_MAX_LENGTH) {
    errorPrefix();
    lineTextU64(utf8("tlvs: static TLVs need "), <u64>reserve);
    lineText(utf8(" bytes; 65319 fit beside a UNIX address block"));
    return false;
  }
  return true;
}

function parseTlvs(): bool {
  if (jsonPeek() != J_ARRAY) return fail(utf8("tlvs"), utf8("expected an array of TLV objects"));
  jsonArrayStart();
  for (let index = 0; jsonNextElement(index == 0) > 0; index++) {
    jsonSkipWs();
    valueStart = jsonPos();
    if (index >= 0xffff) return fail(utf8("tlvs"), utf8("more than 65535 TLVs"));
    tlvIndex = index;
    if (!parseTlv()) return false;
    tlvIndex = -1;
    store<u16>(block, <u16>(index + 1), 2);
  }
  return true;
}

// Keys of a TLV object, by their index in the list parseTlv matches against.
const KEY_TYPE = 0;
const KEY_VALUE = 1;
const KEY_HEX = 2;
const KEY_PROPERTY = 3;
const KEY_FROM = 4;

function parseTlv(): bool {
  if (jsonPeek() != J_OBJECT) return fail(NO_TEXT, utf8("expected an object"));
  const objectStart = valueStart;
  const record = grow(RECORD_HEADER);
  const recordOffset = blockLength;
  memory.fill(record, 0, RECORD_HEADER);
  blockLength += RECORD_HEADER;
  jsonObjectStart();
  let seen = 0;
  let type = -1;
  let typeStart = 0;
  let source: u8 = SOURCE_STATIC;
  for (let first = true; ; first = false) {
    if (jsonNextMember(first) <= 0) break;
    jsonSkipWs();
    valueStart = jsonPos();
    const key = jsonStringIndex(utf8List("type", "value", "hex", "property", "from"));
    const name = jsonMatched;
    if (key == KEY_TYPE) {
      typeStart = valueStart;
      type = parseType();
      if (type < 0) return false;
    } else if (key == KEY_VALUE) {
      if (jsonPeek() != J_STRING) return fail(name, utf8("expected a string"));
      jsonString();
      appendString();
    } else if (key == KEY_HEX) {
      if (!parseHex()) return false;
    } else if (key == KEY_PROPERTY) {
      source = SOURCE_PROPERTY;
      if (!parseProperty()) return false;
    } else if (key == KEY_FROM) {
      const bad = utf8("expected \"sni\", \"connection_id\" or \"ssl\"");
      if (jsonPeek() != J_STRING) return fail(name, bad);
      jsonString();
      // In the order of SOURCE_SNI, SOURCE_CONNECTION_ID, SOURCE_SSL.
      const from = jsonStringIndex(utf8List("sni", "connection_id", "ssl"));
      if (from < 0) return fail(name, bad);
      source = <u8>(SOURCE_SNI + from);
    } else {
      return unknownKey();
    }
    if (seen & (1 << key)) return fail(name, utf8("duplicate key"));
    seen |= 1 << key;
  }
  const dataLength = blockLength - recordOffset - RECORD_HEADER;
  const sources = seen & ((1 << KEY_VALUE) | (1 << KEY_HEX) | (1 << KEY_PROPERTY) | (1 << KEY_FROM));
  valueStart = objectStart;
  if (sources == 0 || (sources & (sources - 1)) != 0) return fail(NO_TEXT, utf8("needs exactly one of value, hex, property, from"));
  if (source == SOURCE_SSL) {
    if (type >= 0 && type != PP2_TYPE_SSL) {
      valueStart = typeStart;
      return fail(utf8("type"), utf8("omit it with \"from\": \"ssl\""));
    }
    type = PP2_TYPE_SSL;
  } else if (type < 0) {
    return fail(utf8("type"), utf8("missing"));
  } else {
    const problem = typeProblem(type);
    valueStart = typeStart;
    if (problem != NO_TEXT) return fail(utf8("type"), problem);
    valueStart = objectStart;
    if (source == SOURCE_STATIC && !tlvValueValid(<u8>type, block + <usize>(recordOffset + RECORD_HEADER), dataLength)) {
      return fail(
        NO_TEXT,
        type == PP2_TYPE_UNIQUE_ID
          ? utf8("UNIQUE_ID is at most 128 bytes")
          : type == PP2_TYPE_NETNS
            ? utf8("NETNS must be US-ASCII")
            : utf8("AUTHORITY must be UTF-8"),
      );
    }
  }
  const r = block + <usize>recordOffset;
  store<u8>(r, <u8>type);
  store<u8>(r, source, 1);
  store<i32>(r, dataLength, 8);
  // Align the next record.
  const padded = (blockLength + 3) & ~3;
  grow(padded - blockLength);
  blockLength = padded;
  return true;
}

/** Appends the last JSON string, decoded, to the block. */
function appendString(): void {
  const n = strDecodedLength;
  jsonDecodeString(grow(n));
  blockLength += n;
}

/** A type number or name; -1 after reporting an error. */
function parseType(): i32 {
  const k = jsonPeek();
  if (k == J_NUMBER) {
    jsonNumber();
    if (numIsSmallInteger && <u32>numValue <= 255) return numValue; // 0-255
  } else if (k == J_STRING) {
    jsonString();
    // Listed in the order of their numbers: 1, 2, 4, 5, then 0x30.
    const named = jsonStringIndex(utf8List("alpn", "authority", "noop", "unique_id", "netns"));
    if (named >= 0) return named == 4 ? PP2_TYPE_NETNS : named < 2 ? PP2_TYPE_ALPN + named : PP2_TYPE_NOOP + named - 2;
  }
  fail(utf8("type"), utf8("must be 0-255 or \"alpn\", \"authority\", \"unique_id\", \"netns\", \"noop\""));
  return -1;
}

/**
 * Which TLV types a config may name (haproxy doc/proxy-protocol.txt 2.2): the
 * assigned ones we can fill, the custom range 0xE0-0xEF and the experimental
 * range 0xF0-0xF7. Empty string when allowed.
 */
export function typeProblem(type: i32): Text {
  if (
    type == PP2_TYPE_ALPN ||
    type == PP2_TYPE_AUTHORITY ||
    type == PP2_TYPE_NOOP ||
    type == PP2_TYPE_UNIQUE_ID ||
    type == PP2_TYPE_NETNS ||
    (type >= 0xe0 && type <= 0xf7)
  ) {
    return NO_TEXT;
  }
  if (type == PP2_TYPE_CRC32C) return utf8("3 is CRC32C; use \"crc32c\": true");
  if (type == PP2_TYPE_SSL) return utf8("0x20 is SSL; use \"from\": \"ssl\"");
  if (type >= 0x21 && type <= 0x28) return utf8("0x21-0x28 are SSL sub-types; use \"from\": \"ssl\"");
  if (type >= 0xf8) return utf8("0xF8-0xFF are reserved for future use");
  return utf8("unassigned; use a named type or 0xE0-0xF7");
}

function parseHex(): bool {
  const bad = utf8("expected an even number of hex digits");
  if (jsonPeek() != J_STRING) return fail(utf8("hex"), bad);
  jsonString();
  const n = strDecodedLength;
  if (n & 1) return fail(utf8("hex"), bad);
  // Decode the text into the block, then convert it to bytes in place.
  const p = grow(n);
  jsonDecodeString(p);
  for (let i = 0; i < n; i += 2) {
    const hi = hexValue(<i32>load<u8>(p + <usize>i));
    const lo = hexValue(<i32>load<u8>(p + <usize>i + 1));
    if (hi < 0 || lo < 0) return fail(utf8("hex"), bad);
    store<u8>(p + <usize>(i >> 1), <u8>((hi << 4) | lo));
  }
  blockLength += n >> 1;
  return true;
}

/**
 * "a.b.c" (split on dots) or ["a", "b.c"] (for keys that contain dots, such as
 * the metadata filter name "envoy.lb"). Stored as NUL-separated segments, which
 * is how Envoy's getProperty splits a path (context.cc).
 */
function parseProperty(): bool {
  const k = jsonPeek();
  const start = blockLength;
  if (k == J_STRING) {
    jsonString();
    appendString();
    const p = block + <usize>start;
    const n = blockLength - start;
    let segment = 0;
    for (let i = 0; i < n; i++) {
      let c = load<u8>(p + <usize>i);
      if (c == 0) segment = -1 << 20; // a NUL inside a name: never valid
      if (c == 0x2e) {
        if (segment <= 0) break;
        store<u8>(p + <usize>i, 0);
        segment = 0;
      } else {
        segment++;
      }
    }
    if (segment <= 0) return fail(utf8("property"), utf8("has an empty segment or a NUL byte"));
    return true;
  }
  if (k != J_ARRAY) return fail(utf8("property"), utf8("expected a dotted path or an array of segments"));
  jsonArrayStart();
  let count = 0;
  for (; jsonNextElement(count == 0) > 0; count++) {
    jsonSkipWs();
    if (jsonPeek() != J_STRING) return fail(utf8("property"), utf8("segments must be non-empty strings"));
    jsonString();
    if (count > 0) {
      store<u8>(grow(1), 0);
      blockLength++;
    }
    const segmentStart = blockLength;
    appendString();
    if (blockLength == segmentStart) return fail(utf8("property"), utf8("segments must be non-empty strings"));
    for (let i = segmentStart; i < blockLength; i++) {
      if (load<u8>(block + <usize>i) == 0) return fail(utf8("property"), utf8("has an empty segment or a NUL byte"));
    }
  }
  if (count == 0) return fail(utf8("property"), utf8("is an empty array"));
  return true;
}
