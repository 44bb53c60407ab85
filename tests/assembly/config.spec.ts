// Plugin configuration: defaults, every key, the TLV records it produces, and
// every class of error with the exact one-line message.
import { Config, MAX_TLVS, TlvConfig, TlvSource, freeConfig, parseConfig } from "../../assembly/config";
import { lineLen, linePtr } from "../../assembly/bytes";
import { hex, put, putHex, scratch } from "./helpers.include";

const PREFIX = "ppv2-wasm: bad plugin configuration: ";

/** Parses a configuration that must be accepted. */
function parse(json: string): Config {
  const c = parseConfig(scratch(), put(json));
  expect<bool>(c !== null).toBe(true, json);
  return changetype<Config>(c);
}

function error(json: string): string {
  const c = parseConfig(scratch(), put(json));
  expect<bool>(c === null).toBe(true, json);
  return String.UTF8.decodeUnsafe(linePtr(), <usize>lineLen());
}

function tlv(c: Config, index: i32): TlvConfig {
  return c.tlv(index);
}

function data(c: Config, index: i32): string {
  return hex(c.tlvData(c.tlv(index)), c.tlv(index).dataLength);
}

function repeat(s: string, n: i32): string {
  let r = "";
  for (let i = 0; i < n; i++) r += s;
  return r;
}

describe("defaults", () => {
  it("empty input, whitespace and {} mean v2, no TLVs, LOCAL fallback", () => {
    const c0 = changetype<Config>(parseConfig(scratch(), 0));
    const inputs = ["", "  \n\t", "{}", " { } "];
    for (let i = 0; i < inputs.length; i++) {
      const c = i == 0 ? c0 : parse(inputs[i]);
      expect<i32>(c.version).toBe(2);
      expect<i32>(c.tlvCount).toBe(0);
      expect<bool>(c.closeOnUnknown).toBe(false);
      expect<bool>(c.crc32c).toBe(false);
      expect<bool>(c.rejectClientHeader).toBe(false);
      if (i > 0) freeConfig(c);
    }
    freeConfig(c0);
  });
});

