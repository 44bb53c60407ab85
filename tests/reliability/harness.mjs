// In-process pieces for the hostile-client and failure-mode tests: the same
// proxy server `ppv2-wasm proxy` runs (dist/cli/proxy.js) around a plugin the
// test holds, so that it can look at the filter's contexts, counters and
// memory; a strict `inspect` backend (dist/cli/inspect.js); and raw clients.
import { connect, createServer } from 'node:net';
import { once } from 'node:events';
import { startPlugin } from '../../dist/host/index.js';
import { createProxyServer } from '../../dist/cli/proxy.js';
import { createInspectServer } from '../../dist/cli/inspect.js';
import { closeServer } from '../../dist/cli/lifecycle.js';

export const RELEASE_WASM = new URL('../../build/ppv2.wasm', import.meta.url).pathname;

async function listen(server) {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server.address().port;
}

/**
 * Counts the filter's context creations and deletions by wrapping the module's
 * exported callbacks (the host calls them through plugin.exportsFns).
 */
function spyContexts(plugin) {
  const fns = plugin.exportsFns;
  const spy = { created: 0, deleted: 0, get open() { return this.created - this.deleted; } };
  const create = fns.proxy_on_context_create;
  const del = fns.proxy_on_delete;
  fns.proxy_on_context_create = (id, root) => {
    if (root !== 0) spy.created++;
    return create(id, root);
  };
  fns.proxy_on_delete = (id) => {
    if (id !== plugin.rootContextId) spy.deleted++;
    return del(id);
  };
  return spy;
}

/** The proxy in front of `upstreamPort`, running `wasm` with `configuration`. */
export async function startProxy({ upstreamPort, configuration = '', wasm = RELEASE_WASM, failurePolicy = 'FAIL_CLOSED' }) {
  const plugin = await startPlugin({ wasm, configuration, failurePolicy });
  const contexts = spyContexts(plugin);
  const lines = [];
  const { server, sockets, stats } = createProxyServer({ upstream: { host: '127.0.0.1', port: upstreamPort }, plugin, onConnectionLog: (l) => lines.push(l) });
  const port = await listen(server);
  return {
    port, plugin, contexts, lines, stats,
    async close() {
      await closeServer(server, sockets);
      plugin.shutdown();
    },
  };
}

/** `ppv2-wasm inspect` in-process: one record per connection, `--echo` on by default. */
export async function startInspect({ echo = true, headerTimeoutMs = 5000 } = {}) {
  const records = [];
  const waiters = [];
  const { server, sockets } = createInspectServer({
    echo,
    headerTimeoutMs,
    onRecord: (r) => {
      records.push(r);
      for (const w of waiters.splice(0)) w();
    },
  });
  const port = await listen(server);
  return {
    port, records,
    /** Waits (bounded) until `n` records have arrived. */
    async waitFor(n, timeoutMs = 15000) {
      const deadline = Date.now() + timeoutMs;
      while (records.length < n) {
        if (Date.now() > deadline) throw new Error(`only ${records.length} of ${n} inspect records within ${timeoutMs} ms`);
        await new Promise((r) => { waiters.push(r); setTimeout(r, 100); });
      }
    },
    close: () => closeServer(server, sockets),
  };
}

/** A backend whose behaviour per connection the test chooses. */
export async function startBackend(onConnection) {
  const sockets = new Set();
  const server = createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.once('close', () => sockets.delete(s));
    onConnection(s);
  });
  const port = await listen(server);
  return {
    port, sockets,
    close: () => new Promise((r) => {
      server.close(() => r());
      for (const s of sockets) s.destroy();
    }),
  };
}

/** Waits until `predicate()` holds, polling; fails after `timeoutMs` with `what`. */
export async function until(predicate, what, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * A client: connects, sends `parts` (awaiting each `gap` hook between them),
 * half-closes unless `end` is false, and resolves with everything received once
 * the connection closes (bounded).
 */
export function client(port, { parts = [], end = true, gap, timeoutMs = 20000 } = {}) {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const chunks = [];
    let error = null;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`client: no close within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', (e) => { error = e; });
    socket.on('end', () => socket.end());
    socket.on('connect', async () => {
      const local = { address: socket.localAddress, port: socket.localPort };
      socket.local = local;
      for (const part of parts) {
        if (socket.destroyed) break;
        if (!socket.write(part)) await once(socket, 'drain').catch(() => {});
        if (gap) await gap();
      }
      if (end && !socket.destroyed) socket.end();
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks), error, local: socket.local });
    });
  });
}
