// PROXY v2 TLVs (doc/proxy-protocol.txt sections 2.2.1 to 2.2.8): the type
// names, and a strict walk that names each TLV and decodes the ones whose
// value has a defined shape.

import type { SslInfo, Tlv } from './header.js';

export const PP2_TYPE_ALPN = 0x01;
export const PP2_TYPE_AUTHORITY = 0x02;
export const PP2_TYPE_CRC32C = 0x03;
export const PP2_TYPE_NOOP = 0x04;
export const PP2_TYPE_UNIQUE_ID = 0x05;
export const PP2_TYPE_SSL = 0x20;
export const PP2_TYPE_NETNS = 0x30;

/** Section 2.2.5: "an opaque byte sequence of up to 128 bytes". */
export const UNIQUE_ID_MAX = 128;

const TYPE_NAMES: Record<number, string> = {
  [PP2_TYPE_ALPN]: 'PP2_TYPE_ALPN',
  [PP2_TYPE_AUTHORITY]: 'PP2_TYPE_AUTHORITY',
  [PP2_TYPE_CRC32C]: 'PP2_TYPE_CRC32C',
  [PP2_TYPE_NOOP]: 'PP2_TYPE_NOOP',
  [PP2_TYPE_UNIQUE_ID]: 'PP2_TYPE_UNIQUE_ID',
  [PP2_TYPE_SSL]: 'PP2_TYPE_SSL',
  [PP2_TYPE_NETNS]: 'PP2_TYPE_NETNS',
};

// 0x26-0x28 were registered by the 2025-26 revisions of the spec.
const SSL_SUBTYPE_NAMES: Record<number, string> = {
  0x21: 'PP2_SUBTYPE_SSL_VERSION',
  0x22: 'PP2_SUBTYPE_SSL_CN',
  0x23: 'PP2_SUBTYPE_SSL_CIPHER',
  0x24: 'PP2_SUBTYPE_SSL_SIG_ALG',
  0x25: 'PP2_SUBTYPE_SSL_KEY_ALG',
  0x26: 'PP2_SUBTYPE_SSL_GROUP',
  0x27: 'PP2_SUBTYPE_SSL_SIG_SCHEME',
  0x28: 'PP2_SUBTYPE_SSL_CLIENT_CERT',
};

const SSL_CLIENT_BITS: Array<[number, string]> = [
  [0x01, 'PP2_CLIENT_SSL'],
  [0x02, 'PP2_CLIENT_CERT_CONN'],
  [0x04, 'PP2_CLIENT_CERT_SESS'],
];

/** The spec's name for a TLV type, or the reserved range it falls in. */
export function tlvTypeName(type: number): string {
  const known = TYPE_NAMES[type];
  if (known) return known;
  if (type >= 0xe0 && type <= 0xef) return `PP2_TYPE_CUSTOM(0x${hex2(type)})`;
  if (type >= 0xf0 && type <= 0xf7) return `PP2_TYPE_EXPERIMENT(0x${hex2(type)})`;
  if (type >= 0xf8) return `PP2_TYPE_FUTURE(0x${hex2(type)})`;
  return `UNASSIGNED(0x${hex2(type)})`;
}

function sslSubtypeName(type: number): string {
  return SSL_SUBTYPE_NAMES[type] ?? `UNASSIGNED_SSL_SUBTYPE(0x${hex2(type)})`;
}

export interface TlvWalk {
  tlvs: Tlv[];
  /** Offset, within the walked bytes, of the CRC32C value if one was found. */
  crcValueOffset: number | null;
}

/**
 * Walks `bytes` as a sequence of TLVs that must fill it exactly. Returns the
 * TLVs, or a one-line reason when a TLV is truncated, repeated where the
 * spec allows one, or has a value of the wrong shape.
 */
