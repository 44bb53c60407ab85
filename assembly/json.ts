// A small JSON (RFC 8259) reader over raw bytes that reports errors instead of
// trapping. The AssemblyScript JSON libraries on npm (assemblyscript-json,
// json-as) abort, which traps the VM, on malformed input; in a proxy that would
// take down the filter for every connection, so the plugin configuration is
// read here.
//
// Use: validate() the whole document once (it names the first error and its
// byte), then walk it with peek / beginObject / nextMember / ... which can rely
// on it being well-formed. A string or number is identified by the offset of
// its first byte, which the call that read it returns; the functions that look
// at its value take that offset. The reader never allocates: strings are
// checked in place and decoded into a buffer the caller provides. Nesting is
// bounded (MAX_DEPTH) so hostile input cannot exhaust the wasm stack.

import { hexValue, isDecimalDigit, utf8SequenceAt } from "./bytes";
import { BACKSLASH, CARRIAGE_RETURN, COLON, COMMA, DIGIT_ZERO, DOT, DOUBLE_QUOTE, LEFT_BRACE, LEFT_BRACKET, LINE_FEED, LOWER_B, LOWER_E, LOWER_F, LOWER_N, LOWER_R, LOWER_T, LOWER_U, MINUS, PLUS, RIGHT_BRACE, RIGHT_BRACKET, SLASH, SPACE, TAB, UPPER_E } from "./ascii";

export enum JsonKind {
  Invalid,
  Object,
  Array,
  String,
  Number,
  True,
  False,
  Null,
  End,
}

const MAX_DEPTH: i32 = 32;

/** What smallIntegerAt gives for a number that is not an integer of at most 9 digits. */
export const NOT_A_SMALL_INTEGER: i64 = i64.MIN_VALUE;

const HIGH_SURROGATE_FIRST: i32 = 0xd800;
const HIGH_SURROGATE_LAST: i32 = 0xdbff;
const LOW_SURROGATE_FIRST: i32 = 0xdc00;
const LOW_SURROGATE_LAST: i32 = 0xdfff;

/** Bytes an escape takes after its backslash: `\n`, `\u00e9`, `\ud83d\ude00`. */
const SHORT_ESCAPE_LENGTH: i32 = 1;
const UNICODE_ESCAPE_LENGTH: i32 = 5;
const SURROGATE_PAIR_ESCAPE_LENGTH: i32 = 11;

function isWhitespace(c: i32): bool {
  return c == SPACE || c == TAB || c == LINE_FEED || c == CARRIAGE_RETURN;
}

function isHighSurrogate(u: i32): bool {
  return u >= HIGH_SURROGATE_FIRST && u <= HIGH_SURROGATE_LAST;
}

function isLowSurrogate(u: i32): bool {
  return u >= LOW_SURROGATE_FIRST && u <= LOW_SURROGATE_LAST;
}

/** The byte a one-letter escape stands for (`\n` is LF), or -1 when the letter is not one. */
function shortEscape(letter: i32): i32 {
  switch (letter) {
    case DOUBLE_QUOTE:
      return DOUBLE_QUOTE;
    case BACKSLASH:
      return BACKSLASH;
    case SLASH:
      return SLASH;
    case LOWER_B:
      return 0x08;
    case LOWER_F:
      return 0x0c;
    case LOWER_N:
      return LINE_FEED;
    case LOWER_R:
      return CARRIAGE_RETURN;
    case LOWER_T:
      return TAB;
    default:
      return -1;
  }
}

/** Bytes the UTF-8 encoding of code point cp takes. */
function utf8Length(cp: i32): i32 {
  if (cp < 0x80) return 1;
  if (cp < 0x800) return 2;
  if (cp < 0x10000) return 3;
  return 4;
}

