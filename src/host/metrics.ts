// Metrics as Envoy keeps them for Wasm plugins.
// Source: envoyproxy/envoy source/extensions/common/wasm/context.cc (defineMetric,
// incrementMetric, recordMetric, getMetric) and wasm.h (kMetricTypeMask 0x3,
// kMetricIdIncrement 0x4: the low two bits of an id carry its type; ids start at type + 4).
// Envoy shows these names with its custom-stat prefix, e.g. `wasmcustom.ppv2.headers_written`.
import { METRIC_TYPE_NAMES, MetricType, type MetricTypeName, WasmResult } from './abi.js';

/** One metric as `plugin.metrics()` reports it. Values are unsigned 64-bit, as in Envoy. */
export interface MetricSnapshot {
  name: string;
  type: MetricTypeName;
  /** Counter or gauge value; for a histogram, the number of recorded values. */
  value: bigint;
  /** Histograms only: sum, min and max of the recorded values. */
  sum?: bigint;
  min?: bigint;
  max?: bigint;
}

interface Metric {
  name: string;
  type: number;
  value: bigint;
  sum: bigint;
  min: bigint;
  max: bigint;
}

const TYPE_MASK = 0x3;
const ID_INCREMENT = 0x4;
const u64 = (v: bigint): bigint => BigInt.asUintN(64, v);

export class Metrics {
  private readonly byId = new Map<number, Metric>();
  // Same name and type -> the same Envoy stat, even when defined twice (a new id each time).
  private readonly byKey = new Map<string, Metric>();
  private readonly nextId = [MetricType.Counter, MetricType.Gauge, MetricType.Histogram];

  define(type: number, name: string): number | undefined {
    if (type > MetricType.Histogram || type < 0) return undefined;
    const key = `${type}\0${name}`;
    let metric = this.byKey.get(key);
    if (metric === undefined) {
      metric = { name, type, value: 0n, sum: 0n, min: 0n, max: 0n };
      this.byKey.set(key, metric);
    }
    const id = (this.nextId[type]! += ID_INCREMENT) >>> 0;
    this.byId.set(id, metric);
    return id;
  }

  increment(id: number, delta: bigint): WasmResult {
    const type = id & TYPE_MASK;
    if (type === MetricType.Counter || type === MetricType.Gauge) {
      const m = this.byId.get(id);
      if (m === undefined) return WasmResult.NotFound;
      // A counter only goes up: zero or a negative delta is BadArgument.
      if (type === MetricType.Counter && delta <= 0n) return WasmResult.BadArgument;
      m.value = u64(m.value + delta);
      return WasmResult.Ok;
    }
    return WasmResult.BadArgument;
  }

  record(id: number, value: bigint): WasmResult {
    const m = this.byId.get(id);
    if (m === undefined || (id & TYPE_MASK) > MetricType.Histogram) return WasmResult.NotFound;
    const v = u64(value);
    if (m.type === MetricType.Counter) m.value = u64(m.value + v); // Envoy adds to a counter
    else if (m.type === MetricType.Gauge) m.value = v;
    else {
      m.min = m.value === 0n || v < m.min ? v : m.min;
      m.max = m.value === 0n || v > m.max ? v : m.max;
      m.value += 1n;
      m.sum = u64(m.sum + v);
    }
    return WasmResult.Ok;
  }

  get(id: number): bigint | WasmResult {
    const type = id & TYPE_MASK;
    if (type !== MetricType.Counter && type !== MetricType.Gauge) return WasmResult.BadArgument;
    const m = this.byId.get(id);
    return m === undefined ? WasmResult.NotFound : m.value;
  }

  value(name: string, type: number): bigint | undefined {
    return this.byKey.get(`${type}\0${name}`)?.value;
  }

  snapshot(): MetricSnapshot[] {
    return [...this.byKey.values()].map((m) => {
      const s: MetricSnapshot = { name: m.name, type: METRIC_TYPE_NAMES[m.type]!, value: m.value };
      if (m.type === MetricType.Histogram) Object.assign(s, { sum: m.sum, min: m.min, max: m.max });
      return s;
    });
  }
}
