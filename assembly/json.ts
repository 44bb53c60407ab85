// A small pull reader for JSON (RFC 8259) over raw bytes that reports errors
// instead of trapping. The AssemblyScript JSON libraries on npm (assemblyscript-json,
// json-as) abort, which traps the VM, on malformed input; in a proxy that would take
// down the filter for every connection, so the plugin configuration is read here.
//
// The reader never allocates: strings are validated in place and decoded into a
// buffer the caller provides. Nesting is bounded (MAX_DEPTH) so hostile input
// cannot exhaust the wasm stack.

import { NO_TEXT, Text, hexValue, textBytes, textLength, textNext, utf8, utf8SequenceAt } from "./bytes";

export const J_INVALID: i32 = 0;
export const J_OBJECT: i32 = 1;
export const J_ARRAY: i32 = 2;
export const J_STRING: i32 = 3;
export const J_NUMBER: i32 = 4;
export const J_TRUE: i32 = 5;
export const J_FALSE: i32 = 6;
export const J_NULL: i32 = 7;
export const J_END: i32 = 8;

export const MAX_DEPTH: i32 = 32;

let base: usize = 0;
let end: i32 = 0;
let pos: i32 = 0;

/** Set when a call returns false: what went wrong and where. */
export let jsonError: Text = NO_TEXT;
export let jsonErrorAt: i32 = 0;

/** Raw span of the last string (inside the quotes) and its decoded length. */
export let strStart: i32 = 0;
export let strEnd: i32 = 0;
export let strDecodedLength: i32 = 0;

/** The last number: whether it is written as an integer, and its value if small. */
export let numIsSmallInteger: bool = false;
export let numValue: i32 = 0;

export function jsonBegin(ptr: usize, len: i32): void {
  base = ptr;
  end = len;
  pos = 0;
  jsonError = NO_TEXT;
  jsonErrorAt = 0;
}

export function jsonPos(): i32 {
  return pos;
}

export function jsonPtr(): usize {
  return base;
}

function fail(message: Text): bool {
  if (jsonError == NO_TEXT) {
    jsonError = message;
    jsonErrorAt = pos;
  }
  return false;
}

function byteAt(i: i32): i32 {
  return i < end ? <i32>load<u8>(base + <usize>i) : -1;
}

export function jsonSkipWs(): void {
  while (pos < end) {
    const c = <i32>load<u8>(base + <usize>pos);
    // Space, tab, LF, CR: bits 0x20, 0x09, 0x0A and 0x0D of the mask.
    if (c > 0x20 || ((<u64>0x100002600 >> <u64>c) & 1) == 0) break;
    pos++;
  }
}

/** Kind of the next value (after whitespace), without consuming it. */
export function jsonPeek(): i32 {
  jsonSkipWs();
  const c = byteAt(pos);
  if (c < 0) return J_END;
  if (isDigit(c)) return J_NUMBER;
  // The first byte of each kind, at index kind - 1 (J_OBJECT = 1 ... J_NULL = 7).
  const starts = textBytes(utf8("{[\"-tfn"));
  for (let k = 0; k < J_NULL; k++) {
    if (c == <i32>load<u8>(starts + <usize>k)) return k + 1;
  }
  return J_INVALID;
}

function expectByte(c: i32, message: Text): bool {
  jsonSkipWs();
  if (byteAt(pos) != c) return fail(message);
  pos++;
  return true;
}

function literal(text: Text): bool {
  const n = textLength(text);
  if (pos + n > end) return fail(utf8("truncated literal"));
  for (let i = 0; i < n; i++) {
    if (byteAt(pos + i) != <i32>load<u8>(textBytes(text) + <usize>i)) return fail(utf8("invalid literal"));
  }
  pos += n;
  return true;
}

/** Reads true/false/null at the current position. */
export function jsonLiteral(): bool {
  const k = jsonPeek();
  if (k == J_TRUE) return literal(utf8("true"));
  if (k == J_FALSE) return literal(utf8("false"));
  if (k == J_NULL) return literal(utf8("null"));
  return fail(utf8("expected a literal"));
}

function isDigit(c: i32): bool {
  return c >= 0x30 && c <= 0x39;
}

/** The value of the digits `digits` last consumed (wraps when there are more than 9). */
let digitsValue: i32 = 0;

