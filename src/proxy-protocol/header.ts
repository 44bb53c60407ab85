// What a decoded PROXY header looks like. Plain JSON-friendly values, so the
// `inspect` command can print them as they are.

export type Command = 'PROXY' | 'LOCAL';

/** v2 family/transport byte names (section 2.2), plus v1's UNKNOWN. */
export type Family =
  | 'UNSPEC' | 'TCP4' | 'UDP4' | 'TCP6' | 'UDP6' | 'UNIX_STREAM' | 'UNIX_DGRAM'
  | 'UNKNOWN';

export interface Endpoint {
  /** IPv4 dotted quad, RFC 5952 IPv6, or a UNIX socket path. */
  address: string;
  /** null for UNIX sockets, which have no port. */
  port: number | null;
}

export interface SslInfo {
  /** The `client` bit field, and the names of the bits set in it. */
  client: number;
  clientFlags: string[];
  /** 0 when the client presented a certificate and it was verified. */
  verify: number;
  subTlvs: Tlv[];
}

export interface Tlv {
  type: number;
  /** Spec name, e.g. PP2_TYPE_AUTHORITY; unregistered types get their range. */
  name: string;
  /** The value as lower-case hex. */
  hex: string;
  /** The value as text, when the type is text or the bytes are printable UTF-8. */
  text?: string;
  /** PP2_TYPE_CRC32C only: the checksum, verified before the header is accepted. */
  crc32c?: string;
  /** PP2_TYPE_SSL only. */
  ssl?: SslInfo;
}

export interface ProxyHeader {
  version: 1 | 2;
  command: Command;
  family: Family;
  /** null for LOCAL, UNSPEC and UNKNOWN: the receiver uses the real endpoints. */
  source: Endpoint | null;
  destination: Endpoint | null;
  tlvs: Tlv[];
  /** Bytes the header occupies at the start of the stream. */
  length: number;
}

export type DecodeResult =
  | { state: 'complete'; header: ProxyHeader }
  /** Every byte so far is consistent with a header; more are needed. */
  | { state: 'incomplete'; reason: string }
  /** The bytes can never become a valid header; `reason` is one line. */
  | { state: 'malformed'; reason: string };
