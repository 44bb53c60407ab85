// PROXY v1 text lines (haproxy doc/proxy-protocol.txt 2.1), literal expected text.
import { ADDRESS_SIZE, Address, FAM_UNIX_STREAM, pairFamily, parseAddress } from "../../assembly/address";
import { encodeV1, v1CanExpress } from "../../assembly/ppv1";
import { put, scratch } from "./helpers.include";

const OUT = memory.data(128);
const SRC = changetype<Address>(memory.data(ADDRESS_SIZE, 8));
const DST = changetype<Address>(memory.data(ADDRESS_SIZE, 8));

function line(src: string, dst: string): string {
  parseAddress(scratch(), put(src), SRC);
  parseAddress(scratch(), put(dst), DST);
  const n = encodeV1(OUT, 107, pairFamily(SRC, DST), SRC, DST);
  expect<i32>(n).toBeLessThanOrEqual(107);
  return String.UTF8.decodeUnsafe(OUT, <usize>n);
}

describe("v1", () => {
  it("TCP4", () => {
    expect<string>(line("192.168.0.1:56324", "192.168.0.11:443")).toBe("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
  });
  it("ports 0 and 65535", () => {
    expect<string>(line("1.2.3.4:0", "5.6.7.8:65535")).toBe("PROXY TCP4 1.2.3.4 5.6.7.8 0 65535\r\n");
  });
  it("TCP6 in RFC 5952 form", () => {
    expect<string>(line("[2001:DB8:0:0:0:0:0:1]:443", "[2001:db8::2]:8443")).toBe("PROXY TCP6 2001:db8::1 2001:db8::2 443 8443\r\n");
  });
  it("TCP6 compresses the first longest zero run, never a single group", () => {
    expect<string>(line("[2001:0:0:1:0:0:0:1]:1", "[2001:db8:0:1:1:1:1:1]:2")).toBe("PROXY TCP6 2001:0:0:1::1 2001:db8:0:1:1:1:1:1 1 2\r\n");
    expect<string>(line("[2001:db8:0:0:1:0:0:1]:1", "[::]:2")).toBe("PROXY TCP6 2001:db8::1:0:0:1 :: 1 2\r\n");
    expect<string>(line("[1::]:1", "[::1]:2")).toBe("PROXY TCP6 1:: ::1 1 2\r\n");
  });
  it("mixed families: TCP6 with the IPv4 side as ::ffff:a.b.c.d in hex groups (v1 allows no dotted quad)", () => {
    expect<string>(line("1.2.3.4:1", "[2001:db8::2]:2")).toBe("PROXY TCP6 ::ffff:102:304 2001:db8::2 1 2\r\n");
  });
  it("both sides IPv4-mapped: TCP4", () => {
    expect<string>(line("[::ffff:10.0.0.1]:1", "[::ffff:10.0.0.2]:2")).toBe("PROXY TCP4 10.0.0.1 10.0.0.2 1 2\r\n");
  });
  it("the longest possible line is 104 bytes", () => {
    const l = line("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe]:65535", "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
    expect<string>(l).toBe("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n");
    expect<i32>(l.length).toBe(104);
  });
  it("UNIX sockets and unknown addresses: PROXY UNKNOWN; v1 cannot express a UNIX pair", () => {
    expect<string>(line("/tmp/a", "/tmp/b")).toBe("PROXY UNKNOWN\r\n");
    expect<bool>(v1CanExpress(FAM_UNIX_STREAM)).toBe(false);
    expect<string>(line("envoy://internal", "1.2.3.4:5")).toBe("PROXY UNKNOWN\r\n");
  });
  it("refuses a buffer under 107 bytes", () => {
    expect<i32>(encodeV1(OUT, 106, 0, SRC, DST)).toBe(-1);
  });
});
