// Envoy address strings → address records. Malformed input must give "unknown"
// (kind NONE), never a trap.
import {
  ADDRESS_SIZE,
  Address,
  AddressKind,
  FAM_TCP4,
  FAM_TCP6,
  FAM_UNIX_STREAM,
  FAM_UNSPEC,
  pairFamily,
  parseAddress,
} from "../../assembly/address";
import { hex, put, putHex, scratch } from "./helpers.include";

const A = changetype<Address>(memory.data(ADDRESS_SIZE, 8));
const B = changetype<Address>(memory.data(ADDRESS_SIZE, 8));

function parse(text: string, into: Address = A): bool {
  return parseAddress(scratch(), put(text), into);
}

function family(src: string, dst: string): u8 {
  parse(src, A);
  parse(dst, B);
  return pairFamily(A, B);
}

describe("valid addresses", () => {
  it("IPv4 at its limits", () => {
    expect<bool>(parse("255.255.255.255:65535")).toBe(true);
    expect<string>(hex(A.ip, 16)).toBe("00000000000000000000ffffffffffff");
    expect<u16>(A.port).toBe(65535);
    expect<bool>(parse("0.0.0.0:0")).toBe(true);
    expect<string>(hex(A.ip, 16)).toBe("00000000000000000000ffff00000000");
    expect<bool>(parse("10.200.3.40:9")).toBe(true);
    expect<string>(hex(A.ip, 16)).toBe("00000000000000000000ffff0ac80328");
    expect<u16>(A.port).toBe(9);
  });
  it("IPv4 with port", () => {
    expect<bool>(parse("1.2.3.4:5678")).toBe(true);
    expect<i32>(A.kind).toBe(AddressKind.IPv4);
    expect<u16>(A.port).toBe(5678);
    expect<string>(hex(A.ip, 16)).toBe("00000000000000000000ffff01020304");
  });
  it("IPv4 edge values and ports 0 and 65535", () => {
    expect<bool>(parse("0.0.0.0:0")).toBe(true);
    expect<u16>(A.port).toBe(0);
    expect<bool>(parse("255.255.255.255:65535")).toBe(true);
    expect<u16>(A.port).toBe(65535);
  });
  it("IPv6 forms", () => {
    expect<bool>(parse("[2001:db8::1]:443")).toBe(true);
    expect<i32>(A.kind).toBe(AddressKind.IPv6);
    expect<string>(hex(A.ip, 16)).toBe("20010db8000000000000000000000001");
    expect<bool>(parse("[::]:1")).toBe(true);
    expect<string>(hex(A.ip, 16)).toBe("00000000000000000000000000000000");
    expect<bool>(parse("[1:2:3:4:5:6:7:8]:1")).toBe(true);
    expect<string>(hex(A.ip, 16)).toBe("00010002000300040005000600070008");
    expect<bool>(parse("[fe80::1:2]:1")).toBe(true);
    expect<string>(hex(A.ip, 16)).toBe("fe800000000000000000000000010002");
    expect<bool>(parse("[1::]:1")).toBe(true);
    expect<string>(hex(A.ip, 16)).toBe("00010000000000000000000000000000");
    expect<bool>(parse("[ABCD:ef01::]:1")).toBe(true);
    expect<string>(hex(A.ip, 16)).toBe("abcdef01000000000000000000000000");
  });
  it("IPv4-mapped and embedded IPv4", () => {
    expect<bool>(parse("[::ffff:1.2.3.4]:80")).toBe(true);
    expect<string>(hex(A.ip, 16)).toBe("00000000000000000000ffff01020304");
    expect<bool>(parse("[::ffff:102:304]:80")).toBe(true);
    expect<string>(hex(A.ip, 16)).toBe("00000000000000000000ffff01020304");
    expect<bool>(parse("[1:2:3:4:5:6:1.2.3.4]:80")).toBe(true);
    expect<string>(hex(A.ip, 16)).toBe("00010002000300040005000601020304");
  });
  it("a zone id (Envoy prints %<scope id>) is accepted and dropped", () => {
    expect<bool>(parse("[fe80::1%2]:443")).toBe(true);
    expect<string>(hex(A.ip, 16)).toBe("fe800000000000000000000000000001");
    expect<bool>(parse("[fe80::1%eth0]:443")).toBe(true);
    expect<u16>(A.port).toBe(443);
  });
  it("pipe paths, and abstract sockets with a leading NUL", () => {
    expect<bool>(parse("/var/run/envoy.sock")).toBe(true);
    expect<i32>(A.kind).toBe(AddressKind.Unix);
    expect<string>(hex(A.path, 4)).toBe("2f766172");
    expect<bool>(parse("@abstract")).toBe(true);
    expect<string>(hex(A.path, 4)).toBe("00616273");
    // 107 bytes is the longest path Envoy accepts (sun_path is 108 with the NUL).
    let long = "/";
    for (let i = 0; i < 106; i++) long += "a";
    expect<bool>(parse(long)).toBe(true);
  });
});

