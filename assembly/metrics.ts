// Counters live in wasm memory and reach Envoy's stats from proxy_on_tick, so
// the data path never makes a metric host call. Envoy shows them as
// wasmcustom.<name>; they lag by at most one tick period (TICK_PERIOD_MS).

import { defineCounter, incrementCounter } from "./hostcalls";
import { textNext, utf8List } from "./bytes";

export const HEADERS_WRITTEN: i32 = 0;
export const LOCAL_FALLBACKS: i32 = 1;
export const CLOSED_BY_POLICY: i32 = 2;
export const TLVS_OMITTED: i32 = 3;
const COUNTERS: i32 = 4;

/** How often proxy_on_tick flushes counters and refreshes the log level. */
export const TICK_PERIOD_MS: u32 = 1000;

const pending = memory.data(COUNTERS * 8, 8); // u64 deltas not yet flushed
const ids = memory.data(COUNTERS * 8, 8); // i64 metric ids, -1 when undefined
let defined = false;

export function count(which: i32, n: u64): void {
  const p = pending + (<usize>which << 3);
  store<u64>(p, load<u64>(p) + n);
}

/** Not yet flushed (tests). */
export function pendingCount(which: i32): u64 {
  return load<u64>(pending + (<usize>which << 3));
}

/** Defines the counters once per VM (metric names are global to the VM's stats scope). */
export function defineCounters(): void {
  if (defined) return;
  // In the order of HEADERS_WRITTEN, LOCAL_FALLBACKS, CLOSED_BY_POLICY, TLVS_OMITTED.
  let name = utf8List("ppv2.headers_written", "ppv2.local_fallbacks", "ppv2.closed_by_policy", "ppv2.tlvs_omitted");
  for (let i = 0; i < COUNTERS; i++, name = textNext(name)) store<i64>(ids + (<usize>i << 3), defineCounter(name));
  defined = true;
}

/** Pushes the pending deltas to the host. A counter the host refused stays pending. */
export function flushCounters(): void {
  if (!defined) return;
  for (let i = 0; i < COUNTERS; i++) {
    const p = pending + (<usize>i << 3);
    const delta = load<u64>(p);
    const id = load<i64>(ids + (<usize>i << 3));
    if (delta == 0 || id < 0) continue;
    if (incrementCounter(<u32>id, <i64>delta) == 0) store<u64>(p, 0);
  }
}
