// Byte helpers shared by the pure modules: static UTF-8 text, a fixed-size line
// writer for log and error lines, and hex digits. Nothing here allocates, so the
// same code serves the data path (debug lines) and configuration errors.

/**
 * Static UTF-8 text: a u16 little-endian length, then the bytes. Written in
 * source as utf8("..."); assembly/transform/utf8.mjs gathers every such text
 * into one static blob at compile time and replaces the literal with its offset
 * (AssemblyScript's own literals are UTF-16 objects, twice the size and more).
 */
export type Text = usize;

// @ts-ignore: the transform replaces this call with the blob's static data
const TEXTS: usize = utf8Blob();

// @ts-ignore: decorator; in source the argument is a string literal, which
// the transform turns into its offset in the blob
@inline export function utf8(offset: i32): Text {
  return TEXTS + <usize>offset;
}

// @ts-ignore: decorator; in source the arguments are string literals, which the
// transform lays out one after the other, ended by an empty text
@inline export function utf8List(offset: i32): Text {
  return TEXTS + <usize>offset;
}

/** The text after `t` in a utf8List (the empty text after the last entry). */
export function textNext(t: Text): Text {
  return t + 2 + <usize>textLength(t);
}

export function textLength(t: Text): i32 {
  return load<u16>(t);
}

export function textBytes(t: Text): usize {
  return t + 2;
}

/**
 * Length of the valid UTF-8 sequence at p (at most `avail` bytes readable), or
 * 0 when the bytes there are not UTF-8 (RFC 3629 table 3.7: no overlongs, no
 * UTF-16 surrogates, nothing past U+10FFFF).
 */
export function utf8SequenceAt(p: usize, avail: i32): i32 {
  if (avail <= 0) return 0;
  const c = <i32>load<u8>(p);
  if (c < 0x80) return 1;
  let n = 0;
  let lo = 0x80;
  let hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) n = 2;
  else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
  } else return 0;
  if (avail < n) return 0;
  const second = <i32>load<u8>(p + 1);
  if (second < lo || second > hi) return 0;
  for (let k = 2; k < n; k++) {
    const b = <i32>load<u8>(p + <usize>k);
    if (b < 0x80 || b > 0xbf) return 0;
  }
  return n;
}

/** Whether the n bytes at p are UTF-8 (ascii: and all below 0x80). */
export function isText(p: usize, n: i32, ascii: bool): bool {
  for (let i = 0; i < n; ) {
    if (load<u8>(p + <usize>i) < 0x80) { // ASCII, most values: no call per byte
      i++;
      continue;
    }
    const k = utf8SequenceAt(p + <usize>i, n - i);
    if (k == 0 || (ascii && k > 1)) return false;
    i += k;
  }
  return true;
}

/** The empty text, for "no message". */
export const NO_TEXT: Text = 0;

/** Longest line we ever log; longer text is cut and ends with "...". */
export const LINE_CAPACITY: i32 = 1024;
const line = memory.data(LINE_CAPACITY);
let lineLength: i32 = 0;

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

/** Appends static text. */
export function lineText(t: Text): void {
  if (t == NO_TEXT) return;
  const n = textLength(t);
  for (let i = 0; i < n; i++) lineByte(load<u8>(textBytes(t) + <usize>i));
}

/** Writes v in decimal at out; returns the number of digits (at most 20). */
export function writeDecimal(v: u64, out: usize): i32 {
  let n = 1;
  for (let t = v; t >= 10; t /= 10) n++;
  for (let i = n - 1; i >= 0; i--) {
    store<u8>(out + <usize>i, <u8>(48 + <i32>(v % 10)));
    v /= 10;
  }
  return n;
}

/** Appends an unsigned decimal number. */
export function lineU64(v: u64): void {
  if (lineLength <= LINE_CAPACITY - 20) lineLength += writeDecimal(v, line + <usize>lineLength);
}

/** Appends static text, then an unsigned decimal number. */
export function lineTextU64(t: Text, v: u64): void {
  lineText(t);
  lineU64(v);
}

/**
 * Appends foreign bytes (raw JSON of a config value, a key) cut at `max` bytes,
 * in double quotes if `quote`. Control bytes become `\xHH` so that the result
 * is always one line whatever the input was.
 */
export function lineQuoted(ptr: usize, len: i32, max: i32, quote: bool): void {
  if (quote) lineByte(0x22);
  const n = len < max ? len : max;
  for (let i = 0; i < n; i++) {
    const b = <i32>load<u8>(ptr + <usize>i);
    if (b < 0x20 || b == 0x7f) {
      lineByte(0x5c);
      lineByte(0x78);
      lineByte(hexDigit(b >> 4));
      lineByte(hexDigit(b & 15));
    } else {
      lineByte(b);
    }
  }
  if (len > max) lineText(utf8("..."));
  if (quote) lineByte(0x22);
}

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

export function hexDigit(v: i32): i32 {
  return v < 10 ? 48 + v : 87 + v;
}

/** Value of an ASCII hex digit, or -1. */
export function hexValue(c: i32): i32 {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}