const BAD: string[] = [
    "", "1.2.3.4", "1.2.3.4:", "1.2.3.4:65536", "1.2.3.4:99999", "1.2.3.4:-1", "1.2.3.4:80x", "1.2.3.4:080",
    "256.1.1.1:80", "1.2.3:80", "1.2.3.4.5:80", "01.2.3.4:80", "1..3.4:80", " 1.2.3.4:80", "1.2.3.4 :80",
    "[::1", "[::1]", "[::1]:", "[::1]80", "[::1]:65536", "[]:80", "[:]:80", "[:::]:80", "[1::2::3]:80",
    "[1:2:3:4:5:6:7:8:9]:80", "[1:2:3:4:5:6:7]:80", "[12345::]:80", "[::g]:80", "[1:]:80", "[:1]:80",
    "[1:2:3:4:5:6:7:8::]:80", "[::1.2.3]:80", "[::1.2.3.4.5]:80", "[::1.2.3.4:5]:80", "[fe80::1%]:80",
    "[fe80::1%a b]:80", "[fe80::1%0123456789abcdef]:80", "::1:80", "envoy://internal_listener", "localhost:80",
    "-1.2.3.4:80",
    // the one-pass IPv4 reader: where the quad stops must be the first ':'
    "1234.1.1.1:80", "1.2.3.1234:80", "1.2.3.4::80", "1.2.3.4:80:90", "1.2.3.04:80", "1.2.3.256:80", "1.2.3.4.:80",
    "1.2.3.:80", ".1.2.3:80", "1.2.3.4x:80", "1.2.3.4/32:80", "[::1.2.3.04]:80", "[::256.1.1.1]:80",
];

describe("malformed input gives unknown, never a trap", () => {
  it("rejects each of the malformed strings in BAD", () => {
    for (let i = 0; i < BAD.length; i++) {
      const text = BAD[i];
      expect<bool>(parse(text)).toBe(false, text);
      expect<i32>(A.kind).toBe(AddressKind.None, text);
    }
  });
  it("rejects a 10 kB string", () => {
    let s = "1";
    for (let i = 0; i < 10240; i++) s += ".1";
    expect<bool>(parse(s + ":80")).toBe(false);
    expect<bool>(parse("[" + s + "]:80")).toBe(false);
    expect<bool>(parse("/" + s)).toBe(false);
  });
  it("rejects bytes that are not UTF-8", () => {
    const n = putHex("fffe3a3830");
    expect<bool>(parseAddress(scratch(), n, A)).toBe(false);
    const m = putHex("5bff5d3a3830"); // "[\xff]:80"
    expect<bool>(parseAddress(scratch(), m, A)).toBe(false);
  });
  it("rejects a path of 108 bytes or more, and a path with a NUL", () => {
    let long = "/";
    for (let i = 0; i < 107; i++) long += "a";
    expect<bool>(parse(long)).toBe(false);
    const n = putHex("2f61002f62"); // "/a\0/b"
    expect<bool>(parseAddress(scratch(), n, A)).toBe(false);
  });
  it("handles a zero length and any length without reading past it", () => {
    put("1.2.3.4:80");
    for (let n = 0; n < 9; n++) expect<bool>(parseAddress(scratch(), n, A)).toBe(false); // up to "1.2.3.4:"
    expect<bool>(parseAddress(scratch(), 10, A)).toBe(true);
  });
});

describe("pair rules", () => {
  it("IPv4 + IPv4 → TCP4", () => {
    expect<u8>(family("1.2.3.4:1", "5.6.7.8:2")).toBe(FAM_TCP4);
  });
  it("IPv6 + IPv6 → TCP6", () => {
    expect<u8>(family("[::1]:1", "[::2]:2")).toBe(FAM_TCP6);
  });
  it("IPv4 + IPv6, either way → TCP6", () => {
    expect<u8>(family("1.2.3.4:1", "[::2]:2")).toBe(FAM_TCP6);
    expect<u8>(family("[::2]:2", "1.2.3.4:1")).toBe(FAM_TCP6);
  });
  it("mapped + mapped, and mapped + IPv4 → TCP4", () => {
    expect<u8>(family("[::ffff:1.2.3.4]:1", "[::ffff:5.6.7.8]:2")).toBe(FAM_TCP4);
    expect<u8>(family("[::ffff:1.2.3.4]:1", "5.6.7.8:2")).toBe(FAM_TCP4);
  });
  it("mapped + real IPv6 → TCP6", () => {
    expect<u8>(family("[::ffff:1.2.3.4]:1", "[2001:db8::1]:2")).toBe(FAM_TCP6);
  });
  it("path + path → UNIX", () => {
    expect<u8>(family("/a", "@b")).toBe(FAM_UNIX_STREAM);
  });
  it("anything else → unknown", () => {
    expect<u8>(family("/a", "1.2.3.4:1")).toBe(FAM_UNSPEC);
    expect<u8>(family("1.2.3.4:1", "envoy://x")).toBe(FAM_UNSPEC);
    expect<u8>(family("", "")).toBe(FAM_UNSPEC);
  });
});
