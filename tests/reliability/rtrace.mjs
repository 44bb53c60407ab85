// A test-only stand-in for AssemblyScript's rtrace, for the module built with
// `--use ASC_RTRACE=1` (npm run build:rtraced). The runtime then reports every
// allocator event to imports in the "rtrace" module (std/assembly/rt/rtrace.ts:
// oninit, onalloc, onresize, onmove, onfree, onvisit, oncollect), and the
// compiler's rtrace pass routes each store through rtrace.onstore.
//
// Envoy offers no "rtrace" imports and the host refuses them, as it should; so
// for this module only, the shim hides them from the host's import check and
// supplies them at instantiation. Nothing of this reaches the shipped module.
//
// What it catches: freeing a block that is not allocated (double or invalid
// free), allocating a block that is already live, a store into the heap that
// lands outside every live block (use after free, overflow), and, with
// `live`, any block left allocated.
import { readFileSync } from 'node:fs';

/** TLSF blocks: a 4-byte mmInfo, then the payload; the size is mmInfo without its 2 tag bits (std/assembly/rt/common.ts, tlsf.ts). */
const BLOCK_OVERHEAD = 4;
const TAGS_MASK = 3;

export class Tracer {
  constructor() {
    this.memory = null;
    this.heapBase = 0;
    /** block pointer -> payload size */
    this.live = new Map();
    this.errors = [];
    this.allocations = 0;
    this.frees = 0;
    this.stores = 0;
  }

  size(block) {
    const dv = new DataView(this.memory.buffer);
    return dv.getUint32(block, true) & ~TAGS_MASK;
  }

  error(message) {
    if (this.errors.length < 50) this.errors.push(message);
  }

  /** The imports of the "rtrace" module. */
  imports() {
    return {
      oninit: (heapBase) => {
        this.heapBase = heapBase >>> 0;
      },
      onalloc: (block) => {
        block >>>= 0;
        this.allocations++;
        if (this.live.has(block)) this.error(`onalloc: block ${block} is already allocated`);
        this.live.set(block, this.size(block));
      },
      onresize: (block) => {
        block >>>= 0;
        if (!this.live.has(block)) this.error(`onresize: block ${block} is not allocated`);
        this.live.set(block, this.size(block));
      },
      onmove: (oldBlock, newBlock) => {
        oldBlock >>>= 0;
        if (!this.live.has(oldBlock)) this.error(`onmove: block ${oldBlock} is not allocated`);
        // The runtime reports the new block with onalloc and the old one with onfree as well.
        void newBlock;
      },
      onfree: (block) => {
        block >>>= 0;
        this.frees++;
        if (!this.live.delete(block)) this.error(`onfree: block ${block} is not allocated (double or invalid free)`);
      },
      onvisit: () => 1,
      oncollect: () => {},
      oninterrupt: () => {},
      onyield: () => {},
      onstore: (ptr, offset, bytes, isRT) => {
        this.stores++;
        const at = (ptr >>> 0) + (offset >>> 0);
        if (isRT || this.heapBase === 0 || at < this.heapBase) return ptr; // static data, or the allocator's own bookkeeping
        for (const [block, size] of this.live) {
          if (at >= block + BLOCK_OVERHEAD && at + bytes <= block + BLOCK_OVERHEAD + size) return ptr;
        }
        this.error(`store of ${bytes} bytes at ${at} is outside every allocated block`);
        return ptr;
      },
      onload: (ptr) => ptr,
    };
  }

  /** Live blocks and bytes. */
  get liveBytes() {
    let n = 0;
    for (const size of this.live.values()) n += size;
    return n;
  }
}

/**
 * Compiles the rtraced module and installs the shim for it. Returns
 * { module, tracers, restore }: `tracers` gets one Tracer per instance.
 */
export function installRtraceShim(path) {
  const module = new WebAssembly.Module(readFileSync(path));
  if (!WebAssembly.Module.imports(module).some((i) => i.module === 'rtrace')) {
    throw new Error(`${path} has no rtrace imports: build it with npm run build:rtraced`);
  }
  const tracers = [];
  const realImports = WebAssembly.Module.imports;
  const realInstantiate = WebAssembly.instantiate;
  WebAssembly.Module.imports = (m) => (m === module ? realImports(m).filter((i) => i.module !== 'rtrace') : realImports(m));
  WebAssembly.instantiate = async (m, imports) => {
    if (m !== module) return realInstantiate(m, imports);
    const tracer = new Tracer();
    tracers.push(tracer);
    const instance = await realInstantiate(m, { ...imports, rtrace: tracer.imports() });
    tracer.memory = instance.exports.memory;
    return instance;
  };
  return {
    module,
    tracers,
    restore() {
      WebAssembly.Module.imports = realImports;
      WebAssembly.instantiate = realInstantiate;
    },
  };
}
