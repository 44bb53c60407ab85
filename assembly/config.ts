// Plugin configuration JSON → Config. Pure: no host calls. On a bad configuration
// parseConfig returns null and leaves one error line in the line buffer
// (bytes.ts) naming the key and quoting the bad value; proxy_on_configure logs
// it and returns false, so Envoy refuses the listener rather than run with a
// half-understood configuration.
//
// A Config is raw heap memory (the module creates no managed objects, see
// docs/building.md "Why this runtime"): the Config record, an array of at most
// MAX_TLVS TlvConfig records, and one block holding every TLV's bytes (a static
// value, or a property path as NUL-separated segments). It is built here, during
// proxy_on_configure, and only read afterwards; the data path allocates nothing.

import { JsonKind, JsonReader, NOT_A_SMALL_INTEGER } from "./json";
import { hexValue, lineByte, lineQuoted, lineStart, lineText, lineTextU64, regrow } from "./bytes";
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
  PP2_UNIX_ADDRESS_BLOCK,
  tlvValueValid,
} from "./ppv2";

/** At most this many TLVs: plenty for a PROXY header, and it bounds the work per connection. */
export const MAX_TLVS: i32 = 64;

/** Where a TLV's value comes from. */
export enum TlvSource {
  /** "value" or "hex": the same bytes on every connection */
  Static,
  /** "property": any Envoy attribute path */
  Property,
  /** "from": "sni" */
  Sni,
  /** "from": "connection_id" */
  ConnectionId,
  /** "from": "ssl" */
  Ssl,
}

/** One configured TLV. */
@unmanaged
export class TlvConfig {
  type: u8 = 0;
  source: TlvSource = TlvSource.Static;
  /** "from": "ssl" only: the listener verifies every client certificate it accepts. */
  listenerVerifiesClientCert: bool = false;
  /**
   * Bytes that must stay free after this TLV: the static TLVs that follow it
   * plus the CRC32C TLV. A dynamic value that would eat into them is left out.
   */
  reserveAfter: i32 = 0;
  /** The static value or the property path: dataLength bytes at Config.data + dataOffset. */
  dataOffset: i32 = 0;
  dataLength: i32 = 0;
}

@unmanaged
export class Config {
  /** PROXY protocol version: 1 or 2. */
  version: i32 = 2;
  /** on_unknown_address "close" (else "local"). */
  closeOnUnknown: bool = false;
  crc32c: bool = false;
  rejectClientHeader: bool = false;
  tlvCount: i32 = 0;
  /** MAX_TLVS TlvConfig records, the first tlvCount of them used. */
  tlvs: usize = 0;
  /** The TLVs' bytes (TlvConfig.dataOffset). */
  data: usize = 0;
  dataLength: i32 = 0;
  dataCapacity: i32 = 0;

  tlv(index: i32): TlvConfig {
    return changetype<TlvConfig>(this.tlvs + <usize>index * offsetof<TlvConfig>());
  }

  tlvData(t: TlvConfig): usize {
    return this.data + <usize>t.dataOffset;
  }
}

export function freeConfig(c: Config | null): void {
  if (c === null) return;
  heap.free(c.tlvs);
  if (c.data != 0) heap.free(c.data);
  heap.free(changetype<usize>(c));
}

/** Longest value we quote in an error line. */
const QUOTE_MAX: i32 = 64;
const DOT: u8 = 0x2e;

/** The top-level keys, in the order the unknown-key error lists them. */
const TOP_LEVEL_KEYS = "version, on_unknown_address, crc32c, tlvs, reject_client_proxy_header";

// ---- parsing ---------------------------------------------------------------

/**
 * Parses the plugin configuration at ptr/len into a new Config (free it with
 * freeConfig). Empty input (or only whitespace, or "{}") gives the defaults:
 * version 2, no TLVs, LOCAL on unknown addresses. Null on error.
 */
export function parseConfig(ptr: usize, len: i32): Config | null {
  const config = new Config();
  config.tlvs = heap.alloc(<usize>MAX_TLVS * offsetof<TlvConfig>());
  const json = new JsonReader(ptr, len);
  const parser = new ConfigParser(json, config);
  const ok = parser.parseDocument() && parser.finish();
  heap.free(changetype<usize>(parser));
  heap.free(changetype<usize>(json));
  if (ok) return config;
  freeConfig(config);
  return null;
}