export function walkTlvs(bytes: Uint8Array): TlvWalk | string {
  const tlvs: Tlv[] = [];
  let crcValueOffset: number | null = null;
  let offset = 0;
  while (offset < bytes.length) {
    const entry = readTlv(bytes, offset, tlvTypeName);
    if (typeof entry === 'string') return entry;
    const { type, value } = entry;
    const name = tlvTypeName(type);
    const tlv: Tlv = { type, name, hex: toHex(value) };
    switch (type) {
      case PP2_TYPE_CRC32C:
        if (value.length !== 4) return `${name} has ${value.length} value bytes, not 4`;
        if (crcValueOffset !== null) return `${name} appears more than once`;
        crcValueOffset = offset + 3;
        tlv.crc32c = tlv.hex;
        break;
      case PP2_TYPE_UNIQUE_ID:
        if (value.length > UNIQUE_ID_MAX) {
          return `${name} is ${value.length} bytes, more than the spec's ${UNIQUE_ID_MAX}`;
        }
        setText(tlv, value);
        break;
      case PP2_TYPE_AUTHORITY: {
        const text = utf8(value);
        if (text === null) return `${name} is not valid UTF-8 (hex ${tlv.hex})`;
        tlv.text = text;
        break;
      }
      case PP2_TYPE_NETNS:
        if (!isAscii(value)) return `${name} is not US-ASCII (hex ${tlv.hex})`;
        tlv.text = latin(value);
        break;
      case PP2_TYPE_SSL: {
        const ssl = decodeSsl(value);
        if (typeof ssl === 'string') return ssl;
        tlv.ssl = ssl;
        break;
      }
      case PP2_TYPE_NOOP:
        break;
      default:
        setText(tlv, value);
    }
    tlvs.push(tlv);
    offset = entry.next;
  }
  return { tlvs, crcValueOffset };
}

function decodeSsl(value: Uint8Array): SslInfo | string {
  const name = 'PP2_TYPE_SSL';
  if (value.length < 5) return `${name} has ${value.length} value bytes, fewer than client(1) + verify(4)`;
  const client = value[0]!;
  const verify = new DataView(value.buffer, value.byteOffset + 1, 4).getUint32(0);
  const subTlvs: Tlv[] = [];
  let offset = 5;
  while (offset < value.length) {
    const entry = readTlv(value, offset, sslSubtypeName);
    if (typeof entry === 'string') return `inside ${name}: ${entry}`;
    const subName = sslSubtypeName(entry.type);
    const sub: Tlv = { type: entry.type, name: subName, hex: toHex(entry.value) };
    if (entry.type === 0x28) {
      // A DER certificate: binary, shown as hex only.
    } else if (entry.type >= 0x21 && entry.type <= 0x27) {
      const text = utf8(entry.value);
      if (text === null) return `${subName} is not valid UTF-8 (hex ${sub.hex})`;
      sub.text = text;
    } else {
      setText(sub, entry.value);
    }
    subTlvs.push(sub);
    offset = entry.next;
  }
  const clientFlags = SSL_CLIENT_BITS.filter(([bit]) => client & bit).map(([, flag]) => flag);
  return { client, clientFlags, verify, subTlvs };
}

function readTlv(
  bytes: Uint8Array,
  offset: number,
  nameOf: (type: number) => string,
):  { type: number; value: Uint8Array; next: number } | string {
  const left = bytes.length - offset;
  if (left < 3) return `TLV at offset ${offset} is truncated: ${left} bytes left, a TLV needs at least 3`;
  const type = bytes[offset]!;
  const length = (bytes[offset + 1]! << 8) | bytes[offset + 2]!;
  if (length > left - 3) {
    return `${nameOf(type)} at offset ${offset} declares ${length} value bytes but only ${left - 3} remain`;
  }
  return { type, value: bytes.subarray(offset + 3, offset + 3 + length), next: offset + 3 + length };
}

function setText(tlv: Tlv, value: Uint8Array): void {
  const text = utf8(value);
  if (text !== null && text.length > 0 && !/[\u0000-\u001f\u007f]/.test(text)) tlv.text = text;
}

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true });

function utf8(bytes: Uint8Array): string | null {
  try {
    return fatalUtf8.decode(bytes);
  } catch {
    return null;
  }
}

function isAscii(bytes: Uint8Array): boolean {
  return bytes.every((b) => b < 0x80);
}

function latin(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex');
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}
