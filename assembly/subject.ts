// The Common Name from Envoy's `connection.subject_peer_certificate`, for the
// PP2_SUBTYPE_SSL_CN sub-TLV. Envoy prints the subject with
// X509_NAME_print_ex(..., XN_FLAG_RFC2253) (tls utility.cc,
// getSubjectFromCertificate → getRFC2253NameFromCertificate): most specific RDN
// first, "," between RDNs, "+" inside a multi-valued RDN, and escapes such as
// "\," "\+" "\\" and "\XX" (hex) for control and non-ASCII bytes. A value printed
// as "#hex" (DER) is not text; we do not send it. Pure.

import { hexValue as hexNibble } from "./bytes";

/**
 * Writes the unescaped value of the first CN attribute into out (at most cap
 * bytes). Returns its length, or -1 when there is no usable CN.
 */
export function commonName(ptr: usize, len: i32, out: usize, cap: i32): i32 {
  let i = 0;
  while (i < len) {
    // At the start of an attribute: "type=value".
    const isCN =
      i + 3 <= len &&
      (load<u8>(ptr + <usize>i) | 0x20) == 0x63 &&
      (load<u8>(ptr + <usize>i + 1) | 0x20) == 0x6e &&
      load<u8>(ptr + <usize>i + 2) == 0x3d;
    if (isCN) i += 3;
    if (isCN && i < len && load<u8>(ptr + <usize>i) == 0x23) return -1; // "#DER"
    let n = 0;
    while (i < len) {
      let c = <i32>load<u8>(ptr + <usize>i);
      if (c == 0x2c || c == 0x2b) break; // end of attribute
      i++;
      if (c == 0x5c) {
        if (i >= len) return -1;
        const h = hexNibble(<i32>load<u8>(ptr + <usize>i));
        const l = i + 1 < len ? hexNibble(<i32>load<u8>(ptr + <usize>i + 1)) : -1;
        if (h >= 0 && l >= 0) {
          c = (h << 4) | l;
          i += 2;
        } else {
          c = <i32>load<u8>(ptr + <usize>i);
          i++;
        }
      }
      if (isCN) {
        if (n >= cap) return -1;
        store<u8>(out + <usize>n, <u8>c);
        n++;
      }
    }
    if (isCN) return n > 0 ? n : -1;
    i++; // skip the separator
  }
  return -1;
}