/** The state of one parse: the reader, the Config being built, and where an error line points. */
@unmanaged
class ConfigParser {
  json: JsonReader;
  config: Config;
  /** The TLV being read (its index in "tlvs"), for error lines; -1 outside one. */
  tlvIndex: i32 = -1;
  /** Offset of the value an error line quotes ("got ..."). */
  valueStart: i32 = 0;

  constructor(json: JsonReader, config: Config) {
    this.json = json;
    this.config = config;
  }

  // ---- error lines ---------------------------------------------------------

  errorPrefix(): void {
    lineStart();
    lineText("ppv2-wasm: bad plugin configuration: ");
  }

  /** The error prefix, then "tlvs[<i>]" inside a TLV, then ".<key>" (or "<key>" outside one), then ": " if anything was written. */
  errorAt(key: string): void {
    this.errorPrefix();
    const inTlv = this.tlvIndex >= 0;
    if (inTlv) {
      lineTextU64("tlvs[", <u64>this.tlvIndex);
      lineText("]");
      if (key.length > 0) lineText(".");
    }
    lineText(key);
    if (inTlv || key.length > 0) lineText(": ");
  }

  /** "<where>: <reason> (got <raw JSON of the value at valueStart>)", where is errorAt's. Returns false. */
  fail(key: string, reason: string): bool {
    this.errorAt(key);
    lineText(reason);
    return this.gotValue();
  }

  /** Ends an error line with " (got <raw JSON of the value at valueStart>)". Returns false. */
  gotValue(): bool {
    const start = this.valueStart;
    const end = this.json.valueEnd(start);
    lineText(" (got ");
    lineQuoted(this.json.input + <usize>start, end - start, QUOTE_MAX, false);
    lineText(")");
    return false;
  }

  /** The key at `at` is not one we know; its value starts at valueStart. Returns false. */
  unknownKey(at: i32): bool {
    const keyEnd = this.json.valueEnd(at) - 1; // before the closing quote
    this.errorAt("");
    lineText("unknown key ");
    lineQuoted(this.json.input + <usize>(at + 1), keyEnd - (at + 1), QUOTE_MAX, true);
    if (this.tlvIndex < 0) {
      lineText("; keys: ");
      lineText(TOP_LEVEL_KEYS);
    }
    return this.gotValue();
  }

  // ---- the data block --------------------------------------------------------

  /** Makes room for n more bytes of TLV data; returns where they go. */
  reserveData(n: i32): usize {
    const c = this.config;
    if (c.dataLength + n > c.dataCapacity) {
      let capacity = c.dataCapacity * 2;
      if (capacity < c.dataLength + n) capacity = c.dataLength + n + 64;
      c.data = regrow(c.data, c.dataLength, capacity);
      c.dataCapacity = capacity;
    }
    return c.data + <usize>c.dataLength;
  }

  /** Appends the string at `at`, decoded, to the data block. */
  appendString(at: i32): void {
    const n = this.json.decodedLength(at);
    this.json.decodeString(at, this.reserveData(n));
    this.config.dataLength += n;
  }

  // ---- the document ----------------------------------------------------------

  parseDocument(): bool {
    const json = this.json;
    json.skipWhitespace();
    if (json.pos >= json.length) return true; // empty: the defaults
    if (!json.validate()) {
      this.errorPrefix();
      lineTextU64("invalid JSON at byte ", <u64>json.errorAt);
      lineText(": ");
      const error = json.error;
      if (error !== null) lineText(error);
      return false;
    }
    json.skipWhitespace();
    this.valueStart = json.pos;
    if (json.peek() != JsonKind.Object) {
      this.errorPrefix();
      lineText("expected a JSON object");
      return this.gotValue();
    }
    json.beginObject();
    let seenVersion = false;
    let seenOnUnknown = false;
    let seenCrc32c = false;
    let seenTlvs = false;
    let seenReject = false;
    for (let key = json.nextMember(true); key >= 0; key = json.nextMember(false)) {
      json.skipWhitespace();
      this.valueStart = json.pos;
      let name: string;
      let duplicate: bool;
      if (json.stringEquals(key, "version")) {
        name = "version";
        if (!this.parseVersion()) return false;
        duplicate = seenVersion;
        seenVersion = true;
      } else if (json.stringEquals(key, "on_unknown_address")) {
        name = "on_unknown_address";
        if (!this.parseOnUnknownAddress()) return false;
        duplicate = seenOnUnknown;
        seenOnUnknown = true;
      } else if (json.stringEquals(key, "crc32c")) {
        name = "crc32c";
        const crc32c = this.readBool(name);
        if (crc32c < 0) return false;
        this.config.crc32c = crc32c == 1;
        duplicate = seenCrc32c;
        seenCrc32c = true;
      } else if (json.stringEquals(key, "tlvs")) {
        name = "tlvs";
        if (!this.parseTlvs()) return false;
        duplicate = seenTlvs;
        seenTlvs = true;
      } else if (json.stringEquals(key, "reject_client_proxy_header")) {
        name = "reject_client_proxy_header";
        const reject = this.readBool(name);
        if (reject < 0) return false;
        this.config.rejectClientHeader = reject == 1;
        duplicate = seenReject;
        seenReject = true;
      } else {
        return this.unknownKey(key);
      }
      if (duplicate) return this.fail(name, "duplicate key");
    }
    return true;
  }

