// A byte queue with the operations Envoy's Buffer::OwnedImpl offers the Wasm host: add, prepend,
// drain, copyOut. It keeps the caller's chunks instead of copying them, so passing data through
// unmodified costs no copy.

const EMPTY = new Uint8Array(0);

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
    const out = new Uint8Array(length);
    let off = 0;
    for (const c of chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  }
}

export const EMPTY_BYTES = EMPTY;
