// Stream context id → root context id, only for connections whose header is
// still owed. Open addressing with linear probing in raw heap memory, and
// backward-shift deletion (no tombstones), so lookups stay short however many
// connections come and go. Keys are never 0 (Envoy's context ids start at 1),
// so 0 marks an empty slot; values are root ids, which are never 0 either.
//
// Slots are 8 bytes: key u32, value u32. The table doubles when half full and
// never shrinks: its size follows the peak number of connections that have not
// yet sent their first byte, which is small.

const INITIAL_CAPACITY: u32 = 16;

let table: usize = 0;
let capacity: u32 = 0; // a power of two, or 0 before first use
let count: u32 = 0;

function slotOf(key: u32, mask: u32): u32 {
  // Fibonacci hashing: the top bits of key * 2^32/phi spread sequential ids.
  return ((key * 0x9e3779b1) >>> (32 - <u32>ctz(mask + 1))) & mask;
}

function slotPtr(index: u32): usize {
  return table + (<usize>index << 3);
}

function allocate(cap: u32): usize {
  const bytes = <usize>cap << 3;
  const p = heap.alloc(bytes);
  memory.fill(p, 0, bytes);
  return p;
}

function grow(): void {
  const oldTable = table;
  const oldCapacity = capacity;
  capacity = oldCapacity == 0 ? INITIAL_CAPACITY : oldCapacity << 1;
  table = allocate(capacity);
  count = 0;
  for (let i: u32 = 0; i < oldCapacity; i++) {
    const p = oldTable + (<usize>i << 3);
    const key = load<u32>(p);
    if (key != 0) ctxPut(key, load<u32>(p, 4));
  }
  if (oldTable != 0) heap.free(oldTable);
}

/** Inserts or replaces. False for key 0 or value 0, which are not valid ids. */
export function ctxPut(key: u32, value: u32): bool {
  if (key == 0 || value == 0) return false;
  if ((count + 1) << 1 > capacity) grow();
  const mask = capacity - 1;
  let i = slotOf(key, mask);
  while (true) {
    const p = slotPtr(i);
    const k = load<u32>(p);
    if (k == key) {
      store<u32>(p, value, 4);
      return true;
    }
    if (k == 0) {
      store<u32>(p, key);
      store<u32>(p, value, 4);
      count++;
      return true;
    }
    i = (i + 1) & mask;
  }
}

/** The value for key, or 0 when absent. */
export function ctxGet(key: u32): u32 {
  if (capacity == 0 || key == 0) return 0;
  const mask = capacity - 1;
  let i = slotOf(key, mask);
  while (true) {
    const p = slotPtr(i);
    const k = load<u32>(p);
    if (k == key) return load<u32>(p, 4);
    if (k == 0) return 0;
    i = (i + 1) & mask;
  }
}

/** Removes key; returns its value, or 0 when it was absent. */
export function ctxRemove(key: u32): u32 {
  if (capacity == 0 || key == 0) return 0;
  const mask = capacity - 1;
  let hole = slotOf(key, mask);
  while (true) {
    const k = load<u32>(slotPtr(hole));
    if (k == key) break;
    if (k == 0) return 0;
    hole = (hole + 1) & mask;
  }
  const value = load<u32>(slotPtr(hole), 4);
  // Backward shift: pull later entries of the probe run into the hole when
  // their home slot does not lie cyclically after the hole.
  let j = (hole + 1) & mask;
  while (true) {
    const p = slotPtr(j);
    const k = load<u32>(p);
    if (k == 0) break;
    const home = slotOf(k, mask);
    const distanceToJ = (j - home) & mask;
    const distanceToHole = (j - hole) & mask;
    if (distanceToJ >= distanceToHole) {
      store<u64>(slotPtr(hole), load<u64>(p));
      hole = j;
    }
    j = (j + 1) & mask;
  }
  store<u64>(slotPtr(hole), 0);
  count--;
  return value;
}

/** Entries currently held (for tests and debug logs). */
export function ctxCount(): u32 {
  return count;
}

/** Slots allocated (for tests: memory stays bounded). */
export function ctxCapacity(): u32 {
  return capacity;
}
