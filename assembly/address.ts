// Envoy address strings → family, address bytes and port. Pure, allocation-free.
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

import { hexValue } from "./bytes";

export const KIND_NONE: u8 = 0;
export const KIND_IPV4: u8 = 1;
export const KIND_IPV6: u8 = 2;
export const KIND_UNIX: u8 = 3;

// One parsed address, in static memory:
//   [0] kind  [1] unix path length  [2..4) port (native u16)
//   [4..20) IPv6 bytes; IPv4 is stored IPv4-mapped (::ffff:a.b.c.d)
//   [20..128) sun_path image: 108 bytes, NUL-padded, abstract → leading NUL
export const ADDRESS_RECORD_SIZE: usize = 128;
export const OFF_KIND: usize = 0;
export const OFF_PATH_LEN: usize = 1;
export const OFF_PORT: usize = 2;
export const OFF_IP: usize = 4;
export const OFF_PATH: usize = 20;
export const UNIX_PATH_SIZE: i32 = 108;

// PROXY v2 family/transport bytes (haproxy doc/proxy-protocol.txt 2.2).
export const FAM_UNSPEC: u8 = 0x00;
export const FAM_TCP4: u8 = 0x11;
export const FAM_TCP6: u8 = 0x21;
export const FAM_UNIX_STREAM: u8 = 0x31;

/** Parses `len` bytes at `ptr` into the record at `out`. False (kind NONE) when unknown. */
export function parseAddress(ptr: usize, len: i32, out: usize): bool {
  memory.fill(out, 0, ADDRESS_RECORD_SIZE);
  if (len <= 0) return false;
  const first = <i32>load<u8>(ptr);
  let ok = false;
  if (first == 0x5b /* [ */) ok = parseBracketedIPv6(ptr, len, out);
  else if (first >= 0x30 && first <= 0x39) ok = parseIPv4WithPort(ptr, len, out);
  else if (first == 0x2f /* / */ || first == 0x40 /* @ */) ok = parseUnixPath(ptr, len, out);
  if (!ok) memory.fill(out, 0, ADDRESS_RECORD_SIZE);
  return ok;
}

export function addressKind(rec: usize): u8 {
  return load<u8>(rec + OFF_KIND);
}

export function addressPort(rec: usize): u16 {
  return load<u16>(rec + OFF_PORT);
}

/** True for IPv4 and for IPv6 addresses in ::ffff:0:0/96 (IPv4-mapped). */
export function isIPv4Like(rec: usize): bool {
  const kind = addressKind(rec);
  if (kind == KIND_IPV4) return true;
  if (kind != KIND_IPV6) return false;
  return load<u64>(rec + OFF_IP) == 0 && load<u32>(rec + OFF_IP + 8) == 0xffff0000;
}

/**
 * The PROXY v2 family for a source/destination pair:
 * - both IPv4, or both IPv4-mapped, or one of each: TCP4. A mapped address is
 *   an IPv4 client seen through a dual-stack socket; sending TCP4 keeps the
 *   backend's IPv4 ACLs and logs working.
 * - both IP otherwise: TCP6, any IPv4 side promoted to ::ffff:a.b.c.d (v2 has
 *   no mixed family; this is what strict receivers accept).
 * - both paths: UNIX stream.
 * - anything else: UNSPEC, meaning "unknown".
 */
export function pairFamily(src: usize, dst: usize): u8 {
  const s = addressKind(src);
  const d = addressKind(dst);
  if (s == KIND_UNIX && d == KIND_UNIX) return FAM_UNIX_STREAM;
  if ((s != KIND_IPV4 && s != KIND_IPV6) || (d != KIND_IPV4 && d != KIND_IPV6)) return FAM_UNSPEC;
  if (isIPv4Like(src) && isIPv4Like(dst)) return FAM_TCP4;
  return FAM_TCP6;
}

function isDigit(c: i32): bool {
  return c >= 0x30 && c <= 0x39;
}

/** Parses a dotted quad in [start, end) exactly, writing 4 bytes at dst. */
function parseIPv4(ptr: usize, start: i32, end: i32, dst: usize): bool {
  return quadEnd(ptr + <usize>start, end - start, dst) == end - start;
}

/** Parses a decimal port 0..65535 in [start, end) exactly. -1 when invalid. */
function parsePort(ptr: usize, start: i32, end: i32): i32 {
  const n = end - start;
  if (n < 1 || n > 5) return -1;
  if (n > 1 && load<u8>(ptr + <usize>start) == 0x30) return -1;
  let v = 0;
  for (let i = start; i < end; i++) {
    const c = <i32>load<u8>(ptr + <usize>i);
    if (!isDigit(c)) return -1;
    v = v * 10 + (c - 0x30);
  }
  return v > 65535 ? -1 : v;
}

function parseIPv4WithPort(ptr: usize, len: i32, out: usize): bool {
  // One pass: the quad, then ':' and the port. A dotted quad holds no ':', so
  // the ':' that ends it is the first one, as if we had searched for it.
  const end = quadEnd(ptr, len, out + OFF_IP + 12);
  if (end < 0 || end >= len || load<u8>(ptr + <usize>end) != 0x3a) return false;
  const port = parsePort(ptr, end + 1, len);
  if (port < 0) return false;
  store<u16>(out + OFF_IP + 10, 0xffff);
  store<u8>(out + OFF_KIND, KIND_IPV4);
  store<u16>(out + OFF_PORT, <u16>port);
  return true;
}