describe("keys", () => {
  it("version, on_unknown_address, crc32c, reject_client_proxy_header", () => {
    let c = parse('{"version": 1, "on_unknown_address": "close", "reject_client_proxy_header": true}');
    expect<i32>(c.version).toBe(1);
    expect<bool>(c.closeOnUnknown).toBe(true);
    expect<bool>(c.rejectClientHeader).toBe(true);
    freeConfig(c);
    c = parse('{"version": 2, "on_unknown_address": "local", "crc32c": true, "reject_client_proxy_header": false}');
    expect<i32>(c.version).toBe(2);
    expect<bool>(c.closeOnUnknown).toBe(false);
    expect<bool>(c.crc32c).toBe(true);
    expect<bool>(c.rejectClientHeader).toBe(false);
    freeConfig(c);
  });

  it("escaped key names are compared decoded", () => {
    const c = parse('{"ver\\u0073ion": 1}');
    expect<i32>(c.version).toBe(1);
    freeConfig(c);
  });

  it("tlvs: every source and type form, in order", () => {
    const c = parse(
      '{"tlvs": [' +
        '{"type": "authority", "from": "sni"},' +
        '{"type": "unique_id", "from": "connection_id"},' +
        '{"from": "ssl"},' +
        '{"type": 234, "hex": "01A0ff"},' +
        '{"type": "alpn", "value": "h2"},' +
        '{"type": "netns", "value": "blue"},' +
        '{"type": "noop", "value": ""},' +
        '{"type": 240, "property": "connection.uri_san_peer_certificate"},' +
        '{"type": 224, "property": ["metadata", "filter_metadata", "envoy.lb", "canary"]}' +
        "], \"crc32c\": true}",
    );
    expect<i32>(c.tlvCount).toBe(9);
    expect<u8>(tlv(c, 0).type).toBe(0x02);
    expect<i32>(tlv(c, 0).source).toBe(TlvSource.Sni);
    expect<u8>(tlv(c, 1).type).toBe(0x05);
    expect<i32>(tlv(c, 1).source).toBe(TlvSource.ConnectionId);
    expect<u8>(tlv(c, 2).type).toBe(0x20);
    expect<i32>(tlv(c, 2).source).toBe(TlvSource.Ssl);
    expect<u8>(tlv(c, 3).type).toBe(0xea);
    expect<i32>(tlv(c, 3).source).toBe(TlvSource.Static);
    expect<string>(data(c, 3)).toBe("01a0ff");
    expect<string>(data(c, 4)).toBe("6832");
    expect<u8>(tlv(c, 5).type).toBe(0x30);
    expect<u8>(tlv(c, 6).type).toBe(0x04);
    expect<i32>(tlv(c, 6).dataLength).toBe(0);
    expect<i32>(tlv(c, 7).source).toBe(TlvSource.Property);
    expect<string>(String.UTF8.decodeUnsafe(c.tlvData(tlv(c, 7)), <usize>tlv(c, 7).dataLength)).toBe("connection\0uri_san_peer_certificate");
    expect<string>(String.UTF8.decodeUnsafe(c.tlvData(tlv(c, 8)), <usize>tlv(c, 8).dataLength)).toBe("metadata\0filter_metadata\0envoy.lb\0canary");
    // Room kept behind each TLV for the static TLVs after it, plus the 7-byte CRC TLV.
    expect<i32>(tlv(c, 8).reserveAfter).toBe(7);
    expect<i32>(tlv(c, 2).reserveAfter).toBe(7 + 6 + 5 + 7 + 3);
    expect<i32>(tlv(c, 0).reserveAfter).toBe(7 + 6 + 5 + 7 + 3);
    freeConfig(c);
  });

  it("accepts the custom and experimental ranges and a 128-byte UNIQUE_ID", () => {
    const c = parse('{"tlvs": [{"type": 224, "value": "a"}, {"type": 239, "value": "b"}, {"type": 247, "value": "c"}, {"type": 5, "value": "' + repeat("x", 128) + '"}]}');
    expect<i32>(c.tlvCount).toBe(4);
    freeConfig(c);
  });

  it("a JSON string value is decoded (escapes, surrogate pairs) before it is sent", () => {
    const c = parse('{"tlvs": [{"type": 2, "value": "a\\"b\\u00e9\\ud83d\\ude00\\n"}]}');
    expect<string>(data(c, 0)).toBe("612262c3a9f09f98800a");
    freeConfig(c);
    // One escape of each UTF-8 length: 1, 2, 3 and 4 bytes, and raw UTF-8 copied as it is.
    const d = parse('{"tlvs": [{"type": 2, "value": "\\u0041\\u07ff\\u20ac\\udbff\\udfff\\/\u00e9"}]}');
    expect<string>(data(d, 0)).toBe("41dfbfe282acf48fbfbf2fc3a9");
    freeConfig(d);
  });

  it("numbers: only a small integer 1 or 2 is a version; fractions and exponents are read whole", () => {
    expect<string>(error('{"version": 2.0}')).toBe(PREFIX + "version: expected 1 or 2 (got 2.0)");
    expect<string>(error('{"version": 2E+0}')).toBe(PREFIX + "version: expected 1 or 2 (got 2E+0)");
    expect<string>(error('{"version": 1e-0}')).toBe(PREFIX + "version: expected 1 or 2 (got 1e-0)");
    expect<string>(error('{"version": -1}')).toBe(PREFIX + "version: expected 1 or 2 (got -1)");
    expect<string>(error('{"version": 1000000001}')).toBe(PREFIX + "version: expected 1 or 2 (got 1000000001)");
    expect<string>(error('{"version": 2.}')).toBe(PREFIX + "invalid JSON at byte 14: invalid number");
    expect<string>(error('{"version": 2e+}')).toBe(PREFIX + "invalid JSON at byte 15: invalid number");
    expect<string>(error('{"version": 2x}')).toBe(PREFIX + "invalid JSON at byte 13: expected ',' or '}'");
  });

  it("static TLVs up to the limit are accepted", () => {
    // 65535 - 216 (UNIX block) = 65319 bytes for static TLVs: one value of 65316.
    const c = parse('{"tlvs": [{"type": 224, "value": "' + repeat("a", 65316) + '"}]}');
    freeConfig(c);
  });
});

