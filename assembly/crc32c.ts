// CRC32C (Castagnoli), as PROXY v2 requires for PP2_TYPE_CRC32C
// (haproxy doc/proxy-protocol.txt 2.2.3, which points to RFC 4960 appendix B):
// reflected polynomial 0x82F63B78, initial value 0xFFFFFFFF, final XOR 0xFFFFFFFF.
// Check value: crc32c("123456789") == 0xE3069283.
//
// The 1 KiB table is computed on first use into zeroed static memory rather
// than shipped as a data segment, which keeps it out of the .wasm file.

const POLY: u32 = 0x82f63b78;
const table = memory.data(256 * 4, 4);
let tableReady = false;

function buildTable(): void {
  for (let n: u32 = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    store<u32>(table + (<usize>n << 2), c);
  }
  tableReady = true;
}

/** CRC32C of `len` bytes at `ptr`. */
export function crc32c(ptr: usize, len: i32): u32 {
  if (!tableReady) buildTable();
  let c: u32 = 0xffffffff;
  for (let i = 0; i < len; i++) {
    const index = (c ^ <u32>load<u8>(ptr + <usize>i)) & 0xff;
    c = load<u32>(table + (<usize>index << 2)) ^ (c >>> 8);
  }
  return c ^ 0xffffffff;
}
