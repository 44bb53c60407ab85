// PROXY protocol version 2 encoder (haproxy doc/proxy-protocol.txt, section 2.2).
// Pure functions over a buffer the caller owns: they write bytes and return the
// new length, or -1 when the bytes would not fit. No host calls, no allocation.
//
// Build order: v2Begin (prefix + address block), then any number of v2AppendTlv
// or v2BeginTlv/v2EndTlv pairs, then v2Finish, which adds the CRC32C TLV if
// asked and writes the length field, so that the length always equals the bytes
// written after the first 16.

import { crc32c } from "./crc32c";
import { Address, FAM_TCP4, FAM_TCP6, FAM_UNIX_STREAM, UNIX_PATH_SIZE } from "./address";
import { isText } from "./bytes";

/** The 12-byte signature every v2 header starts with (section 2.2). */
export const PP2_SIGNATURE_LENGTH: i32 = 12;
export const PP2_SIGNATURE = memory.data<u8>([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/** Signature, version/command, family/transport, 16-bit length. */
const PP2_HEADER_PREFIX: i32 = 16;
/** The length field is 16 bits: at most 65535 bytes follow the prefix. */
export const PP2_MAX_LENGTH: i32 = 65535;
export const PP2_MAX_HEADER: i32 = PP2_HEADER_PREFIX + PP2_MAX_LENGTH;

const PP2_VERSION_LOCAL: u8 = 0x20;
const PP2_VERSION_PROXY: u8 = 0x21;

export const PP2_TYPE_ALPN: u8 = 0x01;
export const PP2_TYPE_AUTHORITY: u8 = 0x02;
export const PP2_TYPE_CRC32C: u8 = 0x03;
export const PP2_TYPE_NOOP: u8 = 0x04;
export const PP2_TYPE_UNIQUE_ID: u8 = 0x05;
export const PP2_TYPE_SSL: u8 = 0x20;
export const PP2_SUBTYPE_SSL_VERSION: u8 = 0x21;
export const PP2_SUBTYPE_SSL_CN: u8 = 0x22;
export const PP2_TYPE_NETNS: u8 = 0x30;

// The SSL TLV's `client` bits (section 2.2.5).
export const PP2_CLIENT_SSL: u8 = 0x01;
export const PP2_CLIENT_CERT_CONN: u8 = 0x02;
export const PP2_CLIENT_CERT_SESS: u8 = 0x04;

export const PP2_TLV_HEADER: i32 = 3;
export const PP2_CRC32C_TLV_SIZE: i32 = PP2_TLV_HEADER + 4;
/** PP2_TYPE_UNIQUE_ID values are "up to 128 bytes" (section 2.2.4). */
const PP2_UNIQUE_ID_MAX: i32 = 128;

// Address block sizes (section 2.2): two addresses, then two ports for IP.
const PP2_TCP4_ADDRESS_BLOCK: i32 = 2 * 4 + 2 * 2;
const PP2_TCP6_ADDRESS_BLOCK: i32 = 2 * 16 + 2 * 2;
export const PP2_UNIX_ADDRESS_BLOCK: i32 = 2 * UNIX_PATH_SIZE;

/**
 * Whether a value of this TLV type is valid: AUTHORITY and SSL CN are UTF-8
 * (doc 2.2.1, 2.2.5), NETNS and SSL VERSION are US-ASCII (2.2.5, 2.2.7);
 * UNIQUE_ID is at most 128 bytes (2.2.4); the other types are opaque bytes.
 */
export function tlvValueValid(type: u8, value: usize, len: i32): bool {
  switch (type) {
    case PP2_TYPE_UNIQUE_ID:
      return len <= PP2_UNIQUE_ID_MAX;
    case PP2_TYPE_AUTHORITY:
    case PP2_SUBTYPE_SSL_CN:
      return isText(value, len, false);
    case PP2_TYPE_NETNS:
    case PP2_SUBTYPE_SSL_VERSION:
      return isText(value, len, true);
    default:
      return true;
  }
}

/** The address block size of a family; 0 for UNSPEC. */
function addressBlockSize(family: u8): i32 {
  switch (family) {
    case FAM_TCP4:
      return PP2_TCP4_ADDRESS_BLOCK;
    case FAM_TCP6:
      return PP2_TCP6_ADDRESS_BLOCK;
    case FAM_UNIX_STREAM:
      return PP2_UNIX_ADDRESS_BLOCK;
    default:
      return 0;
  }
}

function writePrefix(out: usize, command: u8, family: u8): void {
  memory.copy(out, PP2_SIGNATURE, <usize>PP2_SIGNATURE_LENGTH);
  store<u8>(out + 12, command);
  store<u8>(out + 13, family);
  storeBE16(out + 14, 0);
}

function storeBE16(p: usize, v: i32): void {
  store<u8>(p, <u8>(v >> 8));
  store<u8>(p + 1, <u8>v);
}

/** LOCAL command, family UNSPEC, length 0: a receiver uses the real endpoints. */
export function v2Local(out: usize, cap: i32): i32 {
  if (cap < PP2_HEADER_PREFIX) return -1;
  writePrefix(out, PP2_VERSION_LOCAL, 0);
  return PP2_HEADER_PREFIX;
}

/**
 * PROXY command with the address block for `family` (TCP4, TCP6 or UNIX
 * stream) built from two parsed addresses; ports are big-endian.
 */
export function v2Begin(out: usize, cap: i32, family: u8, src: Address, dst: Address): i32 {
  const block = addressBlockSize(family);
  if (block == 0 || cap < PP2_HEADER_PREFIX + block) return -1;
  writePrefix(out, PP2_VERSION_PROXY, family);
  const a = out + <usize>PP2_HEADER_PREFIX;
  switch (family) {
    case FAM_TCP4:
      memory.copy(a, src.ipv4, 4);
      memory.copy(a + 4, dst.ipv4, 4);
      storeBE16(a + 8, src.port);
      storeBE16(a + 10, dst.port);
      break;
    case FAM_TCP6:
      memory.copy(a, src.ip, 16);
      memory.copy(a + 16, dst.ip, 16);
      storeBE16(a + 32, src.port);
      storeBE16(a + 34, dst.port);
      break;
    default:
      memory.copy(a, src.path, <usize>UNIX_PATH_SIZE);
      memory.copy(a + <usize>UNIX_PATH_SIZE, dst.path, <usize>UNIX_PATH_SIZE);
  }
  return PP2_HEADER_PREFIX + block;
}

/** The end offset no write may pass: the buffer's capacity or the 16-bit length field's limit. */
function limit(cap: i32): i32 {
  return cap < PP2_MAX_HEADER ? cap : PP2_MAX_HEADER;
}

/** Appends one TLV at `off`. Returns the new end, or -1 when it would not fit. */
export function v2AppendTlv(out: usize, cap: i32, off: i32, type: u8, value: usize, len: i32): i32 {
  if (off < PP2_HEADER_PREFIX || len < 0 || len > limit(cap) - off - PP2_TLV_HEADER) return -1;
  store<u8>(out + <usize>off, type);
  storeBE16(out + <usize>off + 1, len);
  memory.copy(out + <usize>off + 3, value, <usize>len);
  return off + PP2_TLV_HEADER + len;
}

/** Opens a TLV whose value is written by further appends (the SSL TLV). */
export function v2BeginTlv(out: usize, cap: i32, off: i32, type: u8): i32 {
  if (off < PP2_HEADER_PREFIX || off > limit(cap) - PP2_TLV_HEADER) return -1;
  store<u8>(out + <usize>off, type);
  storeBE16(out + <usize>off + 1, 0);
  return off + PP2_TLV_HEADER;
}

/** Appends raw bytes inside an open TLV. */
export function v2AppendBytes(out: usize, cap: i32, off: i32, value: usize, len: i32): i32 {
  if (off < PP2_HEADER_PREFIX || len < 0 || len > limit(cap) - off) return -1;
  memory.copy(out + <usize>off, value, <usize>len);
  return off + len;
}

/** Closes a TLV opened at `start` (the offset v2BeginTlv was given) ending at `end`. */
export function v2EndTlv(out: usize, start: i32, end: i32): void {
  storeBE16(out + <usize>start + 1, end - start - PP2_TLV_HEADER);
}

/**
 * Writes the length field and, if `withCrc`, appends PP2_TYPE_CRC32C and fills
 * it with the CRC32C of the whole header computed with the CRC value zeroed
 * (section 2.2.3), stored big-endian. Returns the total header length.
 */
export function v2Finish(out: usize, cap: i32, off: i32, withCrc: bool): i32 {
  if (off < PP2_HEADER_PREFIX || off > limit(cap)) return -1;
  let end = off;
  if (withCrc) {
    if (end > limit(cap) - PP2_CRC32C_TLV_SIZE) return -1;
    store<u8>(out + <usize>end, PP2_TYPE_CRC32C);
    storeBE16(out + <usize>end + 1, 4);
    store<u32>(out + <usize>end + 3, 0);
    end += PP2_CRC32C_TLV_SIZE;
  }
  storeBE16(out + 14, end - PP2_HEADER_PREFIX);
  if (withCrc) {
    const crc = crc32c(out, end);
    store<u32>(out + <usize>end - 4, bswap<u32>(crc)); // big-endian
  }
  return end;
}
