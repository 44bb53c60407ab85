// PROXY v2 encoder: literal golden vectors written from haproxy
// doc/proxy-protocol.txt section 2.2, and the length invariant on every one.
import { ADDRESS_SIZE, Address, FAM_TCP4, FAM_TCP6, FAM_UNIX_STREAM, pairFamily, parseAddress } from "../../assembly/address";
import {
  PP2_MAX_HEADER,
  v2AppendBytes,
  v2AppendTlv,
  v2Begin,
  v2BeginTlv,
  v2EndTlv,
  v2Finish,
  v2Local,
} from "../../assembly/ppv2";
import { hex, put, putHex, scratch } from "./helpers.include";

const SIG = "0d0a0d0a000d0a515549540a";
const OUT = memory.data(65552 + 16, 8);
const SRC = changetype<Address>(memory.data(ADDRESS_SIZE, 8));
const DST = changetype<Address>(memory.data(ADDRESS_SIZE, 8));
const VALUE = 66000; // scratch offset for TLV values

function pair(src: string, dst: string): u8 {
  const n = put(src);
  expect<bool>(parseAddress(scratch(), n, SRC)).toBe(true, src);
  const m = put(dst);
  expect<bool>(parseAddress(scratch(), m, DST)).toBe(true, dst);
  return pairFamily(SRC, DST);
}

/** Encodes a pair with no TLVs and returns the header as hex. */
function header(src: string, dst: string, crc: bool = false): string {
  const family = pair(src, dst);
  const end = v2Finish(OUT, 65552, v2Begin(OUT, 65552, family, SRC, DST), crc);
  return checked(end);
}

/** Asserts the length field equals the bytes after the first 16, then returns hex. */
function checked(end: i32): string {
  expect<i32>(end).toBeGreaterThanOrEqual(16);
  const lengthField = (<i32>load<u8>(OUT + 14) << 8) | load<u8>(OUT + 15);
  expect<i32>(lengthField).toBe(end - 16, "length field == bytes after the first 16");
  return hex(OUT, end);
}

function path108(text: string): string {
  let s = "";
  for (let i = 0; i < text.length; i++) s += (text.charCodeAt(i) < 16 ? "0" : "") + text.charCodeAt(i).toString(16);
  while (s.length < 216) s += "00";
  return s;
}

describe("v2 address blocks", () => {
  it("TCP4: 28 bytes, big-endian ports", () => {
    expect<string>(header("1.2.3.4:5678", "5.6.7.8:80")).toBe(SIG + "2111" + "000c" + "01020304" + "05060708" + "162e" + "0050");
  });

  it("TCP4 with ports 0 and 65535", () => {
    expect<string>(header("0.0.0.0:0", "255.255.255.255:65535")).toBe(SIG + "2111000c" + "00000000" + "ffffffff" + "0000" + "ffff");
  });

  it("TCP6: 52 bytes", () => {
    expect<string>(header("[2001:db8::1]:443", "[2001:db8::2]:8443")).toBe(
      SIG + "2121" + "0024" + "20010db8000000000000000000000001" + "20010db8000000000000000000000002" + "01bb" + "20fb",
    );
  });

  it("TCP6 with ports 65535 and 0", () => {
    expect<string>(header("[::1]:65535", "[::]:0")).toBe(
      SIG + "21210024" + "00000000000000000000000000000001" + "00000000000000000000000000000000" + "ffff" + "0000",
    );
  });

  it("mixed IPv4 client, IPv6 destination: TCP6 with the IPv4 side as ::ffff:a.b.c.d", () => {
    expect<string>(header("1.2.3.4:1000", "[2001:db8::2]:443")).toBe(
      SIG + "21210024" + "00000000000000000000ffff01020304" + "20010db8000000000000000000000002" + "03e8" + "01bb",
    );
  });

  it("mixed IPv6 client, IPv4 destination: TCP6", () => {
    expect<string>(header("[2001:db8::1]:1000", "10.0.0.1:80")).toBe(
      SIG + "21210024" + "20010db8000000000000000000000001" + "00000000000000000000ffff0a000001" + "03e8" + "0050",
    );
  });

  it("both sides IPv4-mapped (as a downstream PROXY header can give them): TCP4 with the plain IPv4 addresses", () => {
    expect<string>(header("[::ffff:192.0.2.10]:40000", "[::ffff:192.0.2.1]:443")).toBe(
      SIG + "2111000c" + "c000020a" + "c0000201" + "9c40" + "01bb",
    );
  });

  it("one side IPv4-mapped, the other plain IPv4: TCP4", () => {
    expect<string>(header("[::ffff:10.1.2.3]:1", "10.0.0.1:2")).toBe(SIG + "2111000c" + "0a010203" + "0a000001" + "0001" + "0002");
  });

  it("UNIX stream: 232 bytes, NUL-padded 108-byte paths", () => {
    expect<string>(header("/tmp/a.sock", "/tmp/b.sock")).toBe(SIG + "2131" + "00d8" + path108("/tmp/a.sock") + path108("/tmp/b.sock"));
  });

  it("UNIX abstract socket: '@' becomes the leading NUL of sun_path", () => {
    expect<string>(header("@envoy", "@envoy")).toBe(SIG + "213100d8" + path108("\0envoy") + path108("\0envoy"));
  });

  it("LOCAL: 0x20, family UNSPEC, length 0 (no address block)", () => {
    expect<string>(checked(v2Finish(OUT, 65552, v2Local(OUT, 65552), false))).toBe(SIG + "2000" + "0000");
  });

  it("refuses a buffer that is too small", () => {
    const family = pair("1.2.3.4:1", "5.6.7.8:2");
    expect<i32>(v2Begin(OUT, 27, family, SRC, DST)).toBe(-1);
    expect<i32>(v2Local(OUT, 15)).toBe(-1);
  });
});

