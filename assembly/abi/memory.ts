// proxy_on_memory_allocate (and the older name malloc): where the host puts the
// values it returns (properties, buffer bytes, the plugin configuration).
//
// Small requests are served from a static scratch arena, so the common data path
// (two address strings, a few short properties) touches no heap at all. Larger
// requests (a big plugin configuration, a long certificate subject) come from the
// heap. Both kinds live until releaseHostValues(), which the filter calls once it
// has consumed (parsed or copied) what it read: after the addresses, after each
// dynamic TLV, and at the end of every callback.

const SCRATCH_SIZE: usize = 4096;
const scratch = memory.data(<i32>SCRATCH_SIZE, 16);
let scratchUsed: usize = 0;

/** Heap blocks handed to the host since the last release, freed by releaseHostValues(). */
const MAX_HEAP_BLOCKS: i32 = 8;
const heapBlocks = memory.data(MAX_HEAP_BLOCKS * sizeof<u32>(), 4);
let heapBlockCount: i32 = 0;

/** Above this we report failure (0) rather than let the allocator trap on OOM. */
const MAX_ALLOCATION: usize = 16 << 20;

/** Memory for one value the host returns; 0 when refused (the host then reports InvalidMemoryAccess). */
export function allocateHostValue(size: usize): usize {
  const rounded = (size + 7) & ~(<usize>7); // keep every value 8-byte aligned
  if (rounded >= size && rounded <= SCRATCH_SIZE - scratchUsed) {
    const p = scratch + scratchUsed;
    scratchUsed += rounded;
    return p;
  }
  if (size > MAX_ALLOCATION || heapBlockCount >= MAX_HEAP_BLOCKS) return 0;
  const p = heap.alloc(size);
  store<u32>(heapBlocks + <usize>heapBlockCount * sizeof<u32>(), <u32>p);
  heapBlockCount++;
  return p;
}

export function proxy_on_memory_allocate(size: usize): usize {
  return allocateHostValue(size);
}

export function malloc(size: usize): usize {
  return allocateHostValue(size);
}

/** Forgets every value the host handed us: their memory is reused from here on. */
export function releaseHostValues(): void {
  scratchUsed = 0;
  for (let i = 0; i < heapBlockCount; i++) heap.free(<usize>load<u32>(heapBlocks + <usize>i * sizeof<u32>()));
  heapBlockCount = 0;
}
