// One Wasm instance and what Envoy's proxy-wasm-cpp-host keeps beside it: the current and the
// effective context, the "failed" state, the after-VM-call actions and the guest memory views.
import { WasmResult } from './abi.js';
import type { ByteQueue } from './buffer.js';
import type { HostFaults } from './faults.js';
import type { HostCallStats } from './stats.js';

/**
 * The plugin a context belongs to (Envoy's PluginBase): several can share one VM, each with its
 * root context, configuration, logs and tick period.
 */
export interface ContextOwner {
  readonly pluginConfiguration: Uint8Array;
  /** Envoy's `wasm` log level, as a Proxy-Wasm level number. */
  readonly logLevel: number;
  log(level: number, message: string, ctx: HostContext): void;
  setTickPeriod(ms: number): void;
  done(): WasmResult;
}

/** What a host call sees of a context (Envoy's Context, source/extensions/common/wasm/context.cc). */
export interface HostContext {
  readonly id: number;
  readonly owner: ContextOwner;
  readonly isRoot: boolean;
  /** Envoy's temp_plugin_: PluginConfiguration is readable only while it is set. */
  readonly pluginConfigVisible: boolean;
  /** network_downstream_data_buffer_ / network_upstream_data_buffer_: null when not set. */
  readonly downstreamBuffer: ByteQueue | null;
  readonly upstreamBuffer: ByteQueue | null;
  /** The context's shared `buffer_`, which BufferType CallData returns as it is. */
  lastBuffer: ByteQueue | Uint8Array;
  property(key: string): Uint8Array | null | WasmResult;
  setProperty(key: string, value: Uint8Array): WasmResult;
  closeStream(type: number): WasmResult;
  continueStream(type: number): WasmResult;
}

/** Signals the host must refuse the module (a host call with no context, during instantiation). */
export class RefusalSignal extends Error {}

type Fn = (...args: number[]) => number | undefined;

const KEY_CACHE_ENTRIES = 256;
const KEY_CACHE_MAX_BYTES = 256;

export class Vm {
  memory!: WebAssembly.Memory;
  private ab: ArrayBuffer | SharedArrayBuffer = new ArrayBuffer(0);
  u8 = new Uint8Array(0);
  dv = new DataView(new ArrayBuffer(0));
  buf = Buffer.alloc(0);

  failed = false;
  failMessage = '';
  /** 0: any call allowed; 1: only proxy_log (during _initialize/_start and inside the allocator). */
  restricted = 0;
  /** True while the module is being instantiated (its start section runs with no context). */
  instantiating = false;
  current: HostContext | null = null;
  vmContext: HostContext | null = null;
  effectiveId = 0;
  allocator: Fn | undefined;
  private readonly afterActions: (() => void)[] = [];
  private readonly keys = new Map<number, { bytes: Uint8Array; key: string }>();

  constructor(
    readonly contexts: Map<number, HostContext>,
    readonly stats: HostCallStats,
    private readonly onFail: (message: string) => void,
    private readonly faults: HostFaults,
  ) {}

  /** Re-creates the cached views when the memory has grown (growth detaches the old buffer). */
  refresh(): void {
    const ab = this.memory.buffer;
    if (ab !== this.ab) {
      this.ab = ab;
      this.u8 = new Uint8Array(ab);
      this.dv = new DataView(ab);
      this.buf = Buffer.from(ab);
    }
  }

  /** The context a host call acts on: the effective one if set and alive, else the current one. */
  context(): HostContext {
    if (this.current === null) throw new RefusalSignal('no context');
    if (this.effectiveId !== 0) {
      const c = this.contexts.get(this.effectiveId);
      if (c !== undefined) return c;
    }
    return this.current;
  }

  /**
   * Whether [ptr, ptr + size) lies in the memory, with the views made current. Reading
   * memory.buffer costs a call into V8, so it is read again only when the views may be stale:
   * growth detaches the old buffer, whose views then have length 0, and an access past the end
   * of a view may be one the memory has since grown to cover (a shared memory is not detached).
   */
  inBounds(ptr: number, size: number): boolean {
    const n = this.u8.length;
    if (n !== 0 && ptr + size <= n) return true;
    this.refresh();
    return ptr + size <= this.u8.length;
  }

