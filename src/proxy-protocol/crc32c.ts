// CRC32C (Castagnoli), as PP2_TYPE_CRC32C requires: RFC 4960 Appendix B,
// reflected polynomial 0x82F63B78, initial value and final XOR 0xFFFFFFFF.
// Written independently of assembly/crc32c.ts so each can check the other.

const TABLE = buildTable();

function buildTable(): Uint32Array {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let bit = 0; bit < 8; bit++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

/** CRC32C of `bytes`; crc32c("123456789") is 0xE3069283. */
export function crc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = TABLE[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
