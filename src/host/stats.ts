// Counts of host calls, for the benchmark and for tests that pin the filter's cost
// ("IPv4 without TLVs is exactly 3 host calls").
import { HOST_FUNCTIONS } from './abi.js';

export class HostCallStats {
  /** Calls per `env` import name (every import Envoy provides is listed, most stay 0). */
  readonly calls: Record<string, number> = {};
  /** All host calls together. */
  total = 0;
  /** Calls of the module's allocator (`malloc` or `proxy_on_memory_allocate`) made by the host. */
  allocations = 0;

  constructor() {
    for (const name of Object.keys(HOST_FUNCTIONS)) this.calls[name] = 0;
  }

  /** Sets every count back to zero. */
  reset(): void {
    for (const name of Object.keys(this.calls)) this.calls[name] = 0;
    this.total = 0;
    this.allocations = 0;
  }
}
