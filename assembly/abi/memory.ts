// proxy_on_memory_allocate (and the older name malloc): where the host puts the
// values it returns (properties, buffer bytes).
//
// Small requests are served from a static scratch arena, so the common data path
// (two address strings, a few short properties) touches no heap at all. The arena
// is reset before every host call by the wrapper in hostcalls.ts: a value is
// always consumed (parsed or copied) before the next host call. Larger requests
// (a big plugin configuration, a long certificate subject) come from the heap and
// are freed by the same wrapper once consumed.

const SCRATCH_SIZE: usize = 4096;
let scratchUsed: usize = 0;

const MAX_HEAP_BLOCKS: i32 = 8;
const heapBlocks = memory.data(MAX_HEAP_BLOCKS * 4, 4);
let heapBlockCount: i32 = 0;

/** Above this we report failure (0) rather than let the allocator trap on OOM. */
const MAX_ALLOCATION: usize = 16 << 20;

function allocate(size: usize): usize {
  const scratch = memory.data(<i32>SCRATCH_SIZE, 16);
  const rounded = (size + 7) & ~(<usize>7);
  if (rounded >= size && rounded <= SCRATCH_SIZE - scratchUsed) {
    const p = scratch + scratchUsed;
    scratchUsed += rounded;
    return p;
  }
  if (size > MAX_ALLOCATION || heapBlockCount >= MAX_HEAP_BLOCKS) return 0;
  const p = heap.alloc(size);
  store<u32>(heapBlocks + (<usize>heapBlockCount << 2), <u32>p);
  heapBlockCount++;
  return p;
}

export function proxy_on_memory_allocate(size: usize): usize {
  return allocate(size);
}

export function malloc(size: usize): usize {
  return allocate(size);
}

/** Forgets every value the host handed us: call before each host call that returns one. */
export function releaseHostValues(): void {
  scratchUsed = 0;
  for (let i = 0; i < heapBlockCount; i++) heap.free(<usize>load<u32>(heapBlocks + (<usize>i << 2)));
  heapBlockCount = 0;
}

/** Heap blocks currently held for host values (tests: must drop to 0). */
export function heldHeapBlocks(): i32 {
  return heapBlockCount;
}
