// The filter's policies in a real Envoy, where the host tests cannot stand in for it:
//   - reject_client_proxy_header lets a bare CRLF (a SIP keep-alive) through at once, and closes
//     a client that stops after a signature prefix from the root's tick, through
//     proxy_set_effective_context and proxy_close_stream (Envoy runs that close once the tick
//     returns);
//   - on_unknown_address "close" closes a version 1 connection between UNIX sockets, which v1
//     cannot express, and "local" sends PROXY UNKNOWN; both count as fallbacks.
// A stock Envoy never refuses the filter's prepend or close (source/extensions/common/wasm/
// context.cc Buffer::copyFrom returns Ok for an offset-0 write, Context::closeStream returns Ok),
// so the fail-closed paths for a refusing host are shown with the host's fault injection
// (tests/host/fail-closed.test.mjs), not here.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeProxyHeader } from '../../dist/proxy-protocol/index.js';
import { startModuleEnvoy } from './module-envoy.mjs';
const dir = mkdtempSync(join(tmpdir(), 'ppv2-module-policy-'));
const cleanups = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * A backend that, once it has a whole PROXY header, answers with "header <family> <payload so
 * far>" and echoes what follows; `connections` records each connection's bytes when it ends.
 */
async function startBackend() {
  const connections = [];
  const server = createServer((socket) => {
    const record = { bytes: Buffer.alloc(0), ended: false };
    connections.push(record);
    let answered = false;
    socket.on('data', (d) => {
      record.bytes = Buffer.concat([record.bytes, d]);
      const decoded = decodeProxyHeader(record.bytes);
      if (decoded.state !== 'complete') return;
      const payload = record.bytes.subarray(decoded.header.length);
      if (!answered) socket.write(`header ${decoded.header.family} `);
      socket.write(answered ? d : payload);
      answered = true;
    });
    socket.on('end', () => {
      record.ended = true;
      socket.end();
    });
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return { port: server.address().port, connections };
}

/** envoy/envoy.yaml reduced to one listener (a TCP port, or a pipe at `pipe`), the release module with `configuration`. */
function startFilterEnvoy(t, { backendPort, configuration, pipe }) {
  return startModuleEnvoy(t, {
    template: 'envoy/envoy.yaml',
    backendPort,
    configuration,
    cleanup: (stop) => cleanups.push(stop),
    edit: (doc) => {
      if (pipe !== undefined) doc.setIn(['static_resources', 'listeners', 0, 'address'], doc.createNode({ pipe: { path: pipe } }));
    },
  });
}

/** A client: writes `data`, then collects what comes back until the proxy closes or `waitMs` passes. */
async function exchange(where, data, { waitMs = 5000, until } = {}) {
  const socket = connect(where);
  await once(socket, 'connect');
  const chunks = [];
  let closed = false;
  socket.on('data', (d) => chunks.push(d));
  const done = new Promise((resolve) => socket.on('close', () => resolve((closed = true))));
  socket.on('error', () => {});
  socket.write(data);
  const started = Date.now();
  while (!closed && Date.now() - started < waitMs && !(until?.(Buffer.concat(chunks)) ?? false)) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const elapsed = Date.now() - started;
  socket.destroy();
  await done;
  return { received: Buffer.concat(chunks), closedByProxy: closed && elapsed < waitMs, elapsed };
}

const counters = async (envoy) => {
  const stats = await envoy.stats('wasmcustom.ppv2');
  return (name) => stats[`wasmcustom.ppv2.${name}`] ?? 0;
};

test('reject_client_proxy_header in Envoy: a bare CRLF passes at once; a client stuck on a signature prefix is closed by the tick', async (t) => {
  const backend = await startBackend();
  const started = await startFilterEnvoy(t, { backendPort: backend.port, configuration: '{"reject_client_proxy_header": true}' });
  if (started === null) return;
  const { envoy, port } = started;

  // A SIP keep-alive waits for its answer: it must reach the backend, behind our header, without more bytes.
  const keepAlive = await exchange({ host: '127.0.0.1', port }, '\r\n\r\n', { until: (b) => b.toString().endsWith('\r\n\r\n') });
  assert.equal(keepAlive.received.toString(), 'header TCP4 \r\n\r\n');

  // Five bytes of the v2 signature, then nothing: Envoy closes the connection within a few ticks, and the backend hears nothing.
  const stuck = await exchange({ host: '127.0.0.1', port }, Buffer.from('0d0a0d0a00', 'hex'), { waitMs: 8000 });
  assert.equal(stuck.closedByProxy, true, `still open after ${stuck.elapsed} ms`);
  assert.equal(stuck.received.length, 0);
  assert.deepEqual(backend.connections.slice(1).map((c) => c.bytes.length).filter((n) => n > 0), []);

  // Wait for the flush (one tick period) before reading the counters.
  let count;
  for (let i = 0; i < 30; i++) {
    count = await counters(envoy);
    if (count('closed_by_policy') === 1) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  assert.deepEqual([count('closed_by_policy'), count('headers_written'), count('closed_on_error')], [1, 1, 0]);
});

test('version 1 on a UNIX socket listener: "local" sends PROXY UNKNOWN, "close" closes; both count as fallbacks', async (t) => {
  for (const [policy, expectClose] of [['local', false], ['close', true]]) {
    const backend = await startBackend();
    const pipe = join(dir, `ppv2-${policy}.sock`);
    const started = await startFilterEnvoy(t, { backendPort: backend.port, configuration: JSON.stringify({ version: 1, on_unknown_address: policy }), pipe });
    if (started === null) return;
    const { envoy } = started;
    const r = await exchange(pipe, 'PING\r\n', { waitMs: 5000, until: (b) => b.toString().endsWith('PING\r\n') });
    if (expectClose) {
      assert.equal(r.closedByProxy, true, 'closed by policy');
      assert.equal(r.received.length, 0);
      assert.deepEqual(backend.connections.map((c) => c.bytes.length).filter((n) => n > 0), [], 'no byte reached the backend');
    } else {
      assert.equal(r.received.toString(), 'header UNKNOWN PING\r\n');
      assert.ok(backend.connections[0].bytes.toString().startsWith('PROXY UNKNOWN\r\nPING'), backend.connections[0].bytes.toString());
    }
    let count;
    for (let i = 0; i < 30; i++) {
      count = await counters(envoy);
      if (count('local_fallbacks') === 1) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.deepEqual(
      { fallbacks: count('local_fallbacks'), closed: count('closed_by_policy'), written: count('headers_written') },
      { fallbacks: 1, closed: expectClose ? 1 : 0, written: expectClose ? 0 : 1 },
    );
    await envoy.stop();
  }
});
