// The `env` functions Envoy provides to a Proxy-Wasm module (ABI 0.2.x), with Envoy's statuses.
// Argument checks and memory handling follow proxy-wasm/proxy-wasm-cpp-host src/exports.cc;
// what each call does follows envoyproxy/envoy source/extensions/common/wasm/context.cc.
// Every i32 argument arrives signed from V8, so pointers and sizes are read with `>>> 0`.
import {
  BUFFER_TYPE_MAX,
  BufferType,
  HEADER_MAP_TYPE_MAX,
  LOG_LEVEL_MAX,
  ONLY_IN_0_2_1,
  STREAM_TYPE_MAX,
  WasmResult,
} from './abi.js';
import { ByteQueue, copyBytes, EMPTY_BYTES } from './buffer.js';
import type { HostFaults } from './faults.js';
import type { Metrics } from './metrics.js';
import type { HostCallStats } from './stats.js';
import type { HostContext, Vm } from './vm.js';

/** What the imports share across every plugin of one VM; the rest belongs to the calling context's plugin. */
export interface ImportHost {
  readonly vm: Vm;
  readonly stats: HostCallStats;
  readonly metrics: Metrics;
  readonly vmConfiguration: Uint8Array;
  readonly faults: HostFaults;
}

/** Envoy's Context::getBuffer: null is NotFound; a Uint8Array is read-only (set is BadArgument). */
function getBuffer(host: ImportHost, ctx: HostContext, type: number): ByteQueue | Uint8Array | null {
  let b: ByteQueue | Uint8Array | null;
  switch (type) {
    case BufferType.DownstreamData:
      b = ctx.downstreamBuffer ?? EMPTY_BYTES;
      break;
    case BufferType.UpstreamData:
      b = ctx.upstreamBuffer ?? EMPTY_BYTES;
      break;
    case BufferType.VmConfiguration:
      b = host.vmConfiguration; // readable from any context, at any time
      break;
    case BufferType.PluginConfiguration:
      if (!ctx.pluginConfigVisible) return null;
      b = ctx.owner.pluginConfiguration;
      break;
    case BufferType.HttpCallResponseBody:
      return null; // no HTTP call response is ever pending
    case BufferType.CallData:
      return ctx.lastBuffer;
    default:
      b = EMPTY_BYTES; // HTTP bodies and gRPC buffers: an unset buffer, empty
  }
  ctx.lastBuffer = b;
  return b;
}

function restricted(): never {
  // Envoy traps host calls other than proxy_log during _initialize/_start and inside the
  // allocator (cpp-host src/wasm.cc startVm, include/proxy-wasm/wasm.h allocMemory).
  throw new WebAssembly.RuntimeError('restricted_callback');
}

