// PROXY protocol version 1 text encoder (haproxy doc/proxy-protocol.txt 2.1):
//   "PROXY TCP4 <src> <dst> <sport> <dport>\r\n"  (TCP6 likewise)
//   "PROXY UNKNOWN\r\n" when the addresses are unknown.
// The line is at most 107 bytes. Pure, allocation-free, same shape as ppv2.ts:
// every writer takes the buffer and the offset to write at, and returns the
// offset after what it wrote.

import { Address, FAM_TCP4, FAM_TCP6 } from "./address";
import { hexDigit, writeDecimal } from "./bytes";
import { CARRIAGE_RETURN, COLON, DOT, LINE_FEED, SPACE } from "./ascii";

/** The longest v1 line the spec allows. */
export const PP1_MAX_LINE: i32 = 107;

function putByte(out: usize, at: i32, c: i32): i32 {
  store<u8>(out + <usize>at, <u8>c);
  return at + 1;
}

/** Writes ASCII text. */
function putText(out: usize, at: i32, text: string): i32 {
  for (let i = 0, n = text.length; i < n; i++) at = putByte(out, at, text.charCodeAt(i));
  return at;
}

function putDecimal(out: usize, at: i32, v: u32): i32 {
  return at + writeDecimal(v, out + <usize>at);
}

function putDottedQuad(out: usize, at: i32, ip: usize): i32 {
  for (let i = 0; i < 4; i++) {
    if (i > 0) at = putByte(out, at, DOT);
    at = putDecimal(out, at, load<u8>(ip + <usize>i));
  }
  return at;
}

/** One IPv6 group in hex without leading zeros ("0" for zero). */
function putGroup(out: usize, at: i32, v: i32): i32 {
  let started = false;
  for (let shift = 12; shift >= 0; shift -= 4) {
    const digit = (v >> shift) & 0xf;
    if (digit != 0 || started || shift == 0) {
      at = putByte(out, at, hexDigit(digit));
      started = true;
    }
  }
  return at;
}

function groupAt(ip: usize, g: i32): i32 {
  return (<i32>load<u8>(ip + <usize>(g * 2)) << 8) | load<u8>(ip + <usize>(g * 2 + 1));
}

/**
 * RFC 5952 text of the 16 bytes at ip, in hex groups only: v1 (section 2.1)
 * allows "series of 4 hexadecimal digits ... delimited by colons" and no
 * embedded dotted quad, so an IPv4-mapped address is written ::ffff:102:304,
 * which every inet_pton-based reader also accepts.
 */
function putIPv6(out: usize, at: i32, ip: usize): i32 {
  // The longest run of two or more zero groups becomes "::"; the first one on a tie.
  let bestStart = -1;
  let bestLength = 1;
  let runStart = -1;
  for (let g = 0; g <= 8; g++) {
    const zero = g < 8 && groupAt(ip, g) == 0;
    if (zero) {
      if (runStart < 0) runStart = g;
    } else if (runStart >= 0) {
      if (g - runStart > bestLength) {
        bestStart = runStart;
        bestLength = g - runStart;
      }
      runStart = -1;
    }
  }
  for (let g = 0; g < 8; g++) {
    if (g == bestStart) {
      at = putByte(out, at, COLON);
      at = putByte(out, at, COLON);
      g += bestLength - 1;
      continue;
    }
    if (g > 0 && g != bestStart + bestLength) at = putByte(out, at, COLON);
    at = putGroup(out, at, groupAt(ip, g));
  }
  return at;
}

/**
 * Writes the v1 line for `family` (from pairFamily) into `out`. TCP4 and TCP6
 * get their addresses; any other family is written as UNKNOWN. Returns the
 * line's length, or -1 when `cap` is under 107 bytes.
 */
export function encodeV1(out: usize, cap: i32, family: u8, src: Address, dst: Address): i32 {
  if (cap < PP1_MAX_LINE) return -1;
  let at = 0;
  switch (family) {
    case FAM_TCP4:
      at = putText(out, at, "PROXY TCP4 ");
      at = putDottedQuad(out, at, src.ipv4);
      at = putByte(out, at, SPACE);
      at = putDottedQuad(out, at, dst.ipv4);
      break;
    case FAM_TCP6:
      at = putText(out, at, "PROXY TCP6 ");
      at = putIPv6(out, at, src.ip);
      at = putByte(out, at, SPACE);
      at = putIPv6(out, at, dst.ip);
      break;
    default:
      return putText(out, at, "PROXY UNKNOWN\r\n");
  }
  at = putByte(out, at, SPACE);
  at = putDecimal(out, at, src.port);
  at = putByte(out, at, SPACE);
  at = putDecimal(out, at, dst.port);
  at = putByte(out, at, CARRIAGE_RETURN);
  return putByte(out, at, LINE_FEED);
}

/** Whether v1 can carry a pair of this PROXY v2 family (it has no UNIX sockets). */
export function v1CanExpress(family: u8): bool {
  return family == FAM_TCP4 || family == FAM_TCP6;
}
