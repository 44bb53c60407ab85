// Per-connection logic: on the first downstream data, read the two addresses
// (and any dynamic TLV values), build the header in a static buffer and prepend
// it. For IPv4 without TLVs that is exactly three host calls: two get_property
// and one set_buffer_bytes. Nothing here allocates.

import {
  FAM_UNSPEC,
  FAM_TCP4,
  FAM_TCP6,
  FAM_UNIX_STREAM,
  ADDRESS_RECORD_SIZE,
  pairFamily,
  parseAddress,
} from "./address";
import {
  SOURCE_CONNECTION_ID,
  SOURCE_PROPERTY,
  SOURCE_SNI,
  SOURCE_SSL,
  SOURCE_STATIC,
  configCloseOnUnknown,
  configCrc32c,
  configFirstTlv,
  configRejectClientHeader,
  configTlvCount,
  configVersion,
  tlvData,
  tlvDataLength,
  tlvNext,
  tlvReserveAfter,
  tlvSource,
  tlvType,
} from "./config";
import {
  LOG_DEBUG,
  LOG_INFO,
  LOG_WARN,
  STATUS_OK,
  closeDownstream,
  drainDownstreamData,
  getProperty,
  getPropertyPath,
  hostLogLevel,
  logLine,
  peekDownstreamData,
  prependDownstreamData,
  valueLen,
  valuePtr,
} from "./hostcalls";
import { Text, hexDigit, lineByte, lineStart, lineText, lineTextU64, textBytes, textLength, utf8, writeDecimal } from "./bytes";
import { CLOSED_BY_POLICY, HEADERS_WRITTEN, LOCAL_FALLBACKS, TLVS_OMITTED, count } from "./metrics";
import { encodeV1, PP1_MAX_LINE } from "./ppv1";
import {
  PP2_CLIENT_CERT_CONN,
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
import { commonName } from "./subject";

// proxy_action_t
export const ACTION_CONTINUE: i32 = 0;
export const ACTION_PAUSE: i32 = 1;

const HEADER_CAPACITY: i32 = PP2_MAX_HEADER;
const source = memory.data(<i32>ADDRESS_RECORD_SIZE, 8);
const destination = memory.data(<i32>ADDRESS_RECORD_SIZE, 8);

/**
 * The buffer the header is built in. Allocated in a function body rather than
 * at the top level, so that the compiler lays it out after the small static
 * buffers, whose addresses then stay below 8 KiB and take a byte less in every
 * instruction that names them. (A constant: the optimizer inlines it.)
 */
function header(): usize {
  return memory.data(HEADER_CAPACITY, 8);
}

/** The host's log level, refreshed on configure and on every tick. */
let logLevel: i32 = LOG_INFO;

export function refreshLogLevel(): void {
  logLevel = hostLogLevel();
}

/** Starts a log line about one connection: "ppv2-wasm: context <id>". */
function contextLine(contextId: u32): void {
  lineStart();
  lineTextU64(utf8("ppv2-wasm: context "), contextId);
}

function debugEnabled(): bool {
  return logLevel <= LOG_DEBUG;
}

/**
 * Handles the first downstream data of a connection whose header is owed.
 * Returns ACTION_PAUSE only in reject_client_proxy_header mode while the data
 * so far is a strict prefix of a PROXY signature; the caller then keeps the
 * connection pending and Envoy calls again with more data.
 */
export function onFirstDownstreamData(contextId: u32, config: usize, size: i32, endOfStream: bool): i32 {
  const version = configVersion(config);
  if (configRejectClientHeader(config)) {
    const verdict = clientHeaderVerdict(size);
    if (verdict == VERDICT_PREFIX && !endOfStream) return ACTION_PAUSE;
    if (verdict == VERDICT_HEADER) {
      closeByPolicy(contextId, size, utf8("client sent a PROXY header"));
      return ACTION_CONTINUE;
    }
  }

  let family = FAM_UNSPEC;
  if (
    getPropertyPath(utf8("source\0address")) == STATUS_OK &&
    parseAddress(valuePtr, valueLen, source) &&
    getPropertyPath(utf8("destination\0address")) == STATUS_OK &&
    parseAddress(valuePtr, valueLen, destination)
  ) {
    family = pairFamily(source, destination);
  }

  if (family == FAM_UNSPEC && configCloseOnUnknown(config)) {
    closeByPolicy(contextId, size, utf8("address unknown"));
    return ACTION_CONTINUE;
  }

  let length: i32;
  let omitted = 0;
  if (version == 1) {
    length = encodeV1(header(), PP1_MAX_LINE, family, source, destination);
  } else if (family == FAM_UNSPEC) {
    length = v2Local(header(), HEADER_CAPACITY);
  } else {
    length = v2Begin(header(), HEADER_CAPACITY, family, source, destination);
    let t = configFirstTlv(config);
    for (let i = configTlvCount(config); i > 0; i--) {
      const next = appendConfiguredTlv(t, length);
      if (next < 0) omitted++;
      else length = next;
      t = tlvNext(t);
    }
    length = v2Finish(header(), HEADER_CAPACITY, length, configCrc32c(config));
  }
  if (family == FAM_UNSPEC) count(LOCAL_FALLBACKS, 1);
  if (omitted > 0) count(TLVS_OMITTED, <u64>omitted);

  const status = prependDownstreamData(header(), length);
  if (status != STATUS_OK) {
    contextLine(contextId);
    lineTextU64(utf8(": prepend failed, status "), status);
    logLine(LOG_WARN);
    return ACTION_CONTINUE;
  }
  count(HEADERS_WRITTEN, 1);
  if (debugEnabled()) {
    contextLine(contextId);
    lineTextU64(utf8(": prepended "), <u64>length);
    lineTextU64(utf8(" bytes, PROXY v"), <u64>version);
    lineText(utf8(" family 0x"));
    lineByte(hexDigit(family >> 4));
    lineByte(hexDigit(family & 15));
    if (omitted > 0) {
      lineTextU64(utf8(", "), <u64>omitted);
      lineText(utf8(" TLV(s) left out"));
    }
    logLine(LOG_DEBUG);
  }
  return ACTION_CONTINUE;
}

/**
 * Drains the client's data so that no byte reaches the upstream without a
 * header, then asks Envoy to close. Envoy runs the close after this callback
 * returns (context.cc closeStream → connection().close(FlushWrite)), and the
 * network FilterManagerImpl::onContinueReading stops the filter chain once the
 * connection is no longer Open, so tcp_proxy never forwards this data.
 */
function closeByPolicy(contextId: u32, size: i32, why: Text): void {
  drainDownstreamData(size);
  closeDownstream();
  count(CLOSED_BY_POLICY, 1);
  if (debugEnabled()) {
    contextLine(contextId);
    lineText(utf8(": closed by policy: "));
    lineText(why);
    logLine(LOG_DEBUG);
  }
}

const VERDICT_NONE: i32 = 0;
const VERDICT_PREFIX: i32 = 1;
const VERDICT_HEADER: i32 = 2;
const V2_SIGNATURE_LENGTH: i32 = 12;

/** Does the client's data start with a PROXY v1 ("PROXY ") or v2 signature? */
function clientHeaderVerdict(size: i32): i32 {
  const want = size < V2_SIGNATURE_LENGTH ? size : V2_SIGNATURE_LENGTH;
  if (want <= 0) return VERDICT_PREFIX;
  if (peekDownstreamData(want) != STATUS_OK) return VERDICT_NONE;
  const n = valueLen < want ? valueLen : want;
  const v1 = matchPrefix(valuePtr, n, utf8("PROXY "));
  const v2 = matchPrefix(valuePtr, n, utf8("\r\n\r\n\0\r\nQUIT\n"));
  if (v1 == VERDICT_HEADER || v2 == VERDICT_HEADER) return VERDICT_HEADER;
  if (v1 == VERDICT_PREFIX || v2 == VERDICT_PREFIX) return VERDICT_PREFIX;
  return VERDICT_NONE;
}

function matchPrefix(p: usize, n: i32, signature: Text): i32 {
  const m = textLength(signature);
  const k = n < m ? n : m;
  for (let i = 0; i < k; i++) {
    if (load<u8>(p + <usize>i) != load<u8>(textBytes(signature) + <usize>i)) return VERDICT_NONE;
  }
  return n >= m ? VERDICT_HEADER : VERDICT_PREFIX;
}

// Connection id digits, TLS version and CN in the first 256 bytes; the SSL
// TLV's 5 fixed bytes (client, verify) after them.
const scratchValue = memory.data(256 + 5, 8);

/**
 * Appends one configured TLV at `off`. Returns the new end, or -1 when a
 * dynamic value is missing, empty, too long for its type, or would not fit in
 * front of the bytes reserved for the static TLVs and CRC that follow it.
 */
function appendConfiguredTlv(t: usize, off: i32): i32 {
  const source = tlvSource(t);
  const type = tlvType(t);
  if (source == SOURCE_STATIC) {
    return v2AppendTlv(header(), HEADER_CAPACITY, off, type, tlvData(t), tlvDataLength(t));
  }
  const room = HEADER_CAPACITY - tlvReserveAfter(t); // end offset this TLV must not pass
  if (source == SOURCE_SSL) return appendSsl(off, room);
  let status: u32;
  if (source == SOURCE_PROPERTY) status = getProperty(tlvData(t), tlvDataLength(t));
  else if (source == SOURCE_SNI) status = getPropertyPath(utf8("connection\0requested_server_name"));
  else status = getPropertyPath(utf8("connection_id"));
  if (status != STATUS_OK || valueLen <= 0) return -1;
  let ptr = valuePtr;
  let len = valueLen;
  if (source == SOURCE_CONNECTION_ID) {
    // Envoy serializes the uint64 id as 8 bytes little-endian; we send it as
    // decimal ASCII, which is what a log line or haproxy's fc_pp_unique_id shows.
    if (len != 8) return -1;
    len = writeDecimal(load<u64>(ptr), scratchValue);
    ptr = scratchValue;
  }
  if (!tlvValueValid(type, ptr, len)) return -1; // e.g. an AUTHORITY that is not UTF-8
  return v2AppendTlv(header(), room, off, type, ptr, len);
}


const VERSION_MAX: i32 = 64;
const CN_MAX: i32 = 192;

/**
 * PP2_TYPE_SSL (haproxy doc 2.2.6) from what Envoy exposes for a downstream TLS
 * connection (filters/common/expr/context.cc): connection.tls_version,
 * connection.mtls and connection.subject_peer_certificate. Envoy has no
 * attribute for the cipher, signature or key algorithm, so those sub-TLVs are
 * not sent. No TLS (tls_version NotFound) leaves the TLV out.
 */
function appendSsl(off: i32, room: i32): i32 {
  if (getPropertyPath(utf8("connection\0tls_version")) != STATUS_OK || valueLen <= 0) return -1;
  const versionLen = valueLen < VERSION_MAX ? valueLen : VERSION_MAX;
  if (!tlvValueValid(PP2_SUBTYPE_SSL_VERSION, valuePtr, versionLen)) return -1;
  memory.copy(scratchValue, valuePtr, <usize>versionLen);
  const mtls = getPropertyPath(utf8("connection\0mtls")) == STATUS_OK && valueLen >= 1 && load<u8>(valuePtr) != 0;
  let cnLen = -1;
  if (mtls && getPropertyPath(utf8("connection\0subject_peer_certificate")) == STATUS_OK) {
    cnLen = commonName(valuePtr, valueLen, scratchValue + <usize>VERSION_MAX, CN_MAX);
    if (cnLen > 0 && !tlvValueValid(PP2_SUBTYPE_SSL_CN, scratchValue + <usize>VERSION_MAX, cnLen)) cnLen = -1;
  }
  const fixed = scratchValue + 256;
  // client: SSL, plus CERT_CONN when a client certificate was presented on this
  // connection. verify: 0 only when a certificate was presented and accepted
  // (Envoy's handshake rejects an unverified one unless configured not to).
  store<u8>(fixed, PP2_CLIENT_SSL | (mtls ? PP2_CLIENT_CERT_CONN : 0));
  store<u32>(fixed + 1, mtls ? 0 : bswap<u32>(1));
  const start = off;
  let p = v2BeginTlv(header(), room, off, PP2_TYPE_SSL);
  if (p >= 0) p = v2AppendBytes(header(), room, p, fixed, 5);
  if (p >= 0) p = v2AppendTlv(header(), room, p, PP2_SUBTYPE_SSL_VERSION, scratchValue, versionLen);
  if (p >= 0 && cnLen > 0) p = v2AppendTlv(header(), room, p, PP2_SUBTYPE_SSL_CN, scratchValue + <usize>VERSION_MAX, cnLen);
  if (p < 0) return -1;
  v2EndTlv(header(), start, p);
  return p;
}
