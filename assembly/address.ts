// Envoy address strings → Address records. Pure, allocation-free.
//
// What Envoy prints (source/common/network/address_impl.cc):
// - IPv4: "a.b.c.d:port" (its own dotted-quad formatter: no leading zeros).
// - IPv6: "[" inet_ntop(...) "]:port"; an IPv4-mapped address prints as
//   "[::ffff:a.b.c.d]:port". Recent Envoy appends "%<scope id>" to the address
//   when sin6_scope_id != 0 (Ipv6Helper::makeFriendlyAddress). PROXY v2 has no
//   field for a zone, so we accept and drop it: the address itself is exact.
// - Pipes: the path; abstract sockets print with a leading "@" (PipeInstance).
//   For an unbound UDS client Envoy reports the listener's own path as the
//   peer (io_socket_handle_impl.cc peerAddress), so both sides are paths.
// - Internal listeners: "envoy://..." which has no PROXY representation.
// Anything that is not exactly one of these forms is "unknown": no partial
// parses, no guessing. The caller then applies `on_unknown_address`.

import { hexValue, isDecimalDigit } from "./bytes";
import { AT_SIGN, COLON, DIGIT_ZERO, DOT, LEFT_BRACKET, PERCENT, RIGHT_BRACKET, SLASH } from "./ascii";

export enum AddressKind {
  /** Unknown: missing, malformed, or a form PROXY cannot express */
  None,
  IPv4,
  IPv6,
  Unix,
}

/** sun_path: 108 bytes on Linux; Envoy refuses longer paths. */
export const UNIX_PATH_SIZE: i32 = 108;
const IPV6_SIZE: usize = 16;

/**
 * One parsed address. IPv4 is stored IPv4-mapped (::ffff:a.b.c.d) in `ip`, so
 * that a mixed pair can be sent as TCP6 without conversion; a UNIX path is
 * stored as the sun_path image PROXY v2 sends: NUL-padded, and an abstract
 * socket ("@name") starts with a NUL.
 */
@unmanaged
export class Address {
  kind: AddressKind = AddressKind.None;
  port: u16 = 0;
  /** The path's length (UNIX only). */
  pathLength: i32 = 0;

  /** The 16 address bytes (IPv6, or IPv4-mapped). */
  get ip(): usize {
    return changetype<usize>(this) + offsetof<Address>();
  }

  /** The last 4 of them: the IPv4 address of an IPv4 or IPv4-mapped address. */
  get ipv4(): usize {
    return this.ip + 12;
  }

  /** The 108-byte sun_path image. */
  get path(): usize {
    return this.ip + IPV6_SIZE;
  }
}

/** Bytes to reserve for one Address (the record and its address bytes). */
export const ADDRESS_SIZE: i32 = <i32>offsetof<Address>() + <i32>IPV6_SIZE + UNIX_PATH_SIZE;

// PROXY v2 family/transport bytes (haproxy doc/proxy-protocol.txt 2.2).
export const FAM_UNSPEC: u8 = 0x00;
export const FAM_TCP4: u8 = 0x11;
export const FAM_TCP6: u8 = 0x21;
export const FAM_UNIX_STREAM: u8 = 0x31;

function clear(out: Address): void {
  memory.fill(changetype<usize>(out), 0, <usize>ADDRESS_SIZE);
}

/** Parses `len` bytes at `ptr` into `out`. False (kind None) when unknown. */
export function parseAddress(ptr: usize, len: i32, out: Address): bool {
  clear(out);
  if (len <= 0) return false;
  const first = <i32>load<u8>(ptr);
  let ok: bool = false;
  if (first == LEFT_BRACKET) ok = parseBracketedIPv6(ptr, len, out);
  else if (isDecimalDigit(first)) ok = parseIPv4WithPort(ptr, len, out);
  else if (first == SLASH || first == AT_SIGN) ok = parseUnixPath(ptr, len, out);
  if (!ok) clear(out);
  return ok;
}

/** True for IPv4 and for IPv6 addresses in ::ffff:0:0/96 (IPv4-mapped). */
function isIPv4Like(a: Address): bool {
  if (a.kind == AddressKind.IPv4) return true;
  if (a.kind != AddressKind.IPv6) return false;
  for (let i = 0; i < 10; i++) if (load<u8>(a.ip + <usize>i) != 0) return false;
  return load<u8>(a.ip + 10) == 0xff && load<u8>(a.ip + 11) == 0xff;
}

