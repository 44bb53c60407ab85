// CN from Envoy's RFC 2253 subject string (connection.subject_peer_certificate).
import { NO_COMMON_NAME, UNUSABLE_COMMON_NAME, commonName } from "../../assembly/subject";
import { put, scratch } from "./helpers.include";

const OUT = memory.data(256);

function cn(subject: string, cap: i32 = 256): string | null {
  const n = commonName(scratch(), put(subject), OUT, cap);
  return n < 0 ? null : String.UTF8.decodeUnsafe(OUT, <usize>n);
}

function status(subject: string, cap: i32 = 256): i32 {
  return commonName(scratch(), put(subject), OUT, cap);
}

describe("commonName", () => {
  it("finds CN first or later in the DN", () => {
    expect<string | null>(cn("CN=client,OU=eng,O=Example,C=US")).toBe("client");
    expect<string | null>(cn("C=US,O=Example,CN=client.example.com")).toBe("client.example.com");
  });
  it("finds CN inside a multi-valued RDN", () => {
    expect<string | null>(cn("OU=Sales+CN=J. Smith,O=Widget Inc.,C=US")).toBe("J. Smith");
  });
  it("unescapes RFC 2253 escapes, including hex-escaped UTF-8", () => {
    expect<string | null>(cn("CN=Smith\\, John,O=x")).toBe("Smith, John");
    expect<string | null>(cn("CN=caf\\C3\\A9,O=x")).toBe("café");
    expect<string | null>(cn("CN=a\\+b\\\\c")).toBe("a+b\\c");
  });
  it("accepts a lowercase attribute type", () => {
    expect<string | null>(cn("cn=lower")).toBe("lower");
  });
  it("does not confuse other attributes ending in CN", () => {
    expect<string | null>(cn("XCN=no,O=x")).toBeNull();
  });
  it("no CN, or an empty one: NO_COMMON_NAME", () => {
    expect<i32>(status("O=Example,C=US")).toBe(NO_COMMON_NAME);
    expect<i32>(status("CN=,O=x")).toBe(NO_COMMON_NAME);
    expect<i32>(status("")).toBe(NO_COMMON_NAME);
  });
  it("a CN that cannot be sent (DER #hex, a dangling escape, over cap): UNUSABLE_COMMON_NAME, never cut", () => {
    expect<i32>(status("CN=#0403616263")).toBe(UNUSABLE_COMMON_NAME);
    expect<i32>(status("CN=abc\\")).toBe(UNUSABLE_COMMON_NAME);
    expect<i32>(status("CN=abcdef", 3)).toBe(UNUSABLE_COMMON_NAME);
    expect<i32>(status("CN=abc", 3)).toBe(3);
  });
});