/** Consumes a run of decimal digits; returns how many. */
function digits(): i32 {
  const start = pos;
  let v = 0;
  for (let c = byteAt(pos); isDigit(c); c = byteAt(++pos)) v = v * 10 + (c - 0x30);
  digitsValue = v;
  return pos - start;
}

/** Reads a number with the RFC 8259 grammar. */
export function jsonNumber(): bool {
  jsonSkipWs();
  numIsSmallInteger = false;
  numValue = 0;
  const negative = byteAt(pos) == 0x2d;
  if (negative) pos++;
  const intStart = pos;
  let v = 0;
  if (byteAt(pos) == 0x30) pos++;
  else if (digits() == 0) return fail(utf8("invalid number"));
  else v = digitsValue;
  const intDigits = pos - intStart;
  let integer = true;
  if (byteAt(pos) == 0x2e) {
    integer = false;
    pos++;
    if (digits() == 0) return fail(utf8("invalid number"));
  }
  if ((byteAt(pos) | 0x20) == 0x65) {
    integer = false;
    pos++;
    const sign = byteAt(pos);
    if (sign == 0x2b || sign == 0x2d) pos++;
    if (digits() == 0) return fail(utf8("invalid number"));
  }
  if (integer && intDigits <= 9) {
    numValue = negative ? -v : v;
    numIsSmallInteger = true;
  }
  return true;
}

function hex4(i: i32): i32 {
  let v = 0;
  for (let k = 0; k < 4; k++) {
    const d = hexValue(byteAt(i + k));
    if (d < 0) return -1;
    v = (v << 4) | d;
  }
  return v;
}