/**
 * Reads a dotted quad from the start of [0, len): four parts of 1-3 digits,
 * 0-255, no leading zeros, split by '.'; into 4 bytes at dst. Returns where it stopped, or -1 when it is not one.
 */
function quadEnd(ptr: usize, len: i32, dst: usize): i32 {
  let i = 0;
  for (let part = 0; part < 4; part++) {
    if (part > 0) {
      if (i >= len || load<u8>(ptr + <usize>i) != 0x2e) return -1;
      i++;
    }
    const digitsStart = i;
    let v: u32 = 0;
    while (i < len && i - digitsStart < 3) {
      const d = <u32>load<u8>(ptr + <usize>i) - 0x30;
      if (d > 9) break;
      v = v * 10 + d;
      i++;
    }
    const n = i - digitsStart;
    if (n == 0 || v > 255) return -1;
    if (n > 1 && load<u8>(ptr + <usize>digitsStart) == 0x30) return -1; // no leading zeros
    store<u8>(dst + <usize>part, <u8>v);
  }
  return i;
}

function isZoneChar(c: i32): bool {
  return isDigit(c) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x2e || c == 0x5f || c == 0x2d;
}

function parseBracketedIPv6(ptr: usize, len: i32, out: usize): bool {
  let close = -1;
  for (let i = 1; i < len; i++) {
    if (load<u8>(ptr + <usize>i) == 0x5d) {
      close = i;
      break;
    }
  }
  if (close < 0 || close + 1 >= len || load<u8>(ptr + <usize>(close + 1)) != 0x3a) return false;
  const port = parsePort(ptr, close + 2, len);
  if (port < 0) return false;
  let addrEnd = close;
  for (let i = 1; i < close; i++) {
    if (load<u8>(ptr + <usize>i) == 0x25 /* % */) {
      const zoneLen = close - i - 1;
      if (zoneLen < 1 || zoneLen > 15) return false;
      for (let j = i + 1; j < close; j++) if (!isZoneChar(<i32>load<u8>(ptr + <usize>j))) return false;
      addrEnd = i;
      break;
    }
  }
  if (!parseIPv6(ptr, 1, addrEnd, out + OFF_IP)) return false;
  store<u8>(out + OFF_KIND, KIND_IPV6);
  store<u16>(out + OFF_PORT, <u16>port);
  return true;
}

/** RFC 4291 section 2.2 text form in [start, end) → 16 bytes at dst. */
export function parseIPv6(ptr: usize, start: i32, end: i32, dst: usize): bool {
  const groups = memory.data(16);
  let count = 0;
  let gap = -1; // group index where "::" stands
  let i = start;
  if (i + 1 < end && load<u8>(ptr + <usize>i) == 0x3a) {
    if (load<u8>(ptr + <usize>(i + 1)) != 0x3a) return false;
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
      v = (v << 4) | h;
      n++;
      i++;
    }
    if (i < end && load<u8>(ptr + <usize>i) == 0x2e) {
      // Embedded IPv4 in the last 32 bits: must be the end of the text.
      if (count > 6) return false;
      const quad = memory.data(4);
      if (!parseIPv4(ptr, groupStart, end, quad)) return false;
      store<u16>(groups + (<usize>count << 1), (<u16>load<u8>(quad) << 8) | load<u8>(quad + 1));
      store<u16>(groups + (<usize>(count + 1) << 1), (<u16>load<u8>(quad + 2) << 8) | load<u8>(quad + 3));
      count += 2;
      i = end;
      break;
    }
    if (n == 0 || n > 4 || count == 8) return false;
    store<u16>(groups + (<usize>count << 1), <u16>v);
    count++;
    if (i == end) break;
    if (load<u8>(ptr + <usize>i) != 0x3a) return false;
    i++;
    if (i < end && load<u8>(ptr + <usize>i) == 0x3a) {
      if (gap >= 0) return false;
      gap = count;
      i++;
    } else if (i == end) {
      return false; // trailing single ':'
    }
  }
  if (gap >= 0) {
    if (count > 7) return false; // "::" stands for at least one zero group
  } else if (count != 8) {
    return false;
  }
  memory.fill(dst, 0, 16);
  const tail = gap >= 0 ? count - gap : 0;
  const head = count - tail;
  for (let g = 0; g < head; g++) storeGroup(dst, g, load<u16>(groups + (<usize>g << 1)));
  for (let g = 0; g < tail; g++) storeGroup(dst, 8 - tail + g, load<u16>(groups + (<usize>(head + g) << 1)));
  return true;
}

function storeGroup(dst: usize, index: i32, v: u16): void {
  store<u8>(dst + (<usize>index << 1), <u8>(v >> 8));
  store<u8>(dst + (<usize>index << 1) + 1, <u8>v);
}


/**
 * A pipe path. Envoy refuses paths of 108 bytes or more (sun_path size), so
 * anything longer is not something Envoy printed. "@name" is a Linux abstract
 * socket: sun_path starts with a NUL byte, then the name.
 */
function parseUnixPath(ptr: usize, len: i32, out: usize): bool {
  if (len >= UNIX_PATH_SIZE) return false;
  for (let i = 0; i < len; i++) if (load<u8>(ptr + <usize>i) == 0) return false;
  memory.copy(out + OFF_PATH, ptr, <usize>len);
  if (load<u8>(ptr) == 0x40) store<u8>(out + OFF_PATH, 0);
  store<u8>(out + OFF_KIND, KIND_UNIX);
  store<u8>(out + OFF_PATH_LEN, <u8>len);
  return true;
}