function isIP(a: Address): bool {
  return a.kind == AddressKind.IPv4 || a.kind == AddressKind.IPv6;
}

/**
 * The PROXY v2 family for a source/destination pair:
 * - both IPv4, or both IPv4-mapped, or one of each: TCP4. A mapped address is
 *   an IPv4 endpoint written the IPv6 way (one from a downstream PROXY header,
 *   say; Envoy reports a dual-stack listener's IPv4 clients as plain IPv4);
 *   sending TCP4 keeps the backend's IPv4 ACLs and logs working.
 * - both IP otherwise: TCP6, any IPv4 side promoted to ::ffff:a.b.c.d (v2 has
 *   no mixed family; this is what strict receivers accept).
 * - both paths: UNIX stream.
 * - anything else: UNSPEC, meaning "unknown".
 */
export function pairFamily(src: Address, dst: Address): u8 {
  if (src.kind == AddressKind.Unix && dst.kind == AddressKind.Unix) return FAM_UNIX_STREAM;
  if (!isIP(src) || !isIP(dst)) return FAM_UNSPEC;
  if (isIPv4Like(src) && isIPv4Like(dst)) return FAM_TCP4;
  return FAM_TCP6;
}

/** A decimal port 0..65535 in [start, end), exactly; -1 when invalid. */
function parsePort(ptr: usize, start: i32, end: i32): i32 {
  const n = end - start;
  if (n < 1 || n > 5) return -1;
  if (n > 1 && load<u8>(ptr + <usize>start) == DIGIT_ZERO) return -1; // no leading zeros
  let v = 0;
  for (let i = start; i < end; i++) {
    const c = <i32>load<u8>(ptr + <usize>i);
    if (!isDecimalDigit(c)) return -1;
    v = v * 10 + (c - DIGIT_ZERO);
  }
  return v > 65535 ? -1 : v;
}

function parseIPv4WithPort(ptr: usize, len: i32, out: Address): bool {
  // One pass: the quad, then ':' and the port. A dotted quad holds no ':', so
  // the ':' that ends it is the first one.
  const end = dottedQuadEnd(ptr, len, out.ipv4);
  if (end < 0 || end >= len || load<u8>(ptr + <usize>end) != COLON) return false;
  const port = parsePort(ptr, end + 1, len);
  if (port < 0) return false;
  store<u8>(out.ip + 10, 0xff); // ::ffff:a.b.c.d
  store<u8>(out.ip + 11, 0xff);
  out.kind = AddressKind.IPv4;
  out.port = <u16>port;
  return true;
}

/**
 * Reads a dotted quad from the start of [0, len): four parts of 1-3 digits,
 * 0-255, no leading zeros, split by '.', into 4 bytes at dst. Returns where it
 * stopped, or -1 when it is not one.
 */
function dottedQuadEnd(ptr: usize, len: i32, dst: usize): i32 {
  let i = 0;
  for (let part = 0; part < 4; part++) {
    if (part > 0) {
      if (i >= len || load<u8>(ptr + <usize>i) != DOT) return -1;
      i++;
    }
    const digitsStart = i;
    let v = 0;
    while (i < len && i - digitsStart < 3 && isDecimalDigit(<i32>load<u8>(ptr + <usize>i))) {
      v = v * 10 + (<i32>load<u8>(ptr + <usize>i) - DIGIT_ZERO);
      i++;
    }
    const n = i - digitsStart;
    if (n == 0 || v > 255) return -1;
    if (n > 1 && load<u8>(ptr + <usize>digitsStart) == DIGIT_ZERO) return -1; // no leading zeros
    store<u8>(dst + <usize>part, <u8>v);
  }
  return i;
}

/** Characters of a zone after '%' (an interface name or a numeric scope id). */
function isZoneChar(c: i32): bool {
  return isDecimalDigit(c) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == DOT || c == 0x5f || c == 0x2d;
}

const MAX_ZONE_LENGTH: i32 = 15; // IFNAMSIZ - 1