export function createImports(host: ImportHost, abi: '0.2.0' | '0.2.1'): Record<string, (...args: never[]) => unknown> {
  const { vm, stats, metrics, faults } = host;
  const c = stats.calls;

  /**
   * What every host call does first, in cpp-host's order (src/exports.cc): count the call; trap
   * when only proxy_log may run (VM start, allocator); refuse arguments that are checked before
   * the context is looked up (`argsValid` false: BadArgument); apply an injected fault (its
   * first five arguments decide it); then find the context the call acts on. A number is the
   * status to return at once.
   */
  function enter(name: string, argsValid: boolean, a = 0, b = 0, cc = 0, d = 0, e = 0): HostContext | WasmResult {
    stats.total++;
    c[name]!++;
    if (vm.restricted && name !== 'proxy_log') restricted();
    if (!argsValid) return WasmResult.BadArgument;
    const fault = faults.hostCallResult(name, a, b, cc, d, e);
    if (fault !== undefined) return fault;
    return vm.context();
  }

  /** The preamble of a call with no argument checked before the context. */
  const call = (name: string, a = 0, b = 0, cc = 0, d = 0, e = 0): HostContext | WasmResult => enter(name, true, a, b, cc, d, e);

  const fns: Record<string, (...args: never[]) => unknown> = {
    proxy_log(level: number, ptr: number, size: number): number {
      const ctx = enter('proxy_log', level >>> 0 <= LOG_LEVEL_MAX, level, ptr, size);
      if (typeof ctx === 'number') return ctx;
      ptr >>>= 0;
      size >>>= 0;
      if (!vm.inBounds(ptr, size)) return WasmResult.InvalidMemoryAccess;
      ctx.owner.log(level, vm.buf.toString('utf8', ptr, ptr + size), ctx);
      return WasmResult.Ok;
    },

    proxy_get_log_level(ptr: number): number {
      const ctx = call('proxy_get_log_level', ptr);
      if (typeof ctx === 'number') return ctx;
      return vm.setWord(ptr >>> 0, ctx.owner.logLevel) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
    },

    proxy_get_property(pathPtr: number, pathSize: number, valuePtrPtr: number, valueSizePtr: number): number {
      const ctx = call('proxy_get_property', pathPtr, pathSize, valuePtrPtr, valueSizePtr);
      if (typeof ctx === 'number') return ctx;
      pathPtr >>>= 0;
      pathSize >>>= 0;
      if (!vm.inBounds(pathPtr, pathSize)) return WasmResult.InvalidMemoryAccess;
      const value = ctx.property(vm.key(pathPtr, pathSize));
      if (value === null) return WasmResult.NotFound;
      if (typeof value === 'number') return value;
      return vm.copyOut(value, valuePtrPtr >>> 0, valueSizePtr >>> 0);
    },

    proxy_set_property(keyPtr: number, keySize: number, valuePtr: number, valueSize: number): number {
      const ctx = call('proxy_set_property', keyPtr, keySize, valuePtr, valueSize);
      if (typeof ctx === 'number') return ctx;
      keyPtr >>>= 0;
      keySize >>>= 0;
      valuePtr >>>= 0;
      valueSize >>>= 0;
      if (!vm.inBounds(keyPtr, keySize) || !vm.inBounds(valuePtr, valueSize)) return WasmResult.InvalidMemoryAccess;
      return ctx.setProperty(vm.buf.toString('latin1', keyPtr, keyPtr + keySize), vm.u8.slice(valuePtr, valuePtr + valueSize));
    },

    proxy_get_buffer_status(type: number, lengthPtr: number, flagsPtr: number): number {
      const ctx = enter('proxy_get_buffer_status', type >>> 0 <= BUFFER_TYPE_MAX, type, lengthPtr, flagsPtr);
      if (typeof ctx === 'number') return ctx;
      const b = getBuffer(host, ctx, type);
      if (b === null) return WasmResult.NotFound;
      if (!vm.setWord(lengthPtr >>> 0, b.length) || !vm.setWord(flagsPtr >>> 0, 0)) return WasmResult.InvalidMemoryAccess;
      return WasmResult.Ok;
    },

    proxy_get_buffer_bytes(type: number, start: number, length: number, ptrPtr: number, sizePtr: number): number {
      const ctx = enter('proxy_get_buffer_bytes', type >>> 0 <= BUFFER_TYPE_MAX, type, start, length, ptrPtr, sizePtr);
      if (typeof ctx === 'number') return ctx;
      const b = getBuffer(host, ctx, type);
      if (b === null) return WasmResult.NotFound;
      start >>>= 0;
      length >>>= 0;
      ptrPtr >>>= 0;
      sizePtr >>>= 0;
      // Reads past the end are clipped, never refused (cpp-host src/exports.cc get_buffer_bytes).
      if (start > b.length) length = 0;
      else if (start + length > b.length) length = b.length - start;
      if (length === 0) {
        return vm.setWord(ptrPtr, 0) && vm.setWord(sizePtr, 0) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
      }
      const ptr = vm.allocate(length);
      if (ptr === 0) return WasmResult.InvalidMemoryAccess;
      if (b instanceof ByteQueue) b.copyOut(start, length, vm.u8, ptr);
      else vm.u8.set(b.subarray(start, start + length), ptr);
      return vm.setWord(ptrPtr, ptr) && vm.setWord(sizePtr, length) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
    },

    proxy_set_buffer_bytes(type: number, start: number, length: number, dataPtr: number, dataSize: number): number {
      const ctx = enter('proxy_set_buffer_bytes', type >>> 0 <= BUFFER_TYPE_MAX, type, start, length, dataPtr, dataSize);
      if (typeof ctx === 'number') return ctx;
      const b = getBuffer(host, ctx, type);
      if (b === null) return WasmResult.NotFound;
      dataPtr >>>= 0;
      dataSize >>>= 0;
      if (!vm.inBounds(dataPtr, dataSize)) return WasmResult.InvalidMemoryAccess;
      if (!(b instanceof ByteQueue)) return WasmResult.BadArgument; // string or unset buffer
      start >>>= 0;
      length >>>= 0;
      // Envoy's Buffer::copyFrom: start 0 drains `length` then prepends; start at or past the
      // end appends; anything else is BadArgument (source/extensions/common/wasm/context.cc).
      if (start === 0) {
        if (length !== 0) b.drain(length);
        b.prepend(copyBytes(vm.u8, dataPtr, dataPtr + dataSize));
        return WasmResult.Ok;
      }
      if (start >= b.length) {
        b.add(copyBytes(vm.u8, dataPtr, dataPtr + dataSize));
        return WasmResult.Ok;
      }
      return WasmResult.BadArgument;
    },

    proxy_continue_stream(type: number): number {
      const ctx = enter('proxy_continue_stream', type >>> 0 <= STREAM_TYPE_MAX, type);
      if (typeof ctx === 'number') return ctx;
      return ctx.continueStream(type);
    },

    proxy_close_stream(type: number): number {
      const ctx = enter('proxy_close_stream', type >>> 0 <= STREAM_TYPE_MAX, type);
      if (typeof ctx === 'number') return ctx;
      return ctx.closeStream(type);
    },

    proxy_set_tick_period_milliseconds(ms: number): number {
      const ctx = call('proxy_set_tick_period_milliseconds', ms);
      if (typeof ctx === 'number') return ctx;
      // The period is the calling context's root's (cpp-host ContextBase::setTimerPeriod).
      ctx.owner.setTickPeriod(ms >>> 0);
      return WasmResult.Ok;
    },

    proxy_get_current_time_nanoseconds(ptr: number): number {
      const ctx = call('proxy_get_current_time_nanoseconds', ptr);
      if (typeof ctx === 'number') return ctx;
      ptr >>>= 0;
      if (!vm.inBounds(ptr, 8)) return WasmResult.InvalidMemoryAccess;
      vm.dv.setBigUint64(ptr, BigInt(Date.now()) * 1_000_000n, true);
      return WasmResult.Ok;
    },

    proxy_define_metric(type: number, namePtr: number, nameSize: number, idPtr: number): number {
      const ctx = call('proxy_define_metric', type, namePtr, nameSize, idPtr);
      if (typeof ctx === 'number') return ctx;
      namePtr >>>= 0;
      nameSize >>>= 0;
      if (!vm.inBounds(namePtr, nameSize)) return WasmResult.InvalidMemoryAccess;
      const id = metrics.define(type >>> 0, vm.buf.toString('utf8', namePtr, namePtr + nameSize));
      if (id === undefined) return WasmResult.BadArgument;
      return vm.setWord(idPtr >>> 0, id) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
    },

    proxy_increment_metric(id: number, delta: bigint): number {
      const ctx = call('proxy_increment_metric', id);
      if (typeof ctx === 'number') return ctx;
      return metrics.increment(id >>> 0, delta);
    },

    proxy_record_metric(id: number, value: bigint): number {
      const ctx = call('proxy_record_metric', id);
      if (typeof ctx === 'number') return ctx;
      return metrics.record(id >>> 0, value);
    },

    proxy_get_metric(id: number, ptr: number): number {
      const ctx = call('proxy_get_metric', id, ptr);
      if (typeof ctx === 'number') return ctx;
      const value = metrics.get(id >>> 0);
      if (typeof value === 'number') return value;
      ptr >>>= 0;
      if (!vm.inBounds(ptr, 8)) return WasmResult.InvalidMemoryAccess;
      vm.dv.setBigUint64(ptr, value, true);
      return WasmResult.Ok;
    },

    proxy_set_effective_context(id: number): number {
      const ctx = call('proxy_set_effective_context', id);
      if (typeof ctx === 'number') return ctx;
      if (!vm.contexts.has(id >>> 0)) return WasmResult.BadArgument;
      vm.effectiveId = id >>> 0;
      return WasmResult.Ok;
    },

    proxy_done(): number {
      const ctx = call('proxy_done');
      if (typeof ctx === 'number') return ctx;
      return ctx.owner.done();
    },

    // HTTP maps: a network filter has none. Envoy's getMap() is null (BadArgument) and
    // getConstMap() yields no pairs (source/extensions/common/wasm/context.cc).
    proxy_get_header_map_value(type: number, keyPtr: number, keySize: number): number {
      const ctx = enter('proxy_get_header_map_value', type >>> 0 <= HEADER_MAP_TYPE_MAX, type, keyPtr, keySize);
      if (typeof ctx === 'number') return ctx;
      if (!vm.inBounds(keyPtr >>> 0, keySize >>> 0)) return WasmResult.InvalidMemoryAccess;
      return WasmResult.BadArgument;
    },
    proxy_add_header_map_value(type: number, kp: number, ks: number, vp: number, vs: number): number {
      return mapWrite('proxy_add_header_map_value', type, kp, ks, vp, vs);
    },
    proxy_replace_header_map_value(type: number, kp: number, ks: number, vp: number, vs: number): number {
      return mapWrite('proxy_replace_header_map_value', type, kp, ks, vp, vs);
    },
    proxy_remove_header_map_value(type: number, kp: number, ks: number): number {
      return mapWrite('proxy_remove_header_map_value', type, kp, ks, 0, 0);
    },
    proxy_get_header_map_pairs(type: number, ptrPtr: number, sizePtr: number): number {
      const ctx = enter('proxy_get_header_map_pairs', type >>> 0 <= HEADER_MAP_TYPE_MAX, type, ptrPtr, sizePtr);
      if (typeof ctx === 'number') return ctx;
      return vm.copyOut(EMPTY_BYTES, ptrPtr >>> 0, sizePtr >>> 0);
    },
    proxy_set_header_map_pairs(type: number, ptr: number, size: number): number {
      return mapWrite('proxy_set_header_map_pairs', type, ptr, size, 0, 0);
    },
    proxy_get_header_map_size(type: number): number {
      const ctx = enter('proxy_get_header_map_size', type >>> 0 <= HEADER_MAP_TYPE_MAX, type);
      if (typeof ctx === 'number') return ctx;
      return WasmResult.BadArgument;
    },
    proxy_send_local_response(_code: number, dp: number, ds: number, bp: number, bs: number, hp: number, hs: number): number {
      const ctx = call('proxy_send_local_response', _code, dp, ds, bp, bs);
      if (typeof ctx === 'number') return ctx;
      if (!vm.inBounds(dp >>> 0, ds >>> 0) || !vm.inBounds(bp >>> 0, bs >>> 0) || !vm.inBounds(hp >>> 0, hs >>> 0)) {
        return WasmResult.InvalidMemoryAccess;
      }
      return WasmResult.Ok; // no HTTP stream to answer: Envoy does nothing and reports Ok
    },

    // The host has no clusters: Envoy answers an HTTP call to an unknown cluster with BadArgument.
    proxy_http_call(up: number, us: number, hp: number, hs: number, bp: number, bs: number, tp: number, ts: number, _timeout: number, tokenPtr: number): number {
      const ctx = call('proxy_http_call', up, us, hp, hs, bp);
      if (typeof ctx === 'number') return ctx;
      const ok = vm.inBounds(up >>> 0, us >>> 0) && vm.inBounds(hp >>> 0, hs >>> 0) && vm.inBounds(bp >>> 0, bs >>> 0) && vm.inBounds(tp >>> 0, ts >>> 0);
      if (!ok || !vm.setWord(tokenPtr >>> 0, 0)) return WasmResult.InvalidMemoryAccess;
      return WasmResult.BadArgument;
    },

    // Not implemented by this host (docs/host.md).
    proxy_get_status: () => unimplemented('proxy_get_status'),
    proxy_get_shared_data: () => unimplemented('proxy_get_shared_data'),
    proxy_set_shared_data: () => unimplemented('proxy_set_shared_data'),
    proxy_register_shared_queue: () => unimplemented('proxy_register_shared_queue'),
    proxy_resolve_shared_queue: () => unimplemented('proxy_resolve_shared_queue'),
    proxy_dequeue_shared_queue: () => unimplemented('proxy_dequeue_shared_queue'),
    proxy_enqueue_shared_queue: () => unimplemented('proxy_enqueue_shared_queue'),
    proxy_grpc_call: () => unimplemented('proxy_grpc_call'),
    proxy_grpc_stream: () => unimplemented('proxy_grpc_stream'),
    proxy_grpc_close: () => unimplemented('proxy_grpc_close'),
    proxy_grpc_cancel: () => unimplemented('proxy_grpc_cancel'),
    proxy_grpc_send: () => unimplemented('proxy_grpc_send'),
    proxy_call_foreign_function: () => unimplemented('proxy_call_foreign_function'),

    // Emscripten helpers Envoy registers for every module (cpp-host src/wasm.cc registerCallbacks).
    emscripten_notify_memory_growth(): void {
      call('emscripten_notify_memory_growth');
    },
    pthread_equal(a: number, b: number): number {
      const ctx = call('pthread_equal', a, b);
      if (typeof ctx === 'number') return ctx;
      return a === b ? 1 : 0;
    },
  };

  function mapWrite(name: string, type: number, kp: number, ks: number, vp: number, vs: number): number {
    const ctx = enter(name, type >>> 0 <= HEADER_MAP_TYPE_MAX, type, kp, ks, vp, vs);
    if (typeof ctx === 'number') return ctx;
    if (!vm.inBounds(kp >>> 0, ks >>> 0) || !vm.inBounds(vp >>> 0, vs >>> 0)) return WasmResult.InvalidMemoryAccess;
    return WasmResult.BadArgument;
  }

  function unimplemented(name: string): number {
    const ctx = call(name);
    if (typeof ctx === 'number') return ctx;
    return WasmResult.Unimplemented;
  }

  if (abi === '0.2.0') for (const name of ONLY_IN_0_2_1) delete fns[name];
  return fns;
}