  /**
   * The property path at [ptr, ptr + size) as a latin1 string (the caller checked bounds). A
   * module asks for its paths from the same static addresses again and again, so the string
   * made for an address is kept and reused while the bytes there stay the same.
   */
  key(ptr: number, size: number): string {
    const u8 = this.u8;
    const hit = this.keys.get(ptr);
    if (hit !== undefined && hit.bytes.length === size) {
      const bytes = hit.bytes;
      let i = 0;
      while (i < size && bytes[i] === u8[ptr + i]) i++;
      if (i === size) return hit.key;
    }
    const key = this.buf.toString('latin1', ptr, ptr + size);
    if (size <= KEY_CACHE_MAX_BYTES) {
      if (this.keys.size >= KEY_CACHE_ENTRIES) this.keys.clear();
      this.keys.set(ptr, { bytes: u8.slice(ptr, ptr + size), key });
    }
    return key;
  }

  setWord(ptr: number, value: number): boolean {
    if (!this.inBounds(ptr, 4)) return false;
    this.dv.setUint32(ptr, value, true);
    return true;
  }

  /**
   * Allocates guest memory with the module's allocator, as WasmBase::allocMemory does: only
   * proxy_log may be called meanwhile, and a trap in the allocator fails the VM and the
   * allocation (include/proxy-wasm/wasm.h).
   */
  allocate(size: number): number {
    const fn = this.allocator;
    if (fn === undefined) return 0;
    this.stats.allocations++;
    const saved = this.restricted;
    this.restricted = 1;
    let ptr: number;
    try {
      ptr = this.call('malloc', fn, this.vmContext, size) >>> 0;
    } finally {
      this.restricted = saved;
    }
    if (ptr === 0 || !this.inBounds(ptr, size)) return 0;
    return ptr;
  }

  /** WasmBase::copyToPointerSize: allocate, copy, then write pointer and size. */
  copyOut(bytes: Uint8Array, ptrPtr: number, sizePtr: number): number {
    let ptr = 0;
    if (bytes.length > 0) {
      ptr = this.allocate(bytes.length);
      if (ptr === 0) return WasmResult.InvalidMemoryAccess;
      this.u8.set(bytes, ptr);
    }
    if (!this.setWord(ptrPtr, ptr) || !this.setWord(sizePtr, bytes.length)) return WasmResult.InvalidMemoryAccess;
    return WasmResult.Ok;
  }

  /**
   * Calls into the module for `ctx`, as cpp-host's V8 wrapper does: the current context is set
   * and the effective one cleared for the call, and a trap marks the VM failed and yields 0.
   */
  call(name: string, fn: Fn, ctx: HostContext | null, a?: number, b?: number, c?: number): number {
    const savedCurrent = this.current;
    const savedEffective = this.effectiveId;
    this.current = ctx;
    this.effectiveId = 0;
    try {
      const fault = this.faults.callbackFault(name);
      if (fault !== undefined) {
        const args = [a, b, c].filter((v) => v !== undefined);
        return fault(args, (...passed: number[]) => (fn(...passed) ?? 0) as number);
      }
      return (fn(a as number, b as number, c as number) ?? 0) as number;
    } catch (err) {
      if (err instanceof RefusalSignal) throw err;
      this.fail(name, err);
      return 0;
    } finally {
      this.current = savedCurrent;
      this.effectiveId = savedEffective;
    }
  }

  /** Marks the VM failed (FailState::RuntimeError); every later call into it is skipped. */
  fail(name: string, err: unknown): void {
    const e = err as { name?: string; message?: string };
    const detail = e instanceof Error ? `Uncaught ${e.name}: ${e.message}` : String(err);
    const message = `Function: ${name} failed: ${detail}`;
    if (!this.failed) {
      this.failed = true;
      this.failMessage = message;
    }
    this.onFail(message);
  }

  /** Queues work to run when the current callback returns (WasmBase::addAfterVmCallAction). */
  after(action: () => void): void {
    this.afterActions.push(action);
  }

  /** DeferAfterCallActions: runs the queued actions, including any they queue in turn. */
  runAfterActions(): void {
    while (this.afterActions.length > 0) this.afterActions.shift()!();
  }
}
