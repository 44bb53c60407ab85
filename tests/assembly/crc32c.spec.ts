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