function utf8Length(cp: i32): i32 {
  return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/**
 * Walks the escape at i (just after the backslash). Returns the code point and
 * sets `escapeLength` to the bytes consumed after the backslash; -1 if invalid.
 */
let escapeLength: i32 = 0;
function escapeAt(i: i32): i32 {
  const c = byteAt(i);
  escapeLength = 1;
  // The one-letter escapes: pairs of (letter after the backslash, byte it stands for).
  const pairs = textBytes(utf8("\"\"\\\\//b\bf\fn\nr\rt\t"));
  for (let k = 0; k < 16; k += 2) {
    if (c == <i32>load<u8>(pairs + <usize>k)) return load<u8>(pairs + <usize>k + 1);
  }
  if (c != 0x75) return -1;
  const u = hex4(i + 1);
  if (u < 0) return -1;
  escapeLength = 5;
  // u is 0..0xFFFF here, so the top 6 bits tell the surrogate ranges apart.
  if ((u & 0xfc00) == 0xdc00) return -1; // lone low surrogate
  if ((u & 0xfc00) != 0xd800) return u;
  if (byteAt(i + 5) != 0x5c || byteAt(i + 6) != 0x75) return -1;
  const low = hex4(i + 7); // -1 (invalid) fails the test below too
  if ((low & 0xfc00) != 0xdc00) return -1;
  escapeLength = 11;
  return 0x10000 + ((u - 0xd800) << 10) + (low - 0xdc00);
}

/** Reads and validates a string; sets strStart/strEnd/strDecodedLength. */
export function jsonString(): bool {
  if (!expectByte(0x22, utf8("expected a string"))) return false;
  strStart = pos;
  let decoded = 0;
  while (true) {
    const c = byteAt(pos);
    if (c < 0) return fail(utf8("unterminated string"));
    if (c == 0x22) break;
    if (c < 0x20) return fail(utf8("control byte in string"));
    if (c == 0x5c) {
      const cp = escapeAt(pos + 1);
      if (cp < 0) return fail(utf8("invalid escape in string"));
      decoded += utf8Length(cp);
      pos += 1 + escapeLength;
    } else {
      const n = utf8SequenceAt(base + <usize>pos, end - pos);
      if (n == 0) return fail(utf8("invalid UTF-8 in string"));
      decoded += n;
      pos += n;
    }
  }
  strEnd = pos;
  strDecodedLength = decoded;
  pos++;
  return true;
}

/** Decodes the last string into dst (strDecodedLength bytes). */
export function jsonDecodeString(dst: usize): void {
  let i = strStart;
  while (i < strEnd) {
    let cp = byteAt(i);
    let n = 1;
    if (cp == 0x5c) {
      cp = escapeAt(i + 1);
      i += escapeLength;
      n = utf8Length(cp);
    }
    i++;
    // UTF-8: continuation bytes from the last one back, then the lead byte
    // (0xC0, 0xE0 or 0xF0 for 2, 3 or 4 bytes: the low byte of 0xF00 >> n).
    for (let k = n - 1; k > 0; k--) {
      store<u8>(dst + <usize>k, <u8>(0x80 | (cp & 0x3f)));
      cp >>= 6;
    }
    store<u8>(dst, <u8>(n > 1 ? (0xf00 >> n) | cp : cp));
    dst += <usize>n;
  }
}

/** Consumes '{'. Then call jsonNextMember until it returns 0. */
export function jsonObjectStart(): bool {
  return expectByte(0x7b, utf8("expected an object"));
}

/**
 * Moves to the next member: 1 when a key was read (its span is the last
 * string) and the ':' consumed, 0 at '}', -1 on error.
 */
export function jsonNextMember(first: bool): i32 {
  const r = nextItem(first, 0x7d, utf8("expected ',' or '}'"));
  if (r <= 0) return r;
  if (jsonPeek() != J_STRING) {
    fail(utf8("expected a key"));
    return -1;
  }
  if (!jsonString()) return -1;
  return expectByte(0x3a, utf8("expected ':'")) ? 1 : -1;
}

export function jsonArrayStart(): bool {
  return expectByte(0x5b, utf8("expected an array"));
}

/** 1 when an element follows, 0 at ']', -1 on error. */
export function jsonNextElement(first: bool): i32 {
  return nextItem(first, 0x5d, utf8("expected ',' or ']'"));
}

/**
 * 0 at `close` (consumed); otherwise 1 once the ',' before every item but the
 * first is consumed, -1 (and `message`) when it is missing.
 */
function nextItem(first: bool, close: i32, message: Text): i32 {
  jsonSkipWs();
  if (byteAt(pos) == close) {
    pos++;
    return 0;
  }
  return first || expectByte(0x2c, message) ? 1 : -1;
}

/** Skips one value of any kind, validating it. */
export function jsonSkipValue(depth: i32): bool {
  if (depth > MAX_DEPTH) return fail(utf8("nested deeper than 32"));
  const k = jsonPeek();
  if (k == J_OBJECT || k == J_ARRAY) {
    pos++; // the '{' or '[' jsonPeek saw
    for (let first = true; ; first = false) {
      const r = k == J_OBJECT ? jsonNextMember(first) : jsonNextElement(first);
      if (r <= 0) return r == 0;
      if (!jsonSkipValue(depth + 1)) return false;
    }
  }
  if (k == J_STRING) return jsonString();
  if (k == J_NUMBER) return jsonNumber();
  if (k == J_TRUE || k == J_FALSE || k == J_NULL) return jsonLiteral();
  if (k == J_END) return fail(utf8("unexpected end of input"));
  return fail(utf8("unexpected character"));
}

/** Validates that the input is exactly one JSON value (plus whitespace). */
export function jsonValidateDocument(): bool {
  pos = 0;
  if (!jsonSkipValue(0)) return false;
  jsonSkipWs();
  if (pos != end) return fail(utf8("data after the value"));
  pos = 0;
  return true;
}

/** True when the last string decodes to the ASCII text `s` (keys and enums). */
export function jsonStringIs(s: Text): bool {
  const n = textLength(s);
  if (strDecodedLength != n) return false;
  // Keys we compare against are plain ASCII; an escaped key is compared decoded.
  let i = strStart;
  for (let k = 0; k < n; k++) {
    let c = byteAt(i);
    if (c == 0x5c) {
      c = escapeAt(i + 1);
      i += 1 + escapeLength;
    } else {
      i++;
    }
    if (c != <i32>load<u8>(textBytes(s) + <usize>k)) return false;
  }
  return true;
}

/** The entry of a utf8List that jsonStringIndex last matched. */
export let jsonMatched: Text = NO_TEXT;

/** Index of the last string in a utf8List (entry set as jsonMatched), or -1. */
export function jsonStringIndex(list: Text): i32 {
  for (let i = 0; textLength(list) != 0; i++, list = textNext(list)) {
    if (jsonStringIs(list)) {
      jsonMatched = list;
      return i;
    }
  }
  return -1;
}

/** Moves the reader to byte `at` of the same input (a value start recorded earlier). */
export function jsonBeginAt(at: i32): void {
  pos = at < 0 ? 0 : at > end ? end : at;
}
