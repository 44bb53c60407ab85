// The Common Name from Envoy's `connection.subject_peer_certificate`, for the
// PP2_SUBTYPE_SSL_CN sub-TLV. Envoy prints the subject with
// X509_NAME_print_ex(..., XN_FLAG_RFC2253) (tls utility.cc,
// getSubjectFromCertificate → getRFC2253NameFromCertificate): most specific RDN
// first, "," between RDNs, "+" inside a multi-valued RDN, and escapes such as
// "\," "\+" "\\" and "\XX" (hex) for control and non-ASCII bytes. A value printed
// as "#hex" (DER) is not text; we do not send it. Pure.

import { hexValue } from "./bytes";
import { BACKSLASH, COMMA, EQUALS, HASH, PLUS } from "./ascii";

/** commonName's answer when the subject has no CN attribute, or an empty one. */
export const NO_COMMON_NAME: i32 = -1;
/** commonName's answer when there is a CN but it cannot be sent: DER, malformed, or over `cap` bytes. */
export const UNUSABLE_COMMON_NAME: i32 = -2;

/** Whether the attribute at i is "CN=" (the type in either case). */
function isCommonNameAt(ptr: usize, len: i32, i: i32): bool {
  if (i + 3 > len) return false;
  const c = <i32>load<u8>(ptr + <usize>i);
  const n = <i32>load<u8>(ptr + <usize>i + 1);
  return (c == 0x43 || c == 0x63) && (n == 0x4e || n == 0x6e) && load<u8>(ptr + <usize>i + 2) == EQUALS;
}

/**
 * Writes the unescaped value of the first CN attribute into out (at most cap
 * bytes). Returns its length, NO_COMMON_NAME or UNUSABLE_COMMON_NAME.
 */
export function commonName(ptr: usize, len: i32, out: usize, cap: i32): i32 {
  let i = 0;
  while (i < len) {
    // At the start of an attribute: "type=value".
    const isCN = isCommonNameAt(ptr, len, i);
    if (isCN) {
      i += 3;
      if (i < len && load<u8>(ptr + <usize>i) == HASH) return UNUSABLE_COMMON_NAME; // "#" + DER in hex
    }
    let n = 0;
    while (i < len) {
      let c = <i32>load<u8>(ptr + <usize>i);
      if (c == COMMA || c == PLUS) break; // the end of the attribute
      i++;
      if (c == BACKSLASH) {
        if (i >= len) return UNUSABLE_COMMON_NAME; // a dangling escape
        const high = hexValue(<i32>load<u8>(ptr + <usize>i));
        const low = i + 1 < len ? hexValue(<i32>load<u8>(ptr + <usize>i + 1)) : -1;
        if (high >= 0 && low >= 0) {
          c = high * 16 + low; // "\XX"
          i += 2;
        } else {
          c = <i32>load<u8>(ptr + <usize>i); // "\," and the like
          i++;
        }
      }
      if (isCN) {
        if (n >= cap) return UNUSABLE_COMMON_NAME;
        store<u8>(out + <usize>n, <u8>c);
        n++;
      }
    }
    if (isCN) return n > 0 ? n : NO_COMMON_NAME;
    i++; // the separator
  }
  return NO_COMMON_NAME;
}
