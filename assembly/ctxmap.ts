// A map from context id to a u32, for the few connections the filter must
// remember (filter.ts): open addressing with linear probing in raw heap memory,
// and backward-shift deletion (no tombstones), so lookups stay short however
// many connections come and go. Keys are never 0 (Envoy's context ids start at
// 1), so a 0 key marks an empty slot.
//
// The table doubles when half full; shrink() (called from the tick) gives the
// memory back after a flood, once few entries are left.

const INITIAL_CAPACITY: u32 = 16;
/** Slots: a u32 key, then a u32 value. */
const SLOT_SIZE: usize = 8;
const SLOT_VALUE: usize = 4;
/** Fibonacci hashing: key × 2^32/φ spreads sequential ids over the table. */
const FIBONACCI_MULTIPLIER: u32 = 0x9e3779b1;

@unmanaged
export class ContextMap {
  table: usize = 0;
  /** A power of two, or 0 before first use. */
  capacity: u32 = 0;
  /** 32 - log2(capacity): the hash's top bits index the table. */
  shift: u32 = 32;
  count: u32 = 0;

  private slot(index: u32): usize {
    return this.table + <usize>index * SLOT_SIZE;
  }

  private home(key: u32): u32 {
    return (key * FIBONACCI_MULTIPLIER) >>> this.shift;
  }

  private next(index: u32): u32 {
    return (index + 1) & (this.capacity - 1);
  }

  /** Moves every entry into a new table of `capacity` slots (a power of two). */
  private resize(capacity: u32): void {
    const oldTable = this.table;
    const oldCapacity = this.capacity;
    const bytes = <usize>capacity * SLOT_SIZE;
    this.table = heap.alloc(bytes);
    memory.fill(this.table, 0, bytes);
    this.capacity = capacity;
    this.shift = 32 - ctz(capacity);
    this.count = 0;
    for (let i: u32 = 0; i < oldCapacity; i++) {
      const p = oldTable + <usize>i * SLOT_SIZE;
      const key = load<u32>(p);
      if (key != 0) this.put(key, load<u32>(p, SLOT_VALUE));
    }
    if (oldTable != 0) heap.free(oldTable);
  }

  /** Inserts or replaces. False for key 0, which is not a context id. */
  put(key: u32, value: u32): bool {
    if (key == 0) return false;
    if ((this.count + 1) * 2 > this.capacity) this.resize(this.capacity == 0 ? INITIAL_CAPACITY : this.capacity * 2);
    let i = this.home(key);
    while (true) {
      const p = this.slot(i);
      const k = load<u32>(p);
      if (k == key) {
        store<u32>(p, value, SLOT_VALUE);
        return true;
      }
      if (k == 0) {
        store<u32>(p, key);
        store<u32>(p, value, SLOT_VALUE);
        this.count++;
        return true;
      }
      i = this.next(i);
    }
  }

  /** The slot holding key, or -1. */
  private find(key: u32): i32 {
    if (this.count == 0 || key == 0) return -1;
    let i = this.home(key);
    while (true) {
      const k = load<u32>(this.slot(i));
      if (k == key) return <i32>i;
      if (k == 0) return -1;
      i = this.next(i);
    }
  }

  has(key: u32): bool {
    return this.find(key) >= 0;
  }

  /** The value for key, or 0 when absent. */
  get(key: u32): u32 {
    const i = this.find(key);
    return i < 0 ? 0 : load<u32>(this.slot(<u32>i), SLOT_VALUE);
  }

  /** Removes key; returns whether it was there. */
  remove(key: u32): bool {
    const found = this.find(key);
    if (found < 0) return false;
    let hole = <u32>found;
    // Backward shift: pull later entries of the probe run into the hole when
    // their home slot does not lie cyclically after the hole.
    const mask = this.capacity - 1;
    let j = this.next(hole);
    while (true) {
      const p = this.slot(j);
      const k = load<u32>(p);
      if (k == 0) break;
      const distanceToJ = (j - this.home(k)) & mask;
      const distanceToHole = (j - hole) & mask;
      if (distanceToJ >= distanceToHole) {
        store<u64>(this.slot(hole), load<u64>(p));
        hole = j;
      }
      j = this.next(j);
    }
    store<u64>(this.slot(hole), 0);
    this.count--;
    return true;
  }

  /**
   * Gives memory back after a flood: when at most an eighth of the slots are
   * used, moves the entries into a table a quarter full (never below the
   * initial size), or frees the table when the map is empty.
   */
  shrink(): void {
    if (this.capacity <= INITIAL_CAPACITY || this.count * 8 > this.capacity) return;
    if (this.count == 0) {
      heap.free(this.table);
      this.table = 0;
      this.capacity = 0;
      this.shift = 32;
      return;
    }
    let capacity = INITIAL_CAPACITY;
    while (capacity < this.count * 4) capacity *= 2;
    this.resize(capacity);
  }

  /** The key in slot `index` (0 when the slot is empty), for a walk over slots 0..capacity-1. */
  keyAt(index: u32): u32 {
    return load<u32>(this.slot(index));
  }

  /** The value in slot `index`. */
  valueAt(index: u32): u32 {
    return load<u32>(this.slot(index), SLOT_VALUE);
  }
}
