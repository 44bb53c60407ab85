// The PROXY header for one connection: read the two addresses (and any dynamic
// TLV values) from Envoy's attributes, and encode the header into a static
// buffer. For IPv4 without TLVs that is two get_property calls and nothing
// else. Nothing here allocates; every host value is consumed (parsed or copied)
// and released before the next TLV is read.

import { Address, ADDRESS_SIZE, FAM_UNSPEC, pairFamily, parseAddress } from "./address";
import { releaseHostValues } from "./abi/memory";
import { Bytes, isText, writeDecimal } from "./bytes";
import { Config, TlvConfig, TlvSource } from "./config";
import { getProperty, getPropertyAt, propertyPath } from "./hostcalls";
import { encodeV1, PP1_MAX_LINE, v1CanExpress } from "./ppv1";
import {
  PP2_CLIENT_CERT_SESS,
  PP2_CLIENT_SSL,
  PP2_MAX_HEADER,
  PP2_SUBTYPE_SSL_CN,
  PP2_SUBTYPE_SSL_VERSION,
  PP2_TYPE_SSL,
  tlvValueValid,
  v2AppendBytes,
  v2AppendTlv,
  v2Begin,
  v2BeginTlv,
  v2EndTlv,
  v2Finish,
  v2Local,
} from "./ppv2";
import { commonName, UNUSABLE_COMMON_NAME } from "./subject";

// The attributes the filter reads (Envoy source/extensions/filters/common/expr/context.cc).
const SOURCE_ADDRESS = propertyPath("source\0address");
const DESTINATION_ADDRESS = propertyPath("destination\0address");
const REQUESTED_SERVER_NAME = propertyPath("connection\0requested_server_name");
const CONNECTION_ID = propertyPath("connection_id");
const TLS_VERSION = propertyPath("connection\0tls_version");
const MTLS = propertyPath("connection\0mtls");
const SUBJECT_PEER_CERTIFICATE = propertyPath("connection\0subject_peer_certificate");

/** The buffer every header is built in: room for the largest v2 header. */
const HEADER_CAPACITY: i32 = PP2_MAX_HEADER;
export const headerBytes = memory.data(HEADER_CAPACITY, 8);

/** What buildHeader did for one connection. */
@unmanaged
export class Header {
  /** Bytes of the header at headerBytes; 0 when the connection must be closed instead. */
  length: i32 = 0;
  /** The PROXY v2 family/transport byte of the addresses (FAM_UNSPEC when unknown). */
  family: u8 = FAM_UNSPEC;
  /**
   * The addresses could not be sent: unknown, or a pair the configured version
   * cannot express (v1 has no UNIX sockets). With on_unknown_address "local" a
   * LOCAL header or PROXY UNKNOWN went out instead; with "close", length is 0.
   */
  fallback: bool = false;
  /** Configured TLVs (or SSL sub-TLVs) left out because their value was missing, empty, invalid or too long. */
  omitted: i32 = 0;
}

// The two addresses of the connection being handled.
const source = changetype<Address>(memory.data(ADDRESS_SIZE, 8));
const destination = changetype<Address>(memory.data(ADDRESS_SIZE, 8));

/** Reads and parses an address attribute into `out`; false when it is missing or unknown. */
function readAddress(path: Bytes, out: Address): bool {
  const value = getPropertyAt(path);
  return value !== null && parseAddress(value.ptr, value.length, out);
}

/** Builds the header `config` asks for into headerBytes, and says what it did in `out`. */
export function buildHeader(config: Config, out: Header): void {
  out.length = 0;
  out.omitted = 0;
  out.family = FAM_UNSPEC;
  if (readAddress(SOURCE_ADDRESS, source) && readAddress(DESTINATION_ADDRESS, destination)) {
    out.family = pairFamily(source, destination);
  }
  releaseHostValues();
  out.fallback = out.family == FAM_UNSPEC || (config.version == 1 && !v1CanExpress(out.family));
  if (out.fallback && config.closeOnUnknown) return;

  if (config.version == 1) {
    out.length = encodeV1(headerBytes, PP1_MAX_LINE, out.fallback ? FAM_UNSPEC : out.family, source, destination);
    return;
  }
  if (out.fallback) {
    out.length = v2Local(headerBytes, HEADER_CAPACITY);
    return;
  }
  let length = v2Begin(headerBytes, HEADER_CAPACITY, out.family, source, destination);
  for (let i = 0; i < config.tlvCount; i++) {
    const end = appendConfiguredTlv(config, config.tlv(i), length, out);
    releaseHostValues();
    if (end == TLV_OMITTED) out.omitted++;
    else length = end;
  }
  out.length = v2Finish(headerBytes, HEADER_CAPACITY, length, config.crc32c);
}

/** appendConfiguredTlv's answer when it left the TLV out. */
const TLV_OMITTED: i32 = -1;

/** Where a connection id's decimal digits are written (a u64 has at most 20). */
const decimalDigits = memory.data(20);

/**
 * Appends one configured TLV at `off`. Returns the new end, or TLV_OMITTED when
 * a dynamic value is missing, empty, not valid for its type, or would not fit
 * in front of the bytes reserved for the static TLVs and CRC that follow it.
 */
