// The two ends of a scripted connection: a client and a backend that record
// every byte they receive and how their socket ended (FIN, RST, still open),
// so that a run through Envoy and a run through `ppv2-wasm proxy` can be
// compared event for event. Both sides allow half-open sockets: a FIN is
// recorded and acted on only by the script.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { connect, createServer } from 'node:net';

/** One socket, as the script drives it and as it was seen to end. */
export class Peer {
  constructor(socket) {
    this.socket = socket;
    this.chunks = [];
    this.length = 0;
    /** The peer's FIN arrived ('end'). */
    this.fin = false;
    /** The error code that ended the socket (ECONNRESET for an RST), or null. */
    this.error = null;
    this.closed = false;
    this.waiters = new Set();
    socket.on('data', (chunk) => { this.chunks.push(chunk); this.length += chunk.length; this.wake(); });
    socket.on('end', () => { this.fin = true; this.wake(); });
    socket.on('error', (error) => { this.error ??= error.code ?? error.message; this.wake(); });
    socket.on('close', () => { this.closed = true; this.wake(); });
    socket.on('drain', () => this.wake());
  }

  get bytes() {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  wake() {
    for (const waiter of [...this.waiters]) waiter();
  }

  /** Resolves when `condition(this)` holds; rejects after `timeoutMs` naming `what`. */
  until(condition, what, timeoutMs = 10000) {
    if (condition(this)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${this.describe()})`));
      }, timeoutMs);
      const check = () => {
        if (!condition(this)) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
    });
  }

  waitBytes(n, timeoutMs) {
    return this.until((p) => p.length >= n || p.closed, `${n} bytes`, timeoutMs);
  }

  /** The peer's FIN, an RST or the close, whichever comes first. */
  waitEnd(timeoutMs) {
    return this.until((p) => p.fin || p.error !== null || p.closed, 'the end of the stream', timeoutMs);
  }

  waitClose(timeoutMs) {
    return this.until((p) => p.closed, 'the socket to close', timeoutMs);
  }

  /** Writes, waiting for the socket to drain when it is full. */
  async write(bytes) {
    if (this.socket.destroyed) return;
    if (!this.socket.write(bytes)) await this.until((p) => p.socket.writableLength === 0 || p.closed, 'drain');
  }

  /** Half-closes: sends FIN after what is queued. */
  end() {
    if (!this.socket.destroyed) this.socket.end();
  }

  /** Closes with an RST (SO_LINGER 0). */
  reset() {
    if (!this.socket.destroyed) this.socket.resetAndDestroy();
  }

  /** How the socket ended: 'fin', 'rst' (ECONNRESET), another error code, or 'open'. */
  get ending() {
    if (this.error === 'ECONNRESET') return 'rst';
    if (this.error !== null) return this.error;
    return this.fin ? 'fin' : 'open';
  }

  describe() {
    return `${this.length} bytes received, ${this.ending}${this.closed ? ', closed' : ''}`;
  }

  destroy() {
    this.socket.destroy();
  }
}

/** Opens a client connection (TCP, or a UNIX socket `path`); resolves once connected, or with the error that prevented it. */
export function dial({ host, port, path }) {
  return new Promise((resolve) => {
    const socket = connect({ ...(path ? { path } : { host, port }), allowHalfOpen: true });
    if (!path) socket.setNoDelay(true);
    const peer = new Peer(socket);
    socket.once('connect', () => resolve(peer));
    socket.once('error', () => { if (socket.connecting) resolve(peer); });
  });
}

/**
 * A backend on `host`, port 0, that records each accepted connection as a
 * Peer. `accept()` hands them out in order; `onAccept` (set per case) runs on
 * each as it arrives, before any byte is read, e.g. to greet first.
 */
export async function startRecorder(host = '127.0.0.1') {
  const waiting = [];
  const ready = [];
  const all = new Set();
  const recorder = { onAccept: null };
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    socket.setNoDelay(true);
    const peer = new Peer(socket);
    all.add(peer);
    recorder.onAccept?.(peer);
    const waiter = waiting.shift();
    if (waiter) waiter(peer);
    else ready.push(peer);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  return Object.assign(recorder, {
    host,
    port: server.address().port,
    /** The next connection the backend accepted, within `timeoutMs`. */
    accept(timeoutMs = 10000) {
      if (ready.length > 0) return Promise.resolve(ready.shift());
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.splice(waiting.indexOf(take), 1);
          reject(new Error(`the backend accepted no connection within ${timeoutMs} ms`));
        }, timeoutMs);
        const take = (peer) => { clearTimeout(timer); resolve(peer); };
        waiting.push(take);
      });
    },
    /** Connections accepted and not yet handed out (a case that expects none checks this). */
    get unclaimed() {
      return ready.length;
    },
    /**
     * Drops the connections accepted and not handed out, so that the next
     * accept() is the next case's. A case leaves none behind; a stray can
     * still come: tests run in parallel, and another test's "dead" port may
     * be one of ours by now.
     */
    forget() {
      for (const peer of ready.splice(0)) peer.destroy();
    },
    close() {
      for (const peer of all) peer.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  });
}

/**
 * A loopback port whose SYNs go unanswered, so that a connection to it hangs
 * until the connecting side's own timeout: a listening socket that never
 * accepts, with its accept queue already full (Linux drops SYNs then). Node
 * always accepts on a listening socket, so a few lines of Python hold it.
 */
export async function startUnansweredPort() {
  const script = [
    'import socket, sys',
    's = socket.socket()',
    "s.bind(('127.0.0.1', 0))",
    's.listen(0)',
    'port = s.getsockname()[1]',
    'held = []',
    'for _ in range(3):',
    '    c = socket.socket(); c.setblocking(False); c.connect_ex((\'127.0.0.1\', port)); held.append(c)',
    'print(port, flush=True)',
    'sys.stdin.read()',
  ].join('\n');
  const child = spawn('python3', ['-c', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise((resolve, reject) => {
    child.once('error', (error) => reject(new Error(`python3 (for an unanswered port): ${error.message}`)));
    child.once('exit', (code) => reject(new Error(`python3 (for an unanswered port) exited with ${code}`)));
    child.stdout.once('data', (d) => resolve(Number(String(d).trim())));
  });
  return {
    port,
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.stdin.end(); // EOF ends the script
    }),
  };
}

export function sha256(bytes) {
  return createHash('sha256').update(bytes).digest('hex');
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