  parseVersion(): bool {
    const json = this.json;
    if (json.peek() == JsonKind.Number) {
      const version = json.smallIntegerAt(json.readNumber());
      if (version == 1 || version == 2) {
        this.config.version = <i32>version;
        return true;
      }
    }
    return this.fail("version", "expected 1 or 2");
  }

  parseOnUnknownAddress(): bool {
    const json = this.json;
    if (json.peek() == JsonKind.String) {
      const at = json.readString();
      if (json.stringEquals(at, "local") || json.stringEquals(at, "close")) {
        this.config.closeOnUnknown = json.stringEquals(at, "close");
        return true;
      }
    }
    return this.fail("on_unknown_address", "expected \"local\" or \"close\"");
  }

  /** 1 for true, 0 for false; -1 after reporting that the value is neither. */
  readBool(name: string): i32 {
    const kind = this.json.peek();
    if (kind != JsonKind.True && kind != JsonKind.False) {
      this.fail(name, "expected true or false");
      return -1;
    }
    this.json.readLiteral();
    return kind == JsonKind.True ? 1 : 0;
  }

  /** Checks what needs the whole configuration and lays out the room static TLVs need. */
  finish(): bool {
    const c = this.config;
    if (c.version == 1 && (c.tlvCount > 0 || c.crc32c)) {
      this.errorPrefix();
      lineText(c.tlvCount > 0 ? "tlvs" : "crc32c");
      lineText(": needs version 2 (PROXY v1 has no TLVs)");
      return false;
    }
    // Static TLVs are a promise: they must fit even after the largest address
    // block, so room for them (and the CRC) is reserved behind every dynamic TLV.
    let reserve = c.crc32c ? PP2_CRC32C_TLV_SIZE : 0;
    for (let i = c.tlvCount - 1; i >= 0; i--) {
      const t = c.tlv(i);
      t.reserveAfter = reserve;
      if (t.source == TlvSource.Static) reserve += PP2_TLV_HEADER + t.dataLength;
    }
    if (reserve + PP2_UNIX_ADDRESS_BLOCK > PP2_MAX_LENGTH) {
      this.errorPrefix();
      lineTextU64("tlvs: static TLVs need ", <u64>reserve);
      lineTextU64(" bytes; ", <u64>(PP2_MAX_LENGTH - PP2_UNIX_ADDRESS_BLOCK));
      lineText(" fit beside a UNIX address block");
      return false;
    }
    return true;
  }

  // ---- TLVs ------------------------------------------------------------------

  parseTlvs(): bool {
    const json = this.json;
    if (json.peek() != JsonKind.Array) return this.fail("tlvs", "expected an array of TLV objects");
    json.beginArray();
    for (let index = 0; json.nextElement(index == 0); index++) {
      this.valueStart = json.pos;
      if (index >= MAX_TLVS) {
        this.errorPrefix();
        lineTextU64("tlvs: more than ", <u64>MAX_TLVS);
        lineTextU64(" TLVs; the limit is ", <u64>MAX_TLVS);
        return false;
      }
      this.tlvIndex = index;
      if (!this.parseTlv(this.config.tlv(index))) return false;
      this.tlvIndex = -1;
      this.config.tlvCount = index + 1;
    }
    return true;
  }

