// isText: UTF-8 (and US-ASCII) validation of TLV values. ASCII bytes take a
// short path; every multi-byte rule must still hold after an ASCII prefix.
import { isText } from "../../assembly/bytes";
import { putHex, scratch } from "./helpers.include";

function text(hexDigits: string, ascii: bool = false): bool {
  return isText(scratch(), putHex(hexDigits), ascii);
}

describe("isText", () => {
  it("accepts ASCII, and empty", () => {
    expect<bool>(text("6578616d706c652e636f6d")).toBe(true); // example.com
    expect<bool>(text("")).toBe(true);
    expect<bool>(text("544c5376312e33", true)).toBe(true); // TLSv1.3
  });

  it("accepts 2-, 3- and 4-byte sequences after ASCII", () => {
    expect<bool>(text("61c3a9")).toBe(true); // aé
    expect<bool>(text("61e282ac62")).toBe(true); // a€b
    expect<bool>(text("61f09f9880")).toBe(true); // a😀
  });

  it("rejects bad bytes after an ASCII prefix", () => {
    expect<bool>(text("61ff")).toBe(false); // never in UTF-8
    expect<bool>(text("6180")).toBe(false); // lone continuation byte
    expect<bool>(text("61c080")).toBe(false); // overlong
    expect<bool>(text("61e282")).toBe(false); // cut short at the end
    expect<bool>(text("61eda080")).toBe(false); // UTF-16 surrogate
    expect<bool>(text("61f4908080")).toBe(false); // above U+10FFFF
    expect<bool>(text("61c3")).toBe(false); // lead byte at the very end
  });

  it("in ASCII mode rejects any byte from 0x80, even valid UTF-8", () => {
    expect<bool>(text("61c3a9", true)).toBe(false);
    expect<bool>(text("7f", true)).toBe(true);
  });
});