describe("errors name the key and quote the value", () => {
  it("unknown keys", () => {
    expect<string>(error('{"versoin": 2}')).toBe(PREFIX + 'unknown key "versoin"; keys: version, on_unknown_address, crc32c, tlvs, reject_client_proxy_header (got 2)');
    expect<string>(error('{"tlvs": [{"type": 2, "valeu": "x"}]}')).toBe(PREFIX + 'tlvs[0]: unknown key "valeu" (got "x")');
  });
  it("wrong types", () => {
    expect<string>(error('{"version": "2"}')).toBe(PREFIX + 'version: expected 1 or 2 (got "2")');
    expect<string>(error('{"version": 3}')).toBe(PREFIX + "version: expected 1 or 2 (got 3)");
    expect<string>(error('{"version": 2.0}')).toBe(PREFIX + "version: expected 1 or 2 (got 2.0)");
    expect<string>(error('{"on_unknown_address": "drop"}')).toBe(PREFIX + 'on_unknown_address: expected "local" or "close" (got "drop")');
    expect<string>(error('{"crc32c": "yes"}')).toBe(PREFIX + 'crc32c: expected true or false (got "yes")');
    expect<string>(error('{"reject_client_proxy_header": 1}')).toBe(PREFIX + "reject_client_proxy_header: expected true or false (got 1)");
    expect<string>(error('{"tlvs": {}}')).toBe(PREFIX + "tlvs: expected an array of TLV objects (got {})");
    expect<string>(error('{"tlvs": [2]}')).toBe(PREFIX + "tlvs[0]: expected an object (got 2)");
    expect<string>(error('{"tlvs": [{"type": 2, "value": 5}]}')).toBe(PREFIX + "tlvs[0].value: expected a string (got 5)");
    expect<string>(error('{"tlvs": [{"type": 2, "from": "cookie"}]}')).toBe(PREFIX + 'tlvs[0].from: expected "sni", "connection_id" or "ssl" (got "cookie")');
    expect<string>(error("[]")).toBe(PREFIX + "expected a JSON object (got [])");
  });
  it("TLV types out of range or reserved", () => {
    expect<string>(error('{"tlvs": [{"type": 256, "value": "x"}]}')).toBe(PREFIX + 'tlvs[0].type: must be 0-255 or "alpn", "authority", "unique_id", "netns", "noop" (got 256)');
    expect<string>(error('{"tlvs": [{"type": -1, "value": "x"}]}')).toBe(PREFIX + 'tlvs[0].type: must be 0-255 or "alpn", "authority", "unique_id", "netns", "noop" (got -1)');
    expect<string>(error('{"tlvs": [{"type": "ssl", "value": "x"}]}')).toBe(PREFIX + 'tlvs[0].type: must be 0-255 or "alpn", "authority", "unique_id", "netns", "noop" (got "ssl")');
    expect<string>(error('{"tlvs": [{"type": 3, "value": "x"}]}')).toBe(PREFIX + 'tlvs[0].type: 3 is CRC32C; use "crc32c": true (got 3)');
    expect<string>(error('{"tlvs": [{"type": 32, "value": "x"}]}')).toBe(PREFIX + 'tlvs[0].type: 0x20 is SSL; use "from": "ssl" (got 32)');
    expect<string>(error('{"tlvs": [{"type": 34, "value": "x"}]}')).toBe(PREFIX + 'tlvs[0].type: 0x21-0x28 are SSL sub-types; use "from": "ssl" (got 34)');
    expect<string>(error('{"tlvs": [{"type": 248, "hex": "00"}]}')).toBe(PREFIX + "tlvs[0].type: 0xF8-0xFF are reserved for future use (got 248)");
    expect<string>(error('{"tlvs": [{"type": 255, "hex": "00"}]}')).toBe(PREFIX + "tlvs[0].type: 0xF8-0xFF are reserved for future use (got 255)");
    expect<string>(error('{"tlvs": [{"type": 0, "value": "x"}]}')).toBe(PREFIX + "tlvs[0].type: unassigned; use a named type or 0xE0-0xF7 (got 0)");
    expect<string>(error('{"tlvs": [{"type": 6, "value": "x"}]}')).toBe(PREFIX + "tlvs[0].type: unassigned; use a named type or 0xE0-0xF7 (got 6)");
    expect<string>(error('{"tlvs": [{"value": "x"}]}')).toBe(PREFIX + 'tlvs[0].type: missing (got {"value": "x"})');
    expect<string>(error('{"tlvs": [{"type": 5, "from": "ssl"}]}')).toBe(PREFIX + 'tlvs[0].type: omit it with "from": "ssl" (got 5)');
  });
  it("sources", () => {
    expect<string>(error('{"tlvs": [{"type": 2}]}')).toBe(PREFIX + 'tlvs[0]: needs exactly one of value, hex, property, from (got {"type": 2})');
    expect<string>(error('{"tlvs": [{"type": 2, "value": "a", "hex": "00"}]}')).toBe(PREFIX + 'tlvs[0]: needs exactly one of value, hex, property, from (got {"type": 2, "value": "a", "hex": "00"})');
    expect<string>(error('{"tlvs": [{"type": 2, "hex": "abc"}]}')).toBe(PREFIX + 'tlvs[0].hex: expected an even number of hex digits (got "abc")');
    expect<string>(error('{"tlvs": [{"type": 2, "hex": "zz"}]}')).toBe(PREFIX + 'tlvs[0].hex: expected an even number of hex digits (got "zz")');
    expect<string>(error('{"tlvs": [{"type": 2, "property": "a..b"}]}')).toBe(PREFIX + 'tlvs[0].property: has an empty segment or a NUL byte (got "a..b")');
    expect<string>(error('{"tlvs": [{"type": 2, "property": ""}]}')).toBe(PREFIX + 'tlvs[0].property: has an empty segment or a NUL byte (got "")');
    expect<string>(error('{"tlvs": [{"type": 2, "property": "a."}]}')).toBe(PREFIX + 'tlvs[0].property: has an empty segment or a NUL byte (got "a.")');
    expect<string>(error('{"tlvs": [{"type": 2, "property": []}]}')).toBe(PREFIX + "tlvs[0].property: is an empty array (got [])");
    expect<string>(error('{"tlvs": [{"type": 2, "property": ["a", ""]}]}')).toBe(PREFIX + 'tlvs[0].property: segments must be non-empty strings (got ["a", ""])');
    expect<string>(error('{"tlvs": [{"type": 2, "property": ["a\\u0000b"]}]}')).toBe(PREFIX + 'tlvs[0].property: has an empty segment or a NUL byte (got ["a\\u0000b"])');
    expect<string>(error('{"tlvs": [{"type": 2, "property": 7}]}')).toBe(PREFIX + "tlvs[0].property: expected a dotted path or an array of segments (got 7)");
  });
  it("value limits", () => {
    const long = repeat("x", 129);
    expect<string>(error('{"tlvs": [{"type": "unique_id", "value": "' + long + '"}]}')).toBe(
      PREFIX + 'tlvs[0]: UNIQUE_ID is at most 128 bytes (got {"type": "unique_id", "value": "' + repeat("x", 32) + '...)',
    );
    expect<string>(error('{"tlvs": [{"type": "netns", "value": "caf\\u00e9"}]}')).toBe(PREFIX + 'tlvs[0]: NETNS must be US-ASCII (got {"type": "netns", "value": "caf\\u00e9"})');
    expect<string>(error('{"tlvs": [{"type": 224, "value": "' + repeat("a", 65317) + '"}]}')).toBe(PREFIX + "tlvs: static TLVs need 65320 bytes; 65319 fit beside a UNIX address block");
    expect<string>(error('{"crc32c": true, "tlvs": [{"type": 224, "value": "' + repeat("a", 65310) + '"}]}')).toBe(PREFIX + "tlvs: static TLVs need 65320 bytes; 65319 fit beside a UNIX address block");
  });
  it("quotes at most 64 bytes of a long value, on one line", () => {
    const e = error('{"version": "' + repeat("v", 200) + '"}');
    expect<string>(e).toBe(PREFIX + 'version: expected 1 or 2 (got "' + repeat("v", 63) + '...)');
    const f = error('{"tlvs": {\n"a": 1}}');
    expect<string>(f).toBe(PREFIX + 'tlvs: expected an array of TLV objects (got {\\x0a"a": 1})');
  });
  it("duplicate keys", () => {
    expect<string>(error('{"version": 1, "version": 2}')).toBe(PREFIX + "version: duplicate key (got 2)");
    expect<string>(error('{"tlvs": [{"type": 2, "type": 2, "value": "x"}]}')).toBe(PREFIX + "tlvs[0].type: duplicate key (got 2)");
  });
  it("TLVs and CRC32C need version 2", () => {
    expect<string>(error('{"version": 1, "tlvs": [{"type": 2, "value": "x"}]}')).toBe(PREFIX + "tlvs: needs version 2 (PROXY v1 has no TLVs)");
    expect<string>(error('{"version": 1, "crc32c": true}')).toBe(PREFIX + "crc32c: needs version 2 (PROXY v1 has no TLVs)");
  });
  it("invalid JSON", () => {
    expect<string>(error("{")).toBe(PREFIX + "invalid JSON at byte 1: expected a key");
    expect<string>(error('{"version": 2,}')).toBe(PREFIX + "invalid JSON at byte 14: expected a key");
    expect<string>(error("{'version': 2}")).toBe(PREFIX + "invalid JSON at byte 1: expected a key");
    expect<string>(error('{"version": NaN}')).toBe(PREFIX + "invalid JSON at byte 12: unexpected character");
    expect<string>(error('{"version": 01}')).toBe(PREFIX + "invalid JSON at byte 13: expected ',' or '}'");
    expect<string>(error('{"version": 2} x')).toBe(PREFIX + "invalid JSON at byte 15: data after the value");
    expect<string>(error('{"a": tru}')).toBe(PREFIX + "invalid JSON at byte 6: invalid literal");
    expect<string>(error('{"a": "\\x"}')).toBe(PREFIX + "invalid JSON at byte 7: invalid escape in string");
    expect<string>(error('{"a": "\\ud800"}')).toBe(PREFIX + "invalid JSON at byte 7: invalid escape in string");
    expect<string>(error('{"a": "x\ny"}')).toBe(PREFIX + "invalid JSON at byte 8: control byte in string");
    expect<string>(error('{"a": "x')).toBe(PREFIX + "invalid JSON at byte 8: unterminated string");
    expect<string>(error("nul")).toBe(PREFIX + "invalid JSON at byte 0: truncated literal");
    expect<string>(error('{"a": -}')).toBe(PREFIX + "invalid JSON at byte 7: invalid number");
    expect<string>(error('{"a": 1e}')).toBe(PREFIX + "invalid JSON at byte 8: invalid number");
  });
  it("bytes that are not UTF-8", () => {
    const n = putHex("7b2276657273696f6e223a2022ff227d"); // {"version": "\xff"}
    expect<bool>(parseConfig(scratch(), n) === null).toBe(true);
    expect<string>(String.UTF8.decodeUnsafe(linePtr(), <usize>lineLen())).toBe(PREFIX + "invalid JSON at byte 13: invalid UTF-8 in string");
    const m = putHex("7b22c0af223a20327d"); // overlong encoding in a key
    expect<bool>(parseConfig(scratch(), m) === null).toBe(true);
    const k = putHex("7b22eda080223a20327d"); // UTF-16 surrogate encoded as UTF-8
    expect<bool>(parseConfig(scratch(), k) === null).toBe(true);
  });
  it("nesting deeper than 32 levels", () => {
    expect<string>(error('{"version": ' + repeat("[", 40) + repeat("]", 40) + "}")).toBe(PREFIX + "invalid JSON at byte 44: nested deeper than 32");
    // 60000 levels: bounded, no stack overflow.
    expect<string>(error(repeat("[", 60000))).toBe(PREFIX + "invalid JSON at byte 33: nested deeper than 32");
  });
});