  parseTlv(t: TlvConfig): bool {
    const json = this.json;
    if (json.peek() != JsonKind.Object) return this.fail("", "expected an object");
    const objectStart = this.valueStart;
    t.type = 0;
    t.source = TlvSource.Static;
    t.listenerVerifiesClientCert = false;
    t.reserveAfter = 0;
    t.dataOffset = this.config.dataLength;
    t.dataLength = 0;
    json.beginObject();
    let type = -1;
    let typeStart = 0;
    let verifiesStart = 0;
    let seenType = false;
    let seenValue = false;
    let seenHex = false;
    let seenProperty = false;
    let seenFrom = false;
    let seenVerifies = false;
    for (let key = json.nextMember(true); key >= 0; key = json.nextMember(false)) {
      json.skipWhitespace();
      this.valueStart = json.pos;
      let name: string;
      let duplicate: bool;
      if (json.stringEquals(key, "type")) {
        name = "type";
        typeStart = this.valueStart;
        type = this.parseType();
        if (type < 0) return false;
        duplicate = seenType;
        seenType = true;
      } else if (json.stringEquals(key, "value")) {
        name = "value";
        if (json.peek() != JsonKind.String) return this.fail(name, "expected a string");
        this.appendString(json.readString());
        duplicate = seenValue;
        seenValue = true;
      } else if (json.stringEquals(key, "hex")) {
        name = "hex";
        if (!this.parseHex()) return false;
        duplicate = seenHex;
        seenHex = true;
      } else if (json.stringEquals(key, "property")) {
        name = "property";
        t.source = TlvSource.Property;
        if (!this.parseProperty()) return false;
        duplicate = seenProperty;
        seenProperty = true;
      } else if (json.stringEquals(key, "from")) {
        name = "from";
        const from = this.parseFrom();
        if (from < 0) return false;
        t.source = <TlvSource>from;
        duplicate = seenFrom;
        seenFrom = true;
      } else if (json.stringEquals(key, "listener_verifies_client_cert")) {
        name = "listener_verifies_client_cert";
        verifiesStart = this.valueStart;
        const verifies = this.readBool(name);
        if (verifies < 0) return false;
        t.listenerVerifiesClientCert = verifies == 1;
        duplicate = seenVerifies;
        seenVerifies = true;
      } else {
        return this.unknownKey(key);
      }
      if (duplicate) return this.fail(name, "duplicate key");
    }
    t.dataLength = this.config.dataLength - t.dataOffset;
    let sources = 0;
    if (seenValue) sources++;
    if (seenHex) sources++;
    if (seenProperty) sources++;
    if (seenFrom) sources++;
    this.valueStart = objectStart;
    if (sources != 1) return this.fail("", "needs exactly one of value, hex, property, from");
    if (seenVerifies && t.source != TlvSource.Ssl) {
      this.valueStart = verifiesStart;
      return this.fail("listener_verifies_client_cert", "only with \"from\": \"ssl\"");
    }
    if (t.source == TlvSource.Ssl) {
      if (type >= 0 && type != PP2_TYPE_SSL) {
        this.valueStart = typeStart;
        return this.fail("type", "omit it with \"from\": \"ssl\"");
      }
      t.type = PP2_TYPE_SSL;
      return true;
    }
    if (type < 0) return this.fail("type", "missing");
    const problem = typeProblem(type);
    if (problem.length > 0) {
      this.valueStart = typeStart;
      return this.fail("type", problem);
    }
    t.type = <u8>type;
    if (t.source == TlvSource.Static && !tlvValueValid(t.type, this.config.tlvData(t), t.dataLength)) {
      return this.fail("", staticValueProblem(t.type));
    }
    return true;
  }

  /** A type number or name; -1 after reporting an error. */
  parseType(): i32 {
    const json = this.json;
    const kind = json.peek();
    if (kind == JsonKind.Number) {
      const n = json.smallIntegerAt(json.readNumber());
      if (n != NOT_A_SMALL_INTEGER && n >= 0 && n <= 255) return <i32>n;
    } else if (kind == JsonKind.String) {
      const at = json.readString();
      if (json.stringEquals(at, "alpn")) return PP2_TYPE_ALPN;
      if (json.stringEquals(at, "authority")) return PP2_TYPE_AUTHORITY;
      if (json.stringEquals(at, "noop")) return PP2_TYPE_NOOP;
      if (json.stringEquals(at, "unique_id")) return PP2_TYPE_UNIQUE_ID;
      if (json.stringEquals(at, "netns")) return PP2_TYPE_NETNS;
    }
    this.fail("type", "must be 0-255 or \"alpn\", \"authority\", \"unique_id\", \"netns\", \"noop\"");
    return -1;
  }

  /** The TlvSource "from" names; -1 after reporting an error. */
  parseFrom(): i32 {
    const json = this.json;
    if (json.peek() == JsonKind.String) {
      const at = json.readString();
      if (json.stringEquals(at, "sni")) return TlvSource.Sni;
      if (json.stringEquals(at, "connection_id")) return TlvSource.ConnectionId;
      if (json.stringEquals(at, "ssl")) return TlvSource.Ssl;
    }
    this.fail("from", "expected \"sni\", \"connection_id\" or \"ssl\"");
    return -1;
  }