function parseBracketedIPv6(ptr: usize, len: i32, out: Address): bool {
  let close = -1;
  for (let i = 1; i < len; i++) {
    if (load<u8>(ptr + <usize>i) == RIGHT_BRACKET) {
      close = i;
      break;
    }
  }
  if (close < 0 || close + 1 >= len || load<u8>(ptr + <usize>(close + 1)) != COLON) return false;
  const port = parsePort(ptr, close + 2, len);
  if (port < 0) return false;
  let addressEnd = close;
  for (let i = 1; i < close; i++) {
    if (load<u8>(ptr + <usize>i) == PERCENT) {
      const zoneLength = close - i - 1;
      if (zoneLength < 1 || zoneLength > MAX_ZONE_LENGTH) return false;
      for (let j = i + 1; j < close; j++) if (!isZoneChar(<i32>load<u8>(ptr + <usize>j))) return false;
      addressEnd = i;
      break;
    }
  }
  if (!parseIPv6(ptr, 1, addressEnd, out.ip)) return false;
  out.kind = AddressKind.IPv6;
  out.port = <u16>port;
  return true;
}

/** The 8 groups of an IPv6 address being read (a scratch area of parseIPv6). */
const groups = memory.data(8 * sizeof<u16>(), 2);
/** The 4 bytes of an embedded dotted quad (a scratch area of parseIPv6). */
const embeddedQuad = memory.data(4);

/** RFC 4291 section 2.2 text form in [start, end) → 16 bytes at dst. */
function parseIPv6(ptr: usize, start: i32, end: i32, dst: usize): bool {
  let count = 0;
  let gap = -1; // the group index where "::" stands
  let i = start;
  if (i + 1 < end && load<u8>(ptr + <usize>i) == COLON) {
    if (load<u8>(ptr + <usize>(i + 1)) != COLON) return false;
    gap = 0;
    i += 2;
  }
  while (i < end) {
    const groupStart = i;
    let v = 0;
    let n = 0;
    while (i < end && n < 5) {
      const h = hexValue(<i32>load<u8>(ptr + <usize>i));
      if (h < 0) break;
      v = v * 16 + h;
      n++;
      i++;
    }
    if (i < end && load<u8>(ptr + <usize>i) == DOT) {
      // An embedded IPv4 address in the last 32 bits: it must end the text.
      if (count > 6) return false;
      if (dottedQuadEnd(ptr + <usize>groupStart, end - groupStart, embeddedQuad) != end - groupStart) return false;
      setGroup(count, (<i32>load<u8>(embeddedQuad) << 8) | load<u8>(embeddedQuad + 1));
      setGroup(count + 1, (<i32>load<u8>(embeddedQuad + 2) << 8) | load<u8>(embeddedQuad + 3));
      count += 2;
      i = end;
      break;
    }
    if (n == 0 || n > 4 || count == 8) return false;
    setGroup(count, v);
    count++;
    if (i == end) break;
    if (load<u8>(ptr + <usize>i) != COLON) return false;
    i++;
    if (i < end && load<u8>(ptr + <usize>i) == COLON) {
      if (gap >= 0) return false; // a second "::"
      gap = count;
      i++;
    } else if (i == end) {
      return false; // a trailing single ':'
    }
  }
  if (gap >= 0) {
    if (count > 7) return false; // "::" stands for at least one zero group
  } else if (count != 8) {
    return false;
  }
  memory.fill(dst, 0, IPV6_SIZE);
  const tail = gap >= 0 ? count - gap : 0;
  const head = count - tail;
  for (let g = 0; g < head; g++) storeGroup(dst, g, group(g));
  for (let g = 0; g < tail; g++) storeGroup(dst, 8 - tail + g, group(head + g));
  return true;
}

function setGroup(index: i32, v: i32): void {
  store<u16>(groups + <usize>index * sizeof<u16>(), <u16>v);
}

function group(index: i32): i32 {
  return load<u16>(groups + <usize>index * sizeof<u16>());
}

/** Stores group `index` big-endian, as it stands in the address. */
function storeGroup(dst: usize, index: i32, v: i32): void {
  store<u8>(dst + <usize>(index * 2), <u8>(v >> 8));
  store<u8>(dst + <usize>(index * 2 + 1), <u8>v);
}

/**
 * A pipe path. Envoy refuses paths of 108 bytes or more (sun_path size), so
 * anything longer is not something Envoy printed. "@name" is a Linux abstract
 * socket: sun_path starts with a NUL byte, then the name.
 */
function parseUnixPath(ptr: usize, len: i32, out: Address): bool {
  if (len >= UNIX_PATH_SIZE) return false;
  for (let i = 0; i < len; i++) if (load<u8>(ptr + <usize>i) == 0) return false;
  memory.copy(out.path, ptr, <usize>len);
  if (load<u8>(ptr) == AT_SIGN) store<u8>(out.path, 0);
  out.kind = AddressKind.Unix;
  out.pathLength = len;
  return true;
}