describe("v2 TLVs", () => {
  beforeEach(() => {
    pair("1.2.3.4:5678", "5.6.7.8:80");
  });

  it("CRC32C: the REFERENCE.md example vector, byte for byte", () => {
    expect<string>(header("1.2.3.4:5678", "5.6.7.8:80", true)).toBe(
      "0d0a0d0a000d0a515549540a" + "21" + "11" + "0013" + "01020304" + "05060708" + "162e" + "0050" + "03" + "0004" + "6a0e9e74",
    );
  });

  it("CRC32C over a TCP6 header with an AUTHORITY TLV", () => {
    pair("[2001:db8::1]:443", "[2001:db8::2]:8443");
    let end = v2Begin(OUT, 65552, FAM_TCP6, SRC, DST);
    const n = put("example.com", VALUE);
    end = v2AppendTlv(OUT, 65552, end, 0x02, scratch(VALUE), n);
    expect<string>(checked(v2Finish(OUT, 65552, end, true))).toBe(
      SIG + "21210039" + "20010db8000000000000000000000001" + "20010db8000000000000000000000002" + "01bb20fb" +
        "02000b6578616d706c652e636f6d" + "030004" + "00e4843f",
    );
  });

  it("ALPN, AUTHORITY, NOOP (empty), UNIQUE_ID, NETNS and a custom 0xEA TLV, in order", () => {
    let end = v2Begin(OUT, 65552, FAM_TCP4, SRC, DST);
    end = v2AppendTlv(OUT, 65552, end, 0x01, scratch(VALUE), put("h2", VALUE));
    end = v2AppendTlv(OUT, 65552, end, 0x02, scratch(VALUE), put("example.com", VALUE));
    end = v2AppendTlv(OUT, 65552, end, 0x04, scratch(VALUE), 0);
    end = v2AppendTlv(OUT, 65552, end, 0x05, scratch(VALUE), put("12345", VALUE));
    end = v2AppendTlv(OUT, 65552, end, 0x30, scratch(VALUE), put("ns1", VALUE));
    end = v2AppendTlv(OUT, 65552, end, 0xea, scratch(VALUE), putHex("0176706365", VALUE));
    expect<string>(checked(v2Finish(OUT, 65552, end, false))).toBe(
      SIG + "2111" + "0038" + "0102030405060708162e0050" +
        "010002" + "6832" +
        "02000b" + "6578616d706c652e636f6d" +
        "040000" +
        "050005" + "3132333435" +
        "300003" + "6e7331" +
        "ea0005" + "0176706365",
    );
  });

  it("SSL with VERSION and CN sub-TLVs; the outer length covers client, verify and sub-TLVs", () => {
    let end = v2Begin(OUT, 65552, FAM_TCP4, SRC, DST);
    const start = end;
    end = v2BeginTlv(OUT, 65552, end, 0x20);
    end = v2AppendBytes(OUT, 65552, end, scratch(VALUE), putHex("0300000000", VALUE));
    end = v2AppendTlv(OUT, 65552, end, 0x21, scratch(VALUE), put("TLSv1.3", VALUE));
    end = v2AppendTlv(OUT, 65552, end, 0x22, scratch(VALUE), put("client", VALUE));
    v2EndTlv(OUT, start, end);
    expect<string>(checked(v2Finish(OUT, 65552, end, false))).toBe(
      SIG + "2111" + "0027" + "0102030405060708162e0050" +
        "200018" + "03" + "00000000" + "210007" + "544c5376312e33" + "220006" + "636c69656e74",
    );
  });

  it("fills the 16-bit length exactly: 65535 bytes after the prefix, and not one more", () => {
    const begin = v2Begin(OUT, 65552, FAM_TCP4, SRC, DST);
    const value = 65535 - 12 - 3;
    const end = v2AppendTlv(OUT, 65552, begin, 0xe0, scratch(VALUE), value);
    expect<i32>(end).toBe(PP2_MAX_HEADER);
    expect<i32>(v2Finish(OUT, 65552, end, false)).toBe(65551);
    expect<string>(hex(OUT + 14, 2)).toBe("ffff");
    expect<i32>(v2AppendTlv(OUT, 65552, begin, 0xe0, scratch(VALUE), value + 1)).toBe(-1);
    // No room left for a CRC TLV either.
    expect<i32>(v2Finish(OUT, 65552, end, true)).toBe(-1);
    expect<i32>(v2AppendTlv(OUT, 65552, end, 0x04, scratch(VALUE), 0)).toBe(-1);
  });

  it("UNIX header with a CRC32C TLV", () => {
    pair("/tmp/a.sock", "/tmp/b.sock");
    const end = v2Finish(OUT, 65552, v2Begin(OUT, 65552, FAM_UNIX_STREAM, SRC, DST), true);
    expect<string>(checked(end)).toBe(SIG + "213100df" + path108("/tmp/a.sock") + path108("/tmp/b.sock") + "030004" + "1c220d7f");
  });
});