  parseHex(): bool {
    const json = this.json;
    const bad = "expected an even number of hex digits";
    if (json.peek() != JsonKind.String) return this.fail("hex", bad);
    const at = json.readString();
    const n = json.decodedLength(at);
    if (n % 2 != 0) return this.fail("hex", bad);
    // Decode the text into the data block, then turn it into bytes in place.
    const p = this.reserveData(n);
    json.decodeString(at, p);
    for (let i = 0; i < n; i += 2) {
      const high = hexValue(<i32>load<u8>(p + <usize>i));
      const low = hexValue(<i32>load<u8>(p + <usize>i + 1));
      if (high < 0 || low < 0) return this.fail("hex", bad);
      store<u8>(p + <usize>(i / 2), <u8>(high * 16 + low));
    }
    this.config.dataLength += n / 2;
    return true;
  }

  /**
   * "a.b.c" (split on dots) or ["a", "b.c"] (for keys that contain dots, such as
   * the metadata filter name "envoy.lb"). Stored as NUL-separated segments,
   * which is how Envoy's getProperty splits a path (context.cc).
   */
  parseProperty(): bool {
    const json = this.json;
    const c = this.config;
    const kind = json.peek();
    const badSegment = "has an empty segment or a NUL byte";
    if (kind == JsonKind.String) {
      const start = c.dataLength;
      this.appendString(json.readString());
      const p = c.data + <usize>start;
      const n = c.dataLength - start;
      let segmentLength = 0;
      for (let i = 0; i < n; i++) {
        const b = load<u8>(p + <usize>i);
        if (b == 0) return this.fail("property", badSegment);
        if (b == DOT) {
          if (segmentLength == 0) return this.fail("property", badSegment);
          store<u8>(p + <usize>i, 0);
          segmentLength = 0;
        } else {
          segmentLength++;
        }
      }
      if (segmentLength == 0) return this.fail("property", badSegment);
      return true;
    }
    if (kind != JsonKind.Array) return this.fail("property", "expected a dotted path or an array of segments");
    json.beginArray();
    let count = 0;
    for (; json.nextElement(count == 0); count++) {
      if (json.peek() != JsonKind.String) return this.fail("property", "segments must be non-empty strings");
      const at = json.readString();
      if (count > 0) {
        store<u8>(this.reserveData(1), 0);
        c.dataLength++;
      }
      const segmentStart = c.dataLength;
      this.appendString(at);
      if (c.dataLength == segmentStart) return this.fail("property", "segments must be non-empty strings");
      for (let i = segmentStart; i < c.dataLength; i++) {
        if (load<u8>(c.data + <usize>i) == 0) return this.fail("property", badSegment);
      }
    }
    if (count == 0) return this.fail("property", "is an empty array");
    return true;
  }
}

/**
 * Which TLV types a configuration may name (haproxy doc/proxy-protocol.txt
 * 2.2): the assigned ones we can fill, the custom range 0xE0-0xEF and the
 * experimental range 0xF0-0xF7. The empty string when allowed, else why not.
 */
function typeProblem(type: i32): string {
  switch (type) {
    case PP2_TYPE_ALPN:
    case PP2_TYPE_AUTHORITY:
    case PP2_TYPE_NOOP:
    case PP2_TYPE_UNIQUE_ID:
    case PP2_TYPE_NETNS:
      return "";
    case PP2_TYPE_CRC32C:
      return "3 is CRC32C; use \"crc32c\": true";
    case PP2_TYPE_SSL:
      return "0x20 is SSL; use \"from\": \"ssl\"";
  }
  if (type >= 0xe0 && type <= 0xf7) return "";
  if (type >= 0x21 && type <= 0x28) return "0x21-0x28 are SSL sub-types; use \"from\": \"ssl\"";
  if (type >= 0xf8) return "0xF8-0xFF are reserved for future use";
  return "unassigned; use a named type or 0xE0-0xF7";
}

/** Why a static value is not valid for its type (tlvValueValid said it is not). */
function staticValueProblem(type: u8): string {
  switch (type) {
    case PP2_TYPE_UNIQUE_ID:
      return "UNIQUE_ID is at most 128 bytes";
    case PP2_TYPE_NETNS:
      return "NETNS must be US-ASCII";
    default:
      return "AUTHORITY must be UTF-8";
  }
}