/** Writes code point cp as UTF-8 at dst; returns the bytes written. */
function writeUtf8(cp: i32, dst: usize): i32 {
  const n = utf8Length(cp);
  switch (n) {
    case 1:
      store<u8>(dst, <u8>cp);
      break;
    case 2:
      store<u8>(dst, <u8>(0xc0 | (cp >> 6)));
      store<u8>(dst + 1, <u8>(0x80 | (cp & 0x3f)));
      break;
    case 3:
      store<u8>(dst, <u8>(0xe0 | (cp >> 12)));
      store<u8>(dst + 1, <u8>(0x80 | ((cp >> 6) & 0x3f)));
      store<u8>(dst + 2, <u8>(0x80 | (cp & 0x3f)));
      break;
    default:
      store<u8>(dst, <u8>(0xf0 | (cp >> 18)));
      store<u8>(dst + 1, <u8>(0x80 | ((cp >> 12) & 0x3f)));
      store<u8>(dst + 2, <u8>(0x80 | ((cp >> 6) & 0x3f)));
      store<u8>(dst + 3, <u8>(0x80 | (cp & 0x3f)));
  }
  return n;
}

@unmanaged
export class JsonReader {
  /** The document: `length` bytes at `input`. */
  input: usize;
  length: i32;
  /** Offset of the next byte to read. */
  pos: i32 = 0;
  /** After validate() fails: what went wrong (one line) and at which byte. */
  error: string | null = null;
  errorAt: i32 = 0;

  constructor(input: usize, length: i32) {
    this.input = input;
    this.length = length;
  }

  /** The byte at offset i, or -1 past the end. */
  byteAt(i: i32): i32 {
    return i < this.length ? <i32>load<u8>(this.input + <usize>i) : -1;
  }

  /** Records the first error (later ones are consequences of it); returns false. */
  private fail(message: string): bool {
    if (this.error === null) {
      this.error = message;
      this.errorAt = this.pos;
    }
    return false;
  }

  skipWhitespace(): void {
    while (this.pos < this.length && isWhitespace(this.byteAt(this.pos))) this.pos++;
  }

  /** Kind of the next value (after whitespace), without consuming it. */
  peek(): JsonKind {
    this.skipWhitespace();
    const c = this.byteAt(this.pos);
    if (c < 0) return JsonKind.End;
    if (isDecimalDigit(c)) return JsonKind.Number;
    switch (c) {
      case LEFT_BRACE:
        return JsonKind.Object;
      case LEFT_BRACKET:
        return JsonKind.Array;
      case DOUBLE_QUOTE:
        return JsonKind.String;
      case MINUS:
        return JsonKind.Number;
      case LOWER_T:
        return JsonKind.True;
      case LOWER_F:
        return JsonKind.False;
      case LOWER_N:
        return JsonKind.Null;
      default:
        return JsonKind.Invalid;
    }
  }

  // ---- validation --------------------------------------------------------

  /** Checks that the input is exactly one JSON value (plus whitespace); rewinds to the start. */
  validate(): bool {
    this.pos = 0;
    if (!this.checkValue(0)) return false;
    this.skipWhitespace();
    if (this.pos != this.length) return this.fail("data after the value");
    this.pos = 0;
    return true;
  }

  private checkValue(depth: i32): bool {
    if (depth > MAX_DEPTH) return this.fail("nested deeper than 32");
    const kind = this.peek();
    switch (kind) {
      case JsonKind.Object:
      case JsonKind.Array:
        return this.checkContainer(kind, depth);
      case JsonKind.String:
        return this.checkString();
      case JsonKind.Number:
        return this.checkNumber();
      case JsonKind.True:
        return this.checkLiteral("true");
      case JsonKind.False:
        return this.checkLiteral("false");
      case JsonKind.Null:
        return this.checkLiteral("null");
      case JsonKind.End:
        return this.fail("unexpected end of input");
      default:
        return this.fail("unexpected character");
    }
  }

  private checkContainer(kind: JsonKind, depth: i32): bool {
    const isObject = kind == JsonKind.Object;
    const close = isObject ? RIGHT_BRACE : RIGHT_BRACKET;
    this.pos++; // the '{' or '[' peek saw
    this.skipWhitespace();
    let first = true;
    while (this.byteAt(this.pos) != close) {
      if (!first && !this.expectByte(COMMA, isObject ? "expected ',' or '}'" : "expected ',' or ']'")) return false;
      first = false;
      if (isObject) {
        if (this.peek() != JsonKind.String) return this.fail("expected a key");
        if (!this.checkString()) return false;
        if (!this.expectByte(COLON, "expected ':'")) return false;
      }
      if (!this.checkValue(depth + 1)) return false;
      this.skipWhitespace();
    }
    this.pos++;
    return true;
  }

