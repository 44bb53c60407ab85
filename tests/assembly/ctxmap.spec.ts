// The connection tables' map: open addressing, backward-shift deletion, shrink after a flood.
import { ContextMap } from "../../assembly/ctxmap";

function newMap(): ContextMap {
  return new ContextMap();
}

describe("ContextMap", () => {
  it("puts, gets, has and removes", () => {
    const map = newMap();
    expect<bool>(map.put(7, 1)).toBe(true);
    expect<u32>(map.get(7)).toBe(1);
    expect<bool>(map.has(7)).toBe(true);
    expect<u32>(map.get(8)).toBe(0);
    expect<bool>(map.remove(7)).toBe(true);
    expect<u32>(map.get(7)).toBe(0);
    expect<bool>(map.remove(7)).toBe(false);
    expect<u32>(map.count).toBe(0);
  });

  it("rejects key 0; a value may be 0 (has() tells it from absent)", () => {
    const map = newMap();
    expect<bool>(map.put(0, 1)).toBe(false);
    expect<bool>(map.put(1, 0)).toBe(true);
    expect<bool>(map.has(1)).toBe(true);
    expect<bool>(map.has(2)).toBe(false);
  });

  it("agrees with a reference map over many interleaved inserts and deletes", () => {
    const map = newMap();
    const reference = new Map<u32, u32>();
    let seed: u32 = 12345;
    for (let step = 0; step < 20000; step++) {
      seed = seed * 1103515245 + 12345;
      const key = ((seed >>> 8) % 600) + 1;
      const value = (seed >>> 20) + 1;
      if ((seed >>> 3) % 3 == 0) {
        expect<bool>(map.remove(key)).toBe(reference.has(key));
        if (reference.has(key)) reference.delete(key);
      } else {
        map.put(key, value);
        reference.set(key, value);
      }
      if (step % 1000 == 0) map.shrink();
    }
    expect<u32>(map.count).toBe(<u32>reference.size);
    for (let key: u32 = 1; key <= 600; key++) {
      expect<u32>(map.get(key)).toBe(reference.has(key) ? reference.get(key) : 0);
    }
    const keys = reference.keys();
    for (let i = 0; i < keys.length; i++) map.remove(keys[i]);
    expect<u32>(map.count).toBe(0);
  });

  it("keeps memory bounded by the peak number of entries", () => {
    const map = newMap();
    for (let round: u32 = 0; round < 100; round++) {
      for (let i: u32 = 1; i <= 50; i++) map.put(round * 1000 + i, 1);
      for (let i: u32 = 1; i <= 50; i++) map.remove(round * 1000 + i);
    }
    expect<u32>(map.count).toBe(0);
    expect<u32>(map.capacity).toBeLessThanOrEqual(1024);
  });

  it("shrinks after a flood: the entries stay, the table gives memory back", () => {
    const map = newMap();
    for (let i: u32 = 1; i <= 10000; i++) map.put(i, i);
    const peak = map.capacity;
    expect<u32>(peak).toBeGreaterThanOrEqual(20000);
    for (let i: u32 = 1; i <= 9990; i++) map.remove(i);
    map.shrink();
    expect<u32>(map.capacity).toBeLessThanOrEqual(64);
    for (let i: u32 = 9991; i <= 10000; i++) expect<u32>(map.get(i)).toBe(i);
    for (let i: u32 = 9991; i <= 10000; i++) map.remove(i);
    map.shrink();
    expect<u32>(map.capacity).toBe(0);
  });

  it("does not shrink a map that is still busy", () => {
    const map = newMap();
    for (let i: u32 = 1; i <= 1000; i++) map.put(i, i);
    const capacity = map.capacity;
    map.shrink();
    expect<u32>(map.capacity).toBe(capacity);
  });
});