describe("bounds", () => {
  it("accepts 64 TLVs and refuses the 65th, naming the limit", () => {
    let list = "";
    for (let i = 0; i < MAX_TLVS; i++) list += (i > 0 ? ", " : "") + '{"type": "noop", "value": ""}';
    const c = parse('{"tlvs": [' + list + "]}");
    expect<i32>(c.tlvCount).toBe(64);
    freeConfig(c);
    expect<string>(error('{"tlvs": [' + list + ', {"type": "noop", "value": ""}]}')).toBe(PREFIX + "tlvs: more than 64 TLVs; the limit is 64");
  });
  it("reserves room after each TLV in one pass, last to first", () => {
    const c = parse('{"crc32c": true, "tlvs": [{"type": 224, "from": "sni"}, {"type": 225, "value": "ab"}, {"type": 226, "from": "sni"}, {"type": 227, "hex": "00"}]}');
    expect<i32>(tlv(c, 3).reserveAfter).toBe(7);
    expect<i32>(tlv(c, 2).reserveAfter).toBe(7 + 4);
    expect<i32>(tlv(c, 1).reserveAfter).toBe(7 + 4);
    expect<i32>(tlv(c, 0).reserveAfter).toBe(7 + 4 + 5);
    freeConfig(c);
  });
});

