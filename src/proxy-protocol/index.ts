// A strict PROXY protocol decoder (v1 and v2), written from haproxy's
// doc/proxy-protocol.txt independently of the filter in assembly/, so that
// each checks the other. Used by `ppv2-wasm inspect` and the tests.

import type { DecodeResult } from './header.js';
import { decodeV1 } from './v1.js';
import { V2_SIGNATURE, decodeV2 } from './v2.js';

export type { Command, DecodeResult, Endpoint, Family, ProxyHeader, SslInfo, Tlv } from './header.js';
export { crc32c } from './crc32c.js';
export { formatIPv4, formatIPv6 } from './ip.js';
export { tlvTypeName, PP2_TYPE_AUTHORITY, PP2_TYPE_CRC32C, PP2_TYPE_UNIQUE_ID, PP2_TYPE_SSL } from './tlv.js';
export { V1_MAX_LENGTH } from './v1.js';
export { V2_SIGNATURE } from './v2.js';

const V1_PREFIX = Uint8Array.of(0x50, 0x52, 0x4f, 0x58, 0x59, 0x20); // "PROXY "

/**
 * Decodes the PROXY header at the start of `bytes`. The receiver "MUST not
 * try to guess whether the protocol header is present", so anything that is
 * not the start of a v1 or v2 header is malformed, not "no header".
 */
export function decodeProxyHeader(bytes: Uint8Array): DecodeResult {
  if (bytes.length === 0) return { state: 'incomplete', reason: 'no bytes yet' };
  if (matchesPrefix(bytes, V2_SIGNATURE)) {
    if (bytes.length < V2_SIGNATURE.length) {
      return { state: 'incomplete', reason: `v2 signature: have ${bytes.length} of 12 bytes` };
    }
    return decodeV2(bytes);
  }
  if (matchesPrefix(bytes, V1_PREFIX)) {
    if (bytes.length < V1_PREFIX.length) {
      return { state: 'incomplete', reason: `v1 "PROXY ": have ${bytes.length} of 6 bytes` };
    }
    return decodeV1(bytes);
  }
  return { state: 'malformed', reason: `no PROXY header: the stream starts with ${describeStart(bytes)}` };
}

/** True when the first min(len) bytes of `bytes` and `prefix` agree. */
function matchesPrefix(bytes: Uint8Array, prefix: Uint8Array): boolean {
  const n = Math.min(bytes.length, prefix.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

function describeStart(bytes: Uint8Array): string {
  const head = bytes.subarray(0, 16);
  const hex = Buffer.from(head).toString('hex').replace(/(..)(?!$)/g, '$1 ');
  const text = Buffer.from(head).toString('latin1').replace(/[^\x20-\x7e]/g, '.');
  return `${hex}${bytes.length > 16 ? ' ...' : ''} ("${text}")`;
}
