// PROXY protocol v2, the binary header (doc/proxy-protocol.txt section 2.2),
// decoded strictly: every field must hold a value the spec defines, the
// length must cover the address block of the family, the TLVs must fill the
// rest exactly, and a CRC32C TLV must match.

import { crc32c } from './crc32c.js';
import type { DecodeResult, Endpoint, Family } from './header.js';
import { formatIPv4, formatIPv6 } from './ip.js';
import { walkTlvs } from './tlv.js';

export const V2_SIGNATURE = Uint8Array.of(0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a);
export const V2_PREFIX_LENGTH = 16;

interface FamilyLayout {
  family: Family;
  /** Bytes of the address block: two addresses, then two ports for IP. */
  block: number;
}

// "In practice, the following protocol bytes are expected": the only seven
// values a sender may emit. Anything else "must be rejected as invalid".
const FAMILIES: ReadonlyMap<number, FamilyLayout> = new Map([
  [0x00, { family: 'UNSPEC', block: 0 }],
  [0x11, { family: 'TCP4', block: 12 }],
  [0x12, { family: 'UDP4', block: 12 }],
  [0x21, { family: 'TCP6', block: 36 }],
  [0x22, { family: 'UDP6', block: 36 }],
  [0x31, { family: 'UNIX_STREAM', block: 216 }],
  [0x32, { family: 'UNIX_DGRAM', block: 216 }],
]);

/** `bytes` starts with the full 12-byte v2 signature. */
export function decodeV2(bytes: Uint8Array): DecodeResult {
  if (bytes.length < V2_PREFIX_LENGTH) {
    return { state: 'incomplete', reason: `v2 header: have ${bytes.length} of the 16 fixed bytes` };
  }
  const verCmd = bytes[12]!;
  if (verCmd >> 4 !== 2) {
    return malformed(`version nibble is ${verCmd >> 4}, not 2 (byte 13 is 0x${hex2(verCmd)})`);
  }
  const commandBits = verCmd & 0x0f;
  if (commandBits > 1) {
    return malformed(`command is 0x${commandBits.toString(16)}, neither LOCAL (0x0) nor PROXY (0x1)`);
  }
  const command = commandBits === 0 ? 'LOCAL' : 'PROXY';
  const famByte = bytes[13]!;
  const layout = FAMILIES.get(famByte);
  if (!layout) {
    return malformed(`family/transport byte 0x${hex2(famByte)} is not one the spec defines (00 11 12 21 22 31 32)`);
  }
  const declared = (bytes[14]! << 8) | bytes[15]!;
  const total = V2_PREFIX_LENGTH + declared;
  if (bytes.length < total) {
    return { state: 'incomplete', reason: `v2 header: length field says ${total} bytes in all, have ${bytes.length}` };
  }
  const header = bytes.subarray(0, total);
  const body = header.subarray(V2_PREFIX_LENGTH);

  let source: Endpoint | null = null;
  let destination: Endpoint | null = null;
  let tlvStart = layout.block;
  if (command === 'LOCAL') {
    // "The receiver must accept this connection as valid and must use the
    // real connection endpoints and discard the protocol block including the
    // family which is ignored." TLVs after a complete address block are
    // still read; a shorter block is discarded whole.
    if (declared < layout.block) tlvStart = declared;
  } else {
    if (declared < layout.block) {
      return malformed(
        `length field is ${declared}, shorter than the ${layout.block}-byte address block of ${layout.family}`,
      );
    }
    const addresses = decodeAddresses(layout.family, body.subarray(0, layout.block));
    source = addresses[0];
    destination = addresses[1];
  }

  const walk = walkTlvs(body.subarray(tlvStart));
  if (typeof walk === 'string') return malformed(walk);
  if (walk.crcValueOffset !== null) {
    const at = V2_PREFIX_LENGTH + tlvStart + walk.crcValueOffset;
    const received = new DataView(header.buffer, header.byteOffset + at, 4).getUint32(0);
    // A copy: Buffer's slice() would share memory and zero the caller's bytes.
    const zeroed = Uint8Array.from(header);
    zeroed.fill(0, at, at + 4);
    const computed = crc32c(zeroed);
    if (computed !== received) {
      return malformed(`PP2_TYPE_CRC32C mismatch: header carries ${hex8(received)}, computed ${hex8(computed)}`);
    }
  }
  return {
    state: 'complete',
    header: { version: 2, command, family: layout.family, source, destination, tlvs: walk.tlvs, length: total },
  };
}

function decodeAddresses(family: Family, block: Uint8Array): [Endpoint | null, Endpoint | null] {
  const view = new DataView(block.buffer, block.byteOffset, block.length);
  switch (family) {
    case 'TCP4':
    case 'UDP4':
      return [
        { address: formatIPv4(block.subarray(0, 4)), port: view.getUint16(8) },
        { address: formatIPv4(block.subarray(4, 8)), port: view.getUint16(10) },
      ];
    case 'TCP6':
    case 'UDP6':
      return [
        { address: formatIPv6(block.subarray(0, 16)), port: view.getUint16(32) },
        { address: formatIPv6(block.subarray(16, 32)), port: view.getUint16(34) },
      ];
    case 'UNIX_STREAM':
    case 'UNIX_DGRAM':
      return [unixPath(block.subarray(0, 108)), unixPath(block.subarray(108, 216))];
    default:
      // UNSPEC: "The receiver should ignore address information."
      return [null, null];
  }
}

/**
 * A 108-byte sun_path. A path ends at the first NUL. A Linux abstract socket
 * starts with a NUL; it reads back as "@name", the way Envoy prints one
 * (source/common/network/address_impl.cc PipeInstance), so a header written for
 * "@name" decodes to "@name". Its name ends at the first NUL of the padding: the
 * sender fills sun_path up with NULs, so a name's own trailing NULs cannot be
 * told from padding.
 */
function unixPath(bytes: Uint8Array): Endpoint {
  const abstract = bytes[0] === 0;
  const name = abstract ? bytes.subarray(1) : bytes;
  const end = name.indexOf(0);
  const path = Buffer.from(name.subarray(0, end < 0 ? name.length : end)).toString('utf8');
  return { address: abstract && path !== '' ? `@${path}` : path, port: null };
}

function malformed(reason: string): DecodeResult {
  return { state: 'malformed', reason: `v2 header: ${reason}` };
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

function hex8(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