  private expectByte(c: i32, message: string): bool {
    this.skipWhitespace();
    if (this.byteAt(this.pos) != c) return this.fail(message);
    this.pos++;
    return true;
  }

  private checkLiteral(text: string): bool {
    const n = text.length;
    if (this.pos + n > this.length) return this.fail("truncated literal");
    for (let i = 0; i < n; i++) {
      if (this.byteAt(this.pos + i) != text.charCodeAt(i)) return this.fail("invalid literal");
    }
    this.pos += n;
    return true;
  }

  /** Consumes a run of decimal digits; returns how many. */
  private digits(): i32 {
    const start = this.pos;
    while (isDecimalDigit(this.byteAt(this.pos))) this.pos++;
    return this.pos - start;
  }

  /** A number with the RFC 8259 grammar: -? int frac? exp?. */
  private checkNumber(): bool {
    if (this.byteAt(this.pos) == MINUS) this.pos++;
    if (this.byteAt(this.pos) == DIGIT_ZERO) this.pos++;
    else if (this.digits() == 0) return this.fail("invalid number");
    if (this.byteAt(this.pos) == DOT) {
      this.pos++;
      if (this.digits() == 0) return this.fail("invalid number");
    }
    const e = this.byteAt(this.pos);
    if (e == LOWER_E || e == UPPER_E) {
      this.pos++;
      const sign = this.byteAt(this.pos);
      if (sign == PLUS || sign == MINUS) this.pos++;
      if (this.digits() == 0) return this.fail("invalid number");
    }
    return true;
  }

  private checkString(): bool {
    if (!this.expectByte(DOUBLE_QUOTE, "expected a string")) return false;
    while (true) {
      const c = this.byteAt(this.pos);
      if (c < 0) return this.fail("unterminated string");
      if (c == DOUBLE_QUOTE) break;
      if (c < 0x20) return this.fail("control byte in string");
      if (c == BACKSLASH) {
        const cp = this.escapeAt(this.pos + 1);
        if (cp < 0) return this.fail("invalid escape in string");
        this.pos += 1 + this.escapeLength(this.pos + 1, cp);
      } else {
        const n = utf8SequenceAt(this.input + <usize>this.pos, this.length - this.pos);
        if (n == 0) return this.fail("invalid UTF-8 in string");
        this.pos += n;
      }
    }
    this.pos++;
    return true;
  }

  // ---- escapes -----------------------------------------------------------

  /** The four hex digits at i as a number, or -1. */
  private hex4(i: i32): i32 {
    let v = 0;
    for (let k = 0; k < 4; k++) {
      const d = hexValue(this.byteAt(i + k));
      if (d < 0) return -1;
      v = (v << 4) | d;
    }
    return v;
  }

  /** The code point of the escape at i (just after its backslash), or -1 when it is invalid. */
  escapeAt(i: i32): i32 {
    const letter = this.byteAt(i);
    if (letter != LOWER_U) return shortEscape(letter);
    const u = this.hex4(i + 1);
    if (u < 0 || isLowSurrogate(u)) return -1; // a low surrogate must follow a high one
    if (!isHighSurrogate(u)) return u;
    if (this.byteAt(i + 5) != BACKSLASH || this.byteAt(i + 6) != LOWER_U) return -1;
    const low = this.hex4(i + 7);
    if (!isLowSurrogate(low)) return -1;
    return 0x10000 + ((u - HIGH_SURROGATE_FIRST) << 10) + (low - LOW_SURROGATE_FIRST);
  }

  /** Bytes after the backslash that the valid escape at i, standing for cp, takes. */
  escapeLength(i: i32, cp: i32): i32 {
    if (this.byteAt(i) != LOWER_U) return SHORT_ESCAPE_LENGTH;
    return cp >= 0x10000 ? SURROGATE_PAIR_ESCAPE_LENGTH : UNICODE_ESCAPE_LENGTH;
  }

  // ---- walking a validated document ---------------------------------------

  /** Consumes the '{' of an object. Then call nextMember until it returns -1. */
  beginObject(): void {
    this.skipWhitespace();
    this.pos++;
  }

