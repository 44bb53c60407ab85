// Counters live in wasm memory and reach Envoy's stats from proxy_on_tick (and
// from the root context's proxy_on_done), so the data path never makes a metric
// host call. Envoy shows them as wasmcustom.<name>; they lag by at most one tick
// period (TICK_PERIOD_MS). docs/ARCHITECTURE.md lists what each one counts.

import { defineCounter, incrementCounter, STATUS_OK } from "./hostcalls";

export enum Counter {
  HeadersWritten,
  LocalFallbacks,
  ClosedByPolicy,
  TlvsOmitted,
  ClosedOnError,
}
const COUNTERS: i32 = 5;

/** The metric name of each counter. */
function counterName(counter: Counter): string {
  switch (counter) {
    case Counter.HeadersWritten:
      return "ppv2.headers_written";
    case Counter.LocalFallbacks:
      return "ppv2.local_fallbacks";
    case Counter.ClosedByPolicy:
      return "ppv2.closed_by_policy";
    case Counter.TlvsOmitted:
      return "ppv2.tlvs_omitted";
    default:
      return "ppv2.closed_on_error";
  }
}

/** How often proxy_on_tick flushes counters and refreshes the log level. */
export const TICK_PERIOD_MS: u32 = 1000;

/** Per counter: the u64 increments not yet flushed, and the i64 metric id (-1 when undefined). */
const pending = memory.data(COUNTERS * sizeof<u64>(), 8);
const ids = memory.data(COUNTERS * sizeof<i64>(), 8);
let defined = false;

function pendingAt(counter: Counter): usize {
  return pending + <usize>counter * sizeof<u64>();
}

function idAt(counter: Counter): usize {
  return ids + <usize>counter * sizeof<i64>();
}

export function count(counter: Counter, n: u64): void {
  store<u64>(pendingAt(counter), load<u64>(pendingAt(counter)) + n);
}

/** Defines the counters once per VM (metric names are global to the VM's stats scope). */
export function defineCounters(): void {
  if (defined) return;
  for (let c = 0; c < COUNTERS; c++) store<i64>(idAt(c), defineCounter(counterName(c)));
  defined = true;
}

/** Pushes the pending increments to the host. A counter the host refused stays pending. */
export function flushCounters(): void {
  if (!defined) return;
  for (let c = 0; c < COUNTERS; c++) {
    const delta = load<u64>(pendingAt(c));
    const id = load<i64>(idAt(c));
    if (delta == 0 || id < 0) continue;
    if (incrementCounter(<u32>id, <i64>delta) == STATUS_OK) store<u64>(pendingAt(c), 0);
  }
}
