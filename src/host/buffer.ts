// A byte queue with the operations Envoy's Buffer::OwnedImpl offers the Wasm host: add, prepend,
// drain, copyOut. It keeps the caller's chunks instead of copying them, so passing data through
// unmodified costs no copy.

const EMPTY = new Uint8Array(0);

// Small arrays are carved out of a shared slab, as Node's Buffer.allocUnsafe does from its pool:
// a new ArrayBuffer per header or joined payload was a tenth of a connection's cost in the host.
// The views are plain Uint8Arrays (callers compare them with deepEqual), each one keeps its
// 8 KiB slab alive as a pooled Buffer does.
const SLAB_SIZE = 8 * 1024;
const SLAB_MAX = SLAB_SIZE >>> 1;
let slab = new ArrayBuffer(SLAB_SIZE);
let slabOffset = 0;

/** A new array of `n` zero bytes (small ones share a slab; no region is handed out twice). */
export function allocBytes(n: number): Uint8Array {
  if (n > SLAB_MAX) return new Uint8Array(n);
  if (slabOffset + n > SLAB_SIZE) {
    slab = new ArrayBuffer(SLAB_SIZE);
    slabOffset = 0;
  }
  const out = new Uint8Array(slab, slabOffset, n);
  slabOffset = (slabOffset + n + 7) & ~7; // keep 8-byte alignment, as Node's pool does
  return out;
}

/** A copy of `src[start, end)` in a fresh (pooled when small) array. */
export function copyBytes(src: Uint8Array, start: number, end: number): Uint8Array {
  const out = allocBytes(end - start);
  out.set(src.subarray(start, end));
  return out;
}

export class ByteQueue {
  private chunks: Uint8Array[] = [];
  length = 0;

  add(data: Uint8Array): void {
    if (data.length === 0) return;
    this.chunks.push(data);
    this.length += data.length;
  }

  prepend(data: Uint8Array): void {
    if (data.length === 0) return;
    this.chunks.unshift(data);
    this.length += data.length;
  }

  /** Removes up to `n` bytes from the front; draining more than the length empties the queue. */
  drain(n: number): void {
    if (n >= this.length) {
      this.chunks.length = 0;
      this.length = 0;
      return;
    }
    this.length -= n;
    while (n > 0) {
      const first = this.chunks[0]!;
      if (first.length <= n) {
        this.chunks.shift();
        n -= first.length;
      } else {
        this.chunks[0] = first.subarray(n);
        n = 0;
      }
    }
  }

  /** Copies `len` bytes starting at `start` into `dst` at `dstOffset`. The caller checks bounds. */
  copyOut(start: number, len: number, dst: Uint8Array, dstOffset: number): void {
    for (const chunk of this.chunks) {
      if (len === 0) return;
      if (start >= chunk.length) {
        start -= chunk.length;
        continue;
      }
      const n = Math.min(chunk.length - start, len);
      dst.set(start === 0 && n === chunk.length ? chunk : chunk.subarray(start, start + n), dstOffset);
      dstOffset += n;
      len -= n;
      start = 0;
    }
  }

  /** Removes and returns everything, as one array (the original chunk when there is only one). */
  take(): Uint8Array {
    const { chunks, length } = this;
    this.chunks = [];
    this.length = 0;
    if (chunks.length === 0) return EMPTY;
    if (chunks.length === 1) return chunks[0]!;
    const out = allocBytes(length);
    let off = 0;
    for (const c of chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  }
}

export const EMPTY_BYTES = EMPTY;
