import { crc32c } from "../../assembly/crc32c";
import { put, putHex, scratch } from "./helpers.include";

describe("crc32c", () => {
  it("matches the check value crc32c(\"123456789\") = 0xE3069283", () => {
    const n = put("123456789");
    expect<u32>(crc32c(scratch(), n)).toBe(0xe3069283);
  });

  it("of nothing is 0", () => {
    expect<u32>(crc32c(scratch(), 0)).toBe(0);
  });

  it("matches RFC 3720 B.4: 32 bytes of zeros = 0x8A9136AA", () => {
    putHex("0000000000000000000000000000000000000000000000000000000000000000");
    expect<u32>(crc32c(scratch(), 32)).toBe(0x8a9136aa);
  });

  it("matches RFC 3720 B.4: 32 bytes of 0xFF = 0x62A8AB43", () => {
    putHex("ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff");
    expect<u32>(crc32c(scratch(), 32)).toBe(0x62a8ab43);
  });
});

/** The definition, one bit at a time: what the four-byte steps must agree with. */
function bitwise(ptr: usize, len: i32): u32 {
  let c: u32 = 0xffffffff;
  for (let i = 0; i < len; i++) {
    c ^= <u32>load<u8>(ptr + <usize>i);
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return c ^ 0xffffffff;
}

describe("crc32c, four bytes at a time", () => {
  it("matches RFC 3720 B.4: 32 incrementing bytes = 0x46DD794E", () => {
    putHex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
    expect<u32>(crc32c(scratch(), 32)).toBe(0x46dd794e);
  });

  it("matches RFC 3720 B.4: 32 decrementing bytes = 0x113FDB5C", () => {
    putHex("1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100");
    expect<u32>(crc32c(scratch(), 32)).toBe(0x113fdb5c);
  });

  it("agrees with the bit-at-a-time definition for every length 0-40 at every start 0-7 (every tail length, aligned or not)", () => {
    for (let i = 0; i < 48; i++) store<u8>(scratch(i), <u8>(i * 37 + 11));
    for (let start = 0; start < 8; start++) {
      for (let len = 0; len <= 40; len++) {
        expect<u32>(crc32c(scratch(start), len)).toBe(bitwise(scratch(start), len));
      }
    }
  });
});
