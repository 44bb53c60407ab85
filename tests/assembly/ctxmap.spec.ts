// The pending-connection map: open addressing, backward-shift deletion.
import { ctxCapacity, ctxCount, ctxGet, ctxPut, ctxRemove } from "../../assembly/ctxmap";

describe("ctxmap", () => {
  it("puts, gets and removes", () => {
    expect<bool>(ctxPut(7, 1)).toBe(true);
    expect<u32>(ctxGet(7)).toBe(1);
    expect<u32>(ctxGet(8)).toBe(0);
    expect<u32>(ctxRemove(7)).toBe(1);
    expect<u32>(ctxGet(7)).toBe(0);
    expect<u32>(ctxRemove(7)).toBe(0);
    expect<u32>(ctxCount()).toBe(0);
  });

  it("rejects key 0 and value 0", () => {
    expect<bool>(ctxPut(0, 1)).toBe(false);
    expect<bool>(ctxPut(1, 0)).toBe(false);
    expect<u32>(ctxCount()).toBe(0);
  });

  it("agrees with a reference map over many interleaved inserts and deletes", () => {
    const reference = new Map<u32, u32>();
    let seed: u32 = 12345;
    for (let step = 0; step < 20000; step++) {
      seed = seed * 1103515245 + 12345;
      const key = ((seed >>> 8) % 600) + 1;
      const value = (seed >>> 20) + 1;
      if ((seed >>> 3) % 3 == 0) {
        const expected = reference.has(key) ? reference.get(key) : 0;
        expect<u32>(ctxRemove(key)).toBe(expected);
        if (reference.has(key)) reference.delete(key);
      } else {
        ctxPut(key, value);
        reference.set(key, value);
      }
    }
    expect<u32>(ctxCount()).toBe(<u32>reference.size);
    for (let key: u32 = 1; key <= 600; key++) {
      expect<u32>(ctxGet(key)).toBe(reference.has(key) ? reference.get(key) : 0);
    }
    const keys = reference.keys();
    for (let i = 0; i < keys.length; i++) ctxRemove(keys[i]);
    expect<u32>(ctxCount()).toBe(0);
  });

  it("keeps memory bounded by the peak number of pending connections", () => {
    for (let round: u32 = 0; round < 100; round++) {
      for (let i: u32 = 1; i <= 50; i++) ctxPut(round * 1000 + i, 1);
      for (let i: u32 = 1; i <= 50; i++) ctxRemove(round * 1000 + i);
    }
    expect<u32>(ctxCount()).toBe(0);
    expect<u32>(ctxCapacity()).toBeLessThanOrEqual(1024);
  });
});
