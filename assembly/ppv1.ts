// PROXY protocol version 1 text encoder (haproxy doc/proxy-protocol.txt 2.1):
//   "PROXY TCP4 <src> <dst> <sport> <dport>\r\n"  (TCP6 likewise)
//   "PROXY UNKNOWN\r\n" for anything else (UNIX sockets, unknown addresses).
// The line is at most 107 bytes. Pure, allocation-free, same shape as ppv2.ts.

import {
  FAM_TCP4,
  FAM_TCP6,
  OFF_IP,
  addressPort,
} from "./address";
import { Text, textBytes, textLength, utf8, writeDecimal } from "./bytes";

/** The longest v1 line the spec allows. */
export const PP1_MAX_LINE: i32 = 107;

let pos: i32 = 0;
let base: usize = 0;

function put(c: i32): void {
  store<u8>(base + <usize>pos, <u8>c);
  pos++;
}

function putText(s: Text): void {
  const n = textLength(s);
  for (let i = 0; i < n; i++) put(load<u8>(textBytes(s) + <usize>i));
}

function putDecimal(v: u32): void {
  pos += writeDecimal(v, base + <usize>pos);
}

function putDottedQuad(p: usize): void {
  for (let i = 0; i < 4; i++) {
    if (i > 0) put(0x2e);
    putDecimal(load<u8>(p + <usize>i));
  }
}

function putHex16(v: u32): void {
  let started = false;
  for (let shift = 12; shift >= 0; shift -= 4) {
    const d = <i32>((v >> shift) & 15);
    if (d != 0 || started || shift == 0) {
      put(d < 10 ? 48 + d : 87 + d);
      started = true;
    }
  }
}

/**
 * RFC 5952 text of 16 bytes at p, in hex groups only: v1 (section 2.1) allows
 * "series of 4 hexadecimal digits ... delimited by colons" and no embedded
 * dotted quad, so an IPv4-mapped address is written ::ffff:102:304, which every
 * inet_pton-based reader also accepts.
 */
function putIPv6(p: usize): void {
  // The longest run of two or more zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLen = 1;
  let runStart = -1;
  for (let g = 0; g <= 8; g++) {
    const zero = g < 8 && load<u16>(p + (<usize>g << 1)) == 0;
    if (zero) {
      if (runStart < 0) runStart = g;
    } else if (runStart >= 0) {
      if (g - runStart > bestLen) {
        bestStart = runStart;
        bestLen = g - runStart;
      }
      runStart = -1;
    }
  }
  for (let g = 0; g < 8; g++) {
    if (g == bestStart) {
      put(0x3a);
      put(0x3a);
      g += bestLen - 1;
      continue;
    }
    if (g > 0 && g != bestStart + bestLen) put(0x3a);
    const hi = <u32>load<u8>(p + (<usize>g << 1));
    const lo = <u32>load<u8>(p + (<usize>g << 1) + 1);
    putHex16((hi << 8) | lo);
  }
}

/**
 * Writes the v1 line for `family` (from pairFamily) into `out`. Returns its
 * length, or -1 when `cap` is under 107 bytes.
 */
export function encodeV1(out: usize, cap: i32, family: u8, src: usize, dst: usize): i32 {
  if (cap < PP1_MAX_LINE) return -1;
  base = out;
  pos = 0;
  if (family == FAM_TCP4) {
    putText(utf8("PROXY TCP4 "));
    putDottedQuad(src + OFF_IP + 12);
    put(0x20);
    putDottedQuad(dst + OFF_IP + 12);
  } else if (family == FAM_TCP6) {
    putText(utf8("PROXY TCP6 "));
    putIPv6(src + OFF_IP);
    put(0x20);
    putIPv6(dst + OFF_IP);
  } else {
    putText(utf8("PROXY UNKNOWN\r\n"));
    return pos;
  }
  put(0x20);
  putDecimal(addressPort(src));
  put(0x20);
  putDecimal(addressPort(dst));
  put(0x0d);
  put(0x0a);
  return pos;
}