  /**
   * Moves to the next member: returns the offset of its key (a string, read as
   * by readString) with the ':' consumed, or -1 at the '}' (consumed).
   */
  nextMember(first: bool): i32 {
    if (!this.nextItem(first, RIGHT_BRACE)) return -1;
    const key = this.readString();
    this.skipWhitespace();
    this.pos++; // ':'
    return key;
  }

  /** Consumes the '[' of an array. Then call nextElement until it returns false. */
  beginArray(): void {
    this.skipWhitespace();
    this.pos++;
  }

  /** True when an element follows; false at the ']' (consumed). */
  nextElement(first: bool): bool {
    return this.nextItem(first, RIGHT_BRACKET);
  }

  /** False at `close` (consumed); otherwise true once the ',' before every item but the first is consumed. */
  private nextItem(first: bool, close: i32): bool {
    this.skipWhitespace();
    if (this.byteAt(this.pos) == close) {
      this.pos++;
      return false;
    }
    if (!first) this.pos++; // ','
    this.skipWhitespace();
    return true;
  }

  /** Consumes one value of any kind; returns the offset where it starts. */
  skipValue(): i32 {
    this.skipWhitespace();
    const start = this.pos;
    this.checkValue(0);
    return start;
  }

  /** Consumes a string; returns its offset (the opening quote). */
  readString(): i32 {
    return this.skipValue();
  }

  /** Consumes a number; returns its offset. */
  readNumber(): i32 {
    return this.skipValue();
  }

  /** Consumes true, false or null. */
  readLiteral(): void {
    this.skipValue();
  }

  /** The offset just past the value that starts at `start` (for quoting it). */
  valueEnd(start: i32): i32 {
    const saved = this.pos;
    this.pos = start;
    this.checkValue(0);
    const end = this.pos;
    this.pos = saved;
    return end;
  }

  // ---- values of strings and numbers ---------------------------------------

  /** Bytes the string at `at` decodes to. */
  decodedLength(at: i32): i32 {
    let n = 0;
    let i = at + 1;
    while (true) {
      const c = this.byteAt(i);
      if (c == DOUBLE_QUOTE) return n;
      if (c == BACKSLASH) {
        const cp = this.escapeAt(i + 1);
        n += utf8Length(cp);
        i += 1 + this.escapeLength(i + 1, cp);
      } else {
        n++;
        i++;
      }
    }
  }

  /** Decodes the string at `at` into dst (decodedLength(at) bytes). */
  decodeString(at: i32, dst: usize): void {
    let i = at + 1;
    while (true) {
      const c = this.byteAt(i);
      if (c == DOUBLE_QUOTE) return;
      if (c == BACKSLASH) {
        const cp = this.escapeAt(i + 1);
        dst += <usize>writeUtf8(cp, dst);
        i += 1 + this.escapeLength(i + 1, cp);
      } else {
        store<u8>(dst, <u8>c); // raw UTF-8 is copied as it is
        dst++;
        i++;
      }
    }
  }

  /** Whether the string at `at` decodes to the ASCII text `s` (keys and enum values). */
  stringEquals(at: i32, s: string): bool {
    let i = at + 1;
    for (let k = 0, n = s.length; k < n; k++) {
      let c = this.byteAt(i);
      if (c == DOUBLE_QUOTE) return false;
      if (c == BACKSLASH) {
        const cp = this.escapeAt(i + 1);
        i += 1 + this.escapeLength(i + 1, cp);
        c = cp;
      } else {
        i++;
      }
      if (c != s.charCodeAt(k)) return false;
    }
    return this.byteAt(i) == DOUBLE_QUOTE;
  }

  /**
   * The value of the number at `at` when it is written as an integer of at most
   * 9 digits (no fraction, no exponent), else NOT_A_SMALL_INTEGER.
   */
  smallIntegerAt(at: i32): i64 {
    let i = at;
    const negative = this.byteAt(i) == MINUS;
    if (negative) i++;
    let v: i64 = 0;
    let digits = 0;
    for (let c = this.byteAt(i); isDecimalDigit(c); c = this.byteAt(++i)) {
      v = v * 10 + <i64>(c - DIGIT_ZERO);
      digits++;
    }
    const next = this.byteAt(i);
    if (digits > 9 || next == DOT || next == LOWER_E || next == UPPER_E) return NOT_A_SMALL_INTEGER;
    return negative ? -v : v;
  }
}
