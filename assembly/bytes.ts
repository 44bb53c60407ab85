// Byte helpers shared by the pure modules: the Bytes record, UTF-8 checks, the
// one-line writer for log and error lines, and decimal and hex digits. Nothing
// here allocates, so the same code serves the data path (debug lines) and
// configuration errors.
//
// Static texts are ordinary AssemblyScript string literals: they are static
// data (UTF-16), and the line writer turns their ASCII into bytes as it copies
// them, which only happens when a line is logged.

import { DELETE, DOUBLE_QUOTE, QUESTION_MARK } from "./ascii";

/** A run of bytes in linear memory: where it starts and how many there are. */
@unmanaged
export class Bytes {
  ptr: usize = 0;
  length: i32 = 0;
}

/**
 * Length of the valid UTF-8 sequence at p (at most `avail` bytes readable), or
 * 0 when the bytes there are not UTF-8 (RFC 3629 section 4: no overlongs, no
 * UTF-16 surrogates, nothing past U+10FFFF).
 */
export function utf8SequenceAt(p: usize, avail: i32): i32 {
  if (avail <= 0) return 0;
  const lead = <i32>load<u8>(p);
  if (lead < 0x80) return 1;
  // The lead byte says how long the sequence is and which values its second
  // byte may take; every later byte is a plain continuation byte (0x80-0xBF).
  let n = 0;
  let secondMin = 0x80;
  let secondMax = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) {
    n = 2;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    n = 3;
    if (lead == 0xe0) secondMin = 0xa0; // no overlong 3-byte forms
    if (lead == 0xed) secondMax = 0x9f; // no UTF-16 surrogates (U+D800-U+DFFF)
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    n = 4;
    if (lead == 0xf0) secondMin = 0x90; // no overlong 4-byte forms
    if (lead == 0xf4) secondMax = 0x8f; // nothing past U+10FFFF
  } else {
    return 0;
  }
  if (avail < n) return 0;
  const second = <i32>load<u8>(p + 1);
  if (second < secondMin || second > secondMax) return 0;
  for (let k = 2; k < n; k++) {
    const b = <i32>load<u8>(p + <usize>k);
    if (b < 0x80 || b > 0xbf) return 0;
  }
  return n;
}

/** Whether the n bytes at p are UTF-8 (ascii: and all of them below 0x80). */
export function isText(p: usize, n: i32, ascii: bool): bool {
  for (let i = 0; i < n; ) {
    if (load<u8>(p + <usize>i) < 0x80) {
      i++;
      continue;
    }
    const k = utf8SequenceAt(p + <usize>i, n - i);
    if (k == 0 || (ascii && k > 1)) return false;
    i += k;
  }
  return true;
}

// ---- the line writer -------------------------------------------------------

/** Longest line we ever log; longer text is cut there. */
const LINE_CAPACITY: i32 = 1024;
const line = memory.data(LINE_CAPACITY);
let lineLength: i32 = 0;

/** Starts a new line (the line being written is the module's log line buffer). */
export function lineStart(): void {
  lineLength = 0;
}

export function linePtr(): usize {
  return line;
}

export function lineLen(): i32 {
  return lineLength;
}

export function lineByte(b: i32): void {
  if (lineLength < LINE_CAPACITY) {
    store<u8>(line + <usize>lineLength, <u8>b);
    lineLength++;
  }
}

/** Appends text; a character outside printable ASCII becomes '?', so the line stays one line. */
export function lineText(text: string): void {
  for (let i = 0, n = text.length; i < n; i++) {
    const c = text.charCodeAt(i);
    lineByte(c >= 0x20 && c < DELETE ? c : QUESTION_MARK);
  }
}

/** Writes v in decimal at out; returns the number of digits (at most 20). */
export function writeDecimal(v: u64, out: usize): i32 {
  let n = 1;
  for (let rest = v / 10; rest > 0; rest /= 10) n++;
  for (let i = n - 1; i >= 0; i--) {
    store<u8>(out + <usize>i, <u8>(0x30 + <i32>(v % 10)));
    v /= 10;
  }
  return n;
}

/** Appends an unsigned decimal number. */
export function lineU64(v: u64): void {
  if (lineLength <= LINE_CAPACITY - 20) lineLength += writeDecimal(v, line + <usize>lineLength);
}

/** Appends text, then an unsigned decimal number. */
export function lineTextU64(text: string, v: u64): void {
  lineText(text);
  lineU64(v);
}

/**
 * Appends foreign bytes (raw JSON of a config value, a key) cut at `max` bytes,
 * in double quotes if `quote`. Control bytes become `\xHH` so that the result
 * is always one line whatever the input was.
 */
export function lineQuoted(ptr: usize, len: i32, max: i32, quote: bool): void {
  if (quote) lineByte(DOUBLE_QUOTE);
  const n = len < max ? len : max;
  for (let i = 0; i < n; i++) {
    const b = <i32>load<u8>(ptr + <usize>i);
    if (b < 0x20 || b == DELETE) {
      lineText("\\x");
      lineByte(hexDigit(b >> 4));
      lineByte(hexDigit(b & 0xf));
    } else {
      lineByte(b);
    }
  }
  if (len > max) lineText("...");
  if (quote) lineByte(DOUBLE_QUOTE);
}

// ---- digits ----------------------------------------------------------------

const HEX_DIGITS = "0123456789abcdef";

/** The lower-case hex digit (a byte) for v in 0-15. */
export function hexDigit(v: i32): i32 {
  return HEX_DIGITS.charCodeAt(v);
}

/** Value of an ASCII hex digit (either case), or -1. */
export function hexValue(c: i32): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30; // 0-9
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10; // a-f
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10; // A-F
  return -1;
}

// @ts-ignore: decorator
@inline export function isDecimalDigit(c: i32): bool {
  return c >= 0x30 && c <= 0x39;
}

// ---- heap ------------------------------------------------------------------

/**
 * A bigger block holding the first `used` bytes of `old` (which is freed).
 * heap.realloc would do, but it pulls in code this module does not need.
 */
export function regrow(old: usize, used: i32, size: i32): usize {
  const p = heap.alloc(<usize>size);
  if (old != 0) {
    memory.copy(p, old, <usize>used);
    heap.free(old);
  }
  return p;
}
