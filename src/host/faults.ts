// Fault injection, for tests that must show what a module does when its host misbehaves: a host
// call that answers with an error status instead of doing its work, or a module callback that
// the host skips or makes with other arguments. A stock Envoy does neither for a network filter
// (its set_buffer_bytes at offset 0 and its close_stream always return Ok: Envoy
// source/extensions/common/wasm/context.cc Buffer::copyFrom and Context::closeStream), so these
// are the only way to prove that a filter fails closed on every path.
//
//   plugin.faults.hostCall('proxy_close_stream', () => WasmResult.InternalFailure);
//   plugin.faults.hostCall('proxy_set_buffer_bytes', (type, start, length) => (length === 0 ? WasmResult.BadArgument : undefined));
//   plugin.faults.callback('proxy_on_context_create', ([id, parent], call) => (parent === 0 ? call(id, parent) : 0));
//   plugin.faults.clear();
//
// The faults belong to the VM: every plugin sharing it sees them.
import type { WasmResult } from './abi.js';

/**
 * Decides the status a host call returns instead of running, from its raw arguments (as the
 * module passed them, unsigned); undefined runs the call as usual.
 */
export type HostCallFault = (...args: number[]) => WasmResult | undefined;

/**
 * Replaces one module callback: gets the arguments the host would pass and a function that
 * calls the module's export, and returns the callback's result (0 for callbacks that return
 * nothing).
 */
export type CallbackFault = (args: number[], call: (...args: number[]) => number) => number;

export class HostFaults {
  private readonly hostCalls = new Map<string, HostCallFault>();
  private readonly callbacks = new Map<string, CallbackFault>();

  /** Host call `name` (an `env` import such as proxy_set_buffer_bytes) consults `fault` first. */
  hostCall(name: string, fault: HostCallFault): this {
    if (typeof fault !== 'function') throw new TypeError('faults.hostCall: fault must be a function');
    this.hostCalls.set(name, fault);
    return this;
  }

  /** Module callback `name` (an export such as proxy_on_context_create) goes through `fault`. */
  callback(name: string, fault: CallbackFault): this {
    if (typeof fault !== 'function') throw new TypeError('faults.callback: fault must be a function');
    this.callbacks.set(name, fault);
    return this;
  }

  /** Removes every fault: the host behaves as Envoy again. */
  clear(): void {
    this.hostCalls.clear();
    this.callbacks.clear();
  }

  /** @internal the status an injected fault gives host call `name`, or undefined */
  hostCallResult(name: string, a: number, b: number, c: number, d: number, e: number): WasmResult | undefined {
    if (this.hostCalls.size === 0) return undefined;
    const fault = this.hostCalls.get(name);
    return fault === undefined ? undefined : fault(a >>> 0, b >>> 0, c >>> 0, d >>> 0, e >>> 0);
  }

  /** @internal the replacement for module callback `name`, or undefined */
  callbackFault(name: string): CallbackFault | undefined {
    return this.callbacks.size === 0 ? undefined : this.callbacks.get(name);
  }
}
