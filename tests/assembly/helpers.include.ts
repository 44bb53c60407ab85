// Shared by every spec: bytes as lowercase hex, and hex/text into static memory.

const SCRATCH = memory.data(70000, 8);

/** Lowercase hex of `len` bytes at `ptr`. */
export function hex(ptr: usize, len: i32): string {
  let s = "";
  for (let i = 0; i < len; i++) {
    const b = load<u8>(ptr + <usize>i);
    s += (b < 16 ? "0" : "") + b.toString(16);
  }
  return s;
}

/** Copies an ASCII/UTF-8 string into scratch memory at `at`; returns its byte length. */
export function put(text: string, at: usize = 0): i32 {
  const bytes = String.UTF8.encode(text);
  const n = bytes.byteLength;
  memory.copy(SCRATCH + at, changetype<usize>(bytes), <usize>n);
  return n;
}

/** Copies hex digits into scratch memory at `at`; returns the byte length. */
export function putHex(digits: string, at: usize = 0): i32 {
  const n = digits.length >> 1;
  for (let i = 0; i < n; i++) {
    store<u8>(SCRATCH + at + <usize>i, <u8>I32.parseInt(digits.substr(i * 2, 2), 16));
  }
  return n;
}

export function scratch(at: usize = 0): usize {
  return SCRATCH + at;
}