function appendConfiguredTlv(config: Config, t: TlvConfig, off: i32, out: Header): i32 {
  // The end offset this TLV must not pass.
  const room = HEADER_CAPACITY - t.reserveAfter;
  let value: Bytes | null = null;
  switch (t.source) {
    case TlvSource.Static:
      return v2AppendTlv(headerBytes, HEADER_CAPACITY, off, t.type, config.tlvData(t), t.dataLength);
    case TlvSource.Ssl:
      return appendSsl(t, off, room, out);
    case TlvSource.Property:
      value = getProperty(config.tlvData(t), t.dataLength);
      break;
    case TlvSource.Sni:
      value = getPropertyAt(REQUESTED_SERVER_NAME);
      break;
    case TlvSource.ConnectionId:
      value = connectionIdDigits();
      break;
  }
  if (value === null || value.length == 0) return TLV_OMITTED;
  if (!tlvValueValid(t.type, value.ptr, value.length)) return TLV_OMITTED; // e.g. an AUTHORITY that is not UTF-8
  const end = v2AppendTlv(headerBytes, room, off, t.type, value.ptr, value.length);
  return end < 0 ? TLV_OMITTED : end;
}

/**
 * Envoy's connection id (a uint64, 8 bytes little-endian) as decimal ASCII,
 * which is what a log line or haproxy's fc_pp_unique_id shows; null when Envoy
 * has none.
 */
function connectionIdDigits(): Bytes | null {
  const id = getPropertyAt(CONNECTION_ID);
  if (id === null || id.length != sizeof<u64>()) return null;
  id.length = writeDecimal(load<u64>(id.ptr), decimalDigits);
  id.ptr = decimalDigits;
  return id;
}

/** Longest connection.tls_version we send ("TLSv1.3" is 7 bytes); a longer one leaves the SSL TLV out. */
const SSL_VERSION_MAX: i32 = 64;
/** Longest Common Name we send; a longer one leaves the CN sub-TLV out. */
const SSL_CN_MAX: i32 = 192;
const commonNameBytes = memory.data(SSL_CN_MAX);

/** The SSL TLV's fixed part: the `client` byte, then `verify` (32 bits, big-endian). */
const SSL_FIXED_SIZE: i32 = 5;
const sslFixed = memory.data(SSL_FIXED_SIZE);
const VERIFY_OK: u32 = 0;
const VERIFY_NOT_CLAIMED: u32 = 1;

/**
 * PP2_TYPE_SSL (haproxy doc 2.2.5) from what Envoy exposes for a downstream TLS
 * connection (filters/common/expr/context.cc): connection.tls_version,
 * connection.mtls and connection.subject_peer_certificate.
 *
 * - `client`: PP2_CLIENT_SSL, plus PP2_CLIENT_CERT_SESS when connection.mtls is
 *   true. connection.mtls is peerCertificatePresented(), which BoringSSL answers
 *   from the TLS session: on a resumed session it is true although this
 *   connection carried no certificate, and no attribute says whether the
 *   session was resumed. So a certificate is known to belong to the session,
 *   never to this connection: PP2_CLIENT_CERT_CONN is not sent.
 * - `verify`: 0 only when a certificate was presented and the configuration
 *   says the listener verifies client certificates; Envoy's attributes cannot
 *   tell (trust_chain_verification ACCEPT_UNTRUSTED accepts an unverified one).
 * - VERSION from connection.tls_version: without TLS (NotFound, or empty) the
 *   SSL TLV is left out; a value over SSL_VERSION_MAX bytes or not US-ASCII
 *   leaves it out too, and counts.
 * - CN from the subject, when a certificate was presented: a CN that is DER,
 *   over SSL_CN_MAX bytes or not UTF-8 is left out of the TLV, and counts.
 * Envoy has no attribute for the cipher, signature or key algorithm, so those
 * sub-TLVs are not sent.
 */
function appendSsl(t: TlvConfig, off: i32, room: i32, out: Header): i32 {
  const version = getPropertyAt(TLS_VERSION);
  if (version === null || version.length == 0 || version.length > SSL_VERSION_MAX) return TLV_OMITTED;
  if (!tlvValueValid(PP2_SUBTYPE_SSL_VERSION, version.ptr, version.length)) return TLV_OMITTED;
  const mtls = getPropertyAt(MTLS);
  const certificatePresented = mtls !== null && mtls.length >= 1 && load<u8>(mtls.ptr) != 0;
  let cnLength = 0;
  let cnOmitted = false;
  if (certificatePresented) {
    const subject = getPropertyAt(SUBJECT_PEER_CERTIFICATE);
    if (subject !== null) {
      const n = commonName(subject.ptr, subject.length, commonNameBytes, SSL_CN_MAX);
      if (n > 0 && isText(commonNameBytes, n, false)) cnLength = n;
      else cnOmitted = n > 0 || n == UNUSABLE_COMMON_NAME;
    }
  }
  store<u8>(sslFixed, certificatePresented ? PP2_CLIENT_SSL | PP2_CLIENT_CERT_SESS : PP2_CLIENT_SSL);
  const verified = certificatePresented && t.listenerVerifiesClientCert;
  store<u32>(sslFixed + 1, bswap<u32>(verified ? VERIFY_OK : VERIFY_NOT_CLAIMED));
  let end = v2BeginTlv(headerBytes, room, off, PP2_TYPE_SSL);
  if (end >= 0) end = v2AppendBytes(headerBytes, room, end, sslFixed, SSL_FIXED_SIZE);
  if (end >= 0) end = v2AppendTlv(headerBytes, room, end, PP2_SUBTYPE_SSL_VERSION, version.ptr, version.length);
  if (end >= 0 && cnLength > 0) end = v2AppendTlv(headerBytes, room, end, PP2_SUBTYPE_SSL_CN, commonNameBytes, cnLength);
  if (end < 0) return TLV_OMITTED;
  v2EndTlv(headerBytes, off, end);
  if (cnOmitted) out.omitted++;
  return end;
}