describe("the SSL TLV's listener_verifies_client_cert", () => {
  it("is false unless set, and only true when set to true", () => {
    let c = parse('{"tlvs": [{"from": "ssl"}]}');
    expect<bool>(tlv(c, 0).listenerVerifiesClientCert).toBe(false);
    freeConfig(c);
    c = parse('{"tlvs": [{"from": "ssl", "listener_verifies_client_cert": true}]}');
    expect<bool>(tlv(c, 0).listenerVerifiesClientCert).toBe(true);
    freeConfig(c);
    c = parse('{"tlvs": [{"listener_verifies_client_cert": false, "from": "ssl"}]}');
    expect<bool>(tlv(c, 0).listenerVerifiesClientCert).toBe(false);
    freeConfig(c);
  });
  it("must be a boolean, once, on a from: ssl TLV", () => {
    expect<string>(error('{"tlvs": [{"from": "ssl", "listener_verifies_client_cert": "yes"}]}')).toBe(PREFIX + 'tlvs[0].listener_verifies_client_cert: expected true or false (got "yes")');
    expect<string>(error('{"tlvs": [{"type": 2, "from": "sni", "listener_verifies_client_cert": true}]}')).toBe(PREFIX + 'tlvs[0].listener_verifies_client_cert: only with "from": "ssl" (got true)');
    expect<string>(error('{"tlvs": [{"from": "ssl", "listener_verifies_client_cert": true, "listener_verifies_client_cert": true}]}')).toBe(PREFIX + "tlvs[0].listener_verifies_client_cert: duplicate key (got true)");
  });
});
