// Figure 6: `ppv2-wasm proxy` on loopback, with the release module against the same proxy
// running the no-op module (tests/fixtures/noop.wat): the CLI has no "no filter" mode, and the
// no-op module is the honest baseline, since it pays the same host and proxy plumbing and adds
// no work of its own. A fourth proxy runs the floor module (bench/fixtures/floor-proxy.wat: the
// two property reads and the prepend every PPv2 filter must make, on a connection's first data
// only, and nothing else), so that the gap to
// the no-op module splits into what the host charges for those calls (floor / no-op) and what
// the module adds of its own (release / floor), as figure 1 does in V8. Two no-op proxies make the baseline: identical proxies do not measure
// alike on a shared machine, and their ratio to each other shows by how much. Each ratio is
// taken within a round and the median of the rounds reported. The proxies are child processes
// (one core for the proxy under test, one for this process's client and backend).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expectHeader, expectUntouched } from './guard.mjs';
import { median, spread, target } from './report.mjs';
import { CONNECTION } from './subjects.mjs';

const SECTION = '6. Through `ppv2-wasm proxy` on loopback (release module vs the no-op module)';
const BIN = fileURLToPath(new URL('../bin/ppv2-wasm.js', import.meta.url));
const HOST = '127.0.0.1';
const DEADLINE_MS = 60_000;
// Eight orders of the four proxies: each one runs in each position twice, after each other one.
const ORDERS = [[0, 1, 2, 3], [1, 2, 3, 0], [2, 3, 0, 1], [3, 0, 1, 2], [3, 2, 1, 0], [0, 3, 2, 1], [1, 0, 3, 2], [2, 1, 0, 3]];

/** Rejects with `what` when `promise` takes longer than the deadline. */
function within(promise, what, ms = DEADLINE_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`proxy bench: ${what} took more than ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A backend that counts what it receives (and keeps it, when capturing), then ends its side. */
async function startBackend() {
  const backend = { capture: false, received: [], server: null, port: 0 };
  backend.server = createServer({ allowHalfOpen: true }, (socket) => {
    const chunks = [];
    let bytes = 0;
    socket.on('data', (chunk) => {
      bytes += chunk.length;
      if (backend.capture) chunks.push(chunk);
    });
    socket.on('end', () => {
      backend.received.push(backend.capture ? Buffer.concat(chunks) : bytes);
      socket.end();
    });
    socket.on('error', () => {});
  });
  backend.server.listen(0, HOST);
  await within(once(backend.server, 'listening'), 'starting the backend');
  backend.port = backend.server.address().port;
  return backend;
}

/** Starts `ppv2-wasm proxy` in front of the backend; resolves with its port once it listens. */
async function startProxy(label, upstreamPort, wasm) {
  const args = [BIN, 'proxy', '--listen', `${HOST}:0`, '--upstream', `${HOST}:${upstreamPort}`, '--quiet'];
  if (wasm !== undefined) args.push('--wasm', wasm);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const port = await within(new Promise((resolve, reject) => {
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text) => {
      stderr += text;
      const m = /listening on \S+:(\d+)/.exec(stderr);
      if (m !== null) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`proxy bench: the ${label} proxy exited (${code}): ${stderr.trim().split('\n')[0] ?? ''}`)));
    child.once('error', reject);
  }), `starting the ${label} proxy`);
  return { label, child, port };
}

async function stopProxy(proxy) {
  if (proxy === undefined || proxy.child.exitCode !== null) return;
  const exited = once(proxy.child, 'exit');
  proxy.child.kill('SIGTERM');
  try {
    await within(exited, `stopping the ${proxy.label} proxy`, 5000);
  } catch {
    proxy.child.kill('SIGKILL');
  }
}

/** One connection sending `payload` and ending; resolves with the client's local port when closed. */
function exchange(port, payload) {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: HOST, port });
    let localPort;
    socket.on('connect', () => {
      localPort = socket.localPort;
      socket.end(payload);
    });
    socket.on('data', () => {});
    socket.on('error', reject);
    socket.on('close', () => resolve(localPort));
  });
}

/** Streams `total` bytes through the proxy; resolves with the nanoseconds until the connection closed. */
function stream(port, total, chunk) {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const socket = connect({ host: HOST, port });
    let sent = 0;
    const pump = () => {
      while (sent < total) {
        sent += chunk.length;
        if (!socket.write(chunk)) {
          socket.once('drain', pump);
          return;
        }
      }
      socket.end();
    };
    socket.on('connect', pump);
    socket.on('data', () => {});
    socket.on('error', reject);
    socket.on('close', () => resolve(Number(process.hrtime.bigint() - start)));
  });
}

/** `count` short connections, `concurrency` at a time; resolves with the elapsed nanoseconds. */
function burst(port, count, concurrency, payload) {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    let started = 0;
    let closed = 0;
    const one = () => {
      started++;
      const socket = connect({ host: HOST, port });
      socket.on('connect', () => socket.end(payload));
      socket.on('data', () => {});
      socket.on('error', reject);
      socket.on('close', () => {
        closed++;
        if (started < count) one();
        else if (closed === count) resolve(Number(process.hrtime.bigint() - start));
      });
    };
    for (let i = 0; i < Math.min(concurrency, count); i++) one();
  });
}

export async function proxyBench(report, modules, {
  blocks = 4,
  streamRounds = 8,
  streamBytes = 32 * 1024 * 1024,
  chunkBytes = 64 * 1024,
  connectionRounds = 8,
  connections = 400,
  concurrency = 16,
} = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'ppv2-bench-'));
  const noopPath = join(dir, 'noop.wasm');
  writeFileSync(noopPath, modules.noop);
  const floorPath = join(dir, 'floor.wasm');
  writeFileSync(floorPath, modules.floorProxy);
  const releasePath = join(dir, 'ppv2.wasm');
  writeFileSync(releasePath, modules.release); // the bytes every other figure measured
  const chunk = Buffer.alloc(chunkBytes, 0x61);
  const total = Math.ceil(streamBytes / chunkBytes) * chunkBytes;
  const payload = Buffer.from('ping');
  const mbps = { release: [], floor: [], noopA: [], noopB: [] };
  const rate = { release: [], floor: [], noopA: [], noopB: [] };
  let backend;
  let proxies = [];
  try {
    backend = await startBackend();
    for (let block = 0; block < blocks; block++) {
      // Fresh processes for every block: two identical proxies can measure 10-25% apart for the
      // whole life of the processes on a shared machine (where the scheduler keeps each one,
      // how its heap grew), so a block's bias is averaged out over several blocks. Two no-op
      // proxies are the baseline; their ratio to each other is the noise floor.
      // Started one after another, in an order that rotates from block to block.
      const plan = [['release', releasePath], ['noopA', noopPath], ['floor', floorPath], ['noopB', noopPath]];
      for (let k = 0; k < plan.length; k++) {
        const [label, wasm] = plan[(block + k) % plan.length];
        proxies.push(await startProxy(label, backend.port, wasm));
      }
      const byLabel = (label) => proxies.find((p) => p.label === label);
      const [release, floor, noopA, noopB] = ['release', 'floor', 'noopA', 'noopB'].map(byLabel);

      // Guards: through the filter the backend sees a header naming this client and the
      // proxy's listener, then the bytes sent; through the no-op module, the bytes alone.
      const hello = Buffer.from('hello through the proxy');
      backend.capture = true;
      backend.received = [];
      const clientPort = await within(exchange(release.port, hello), 'the guard connection');
      expectHeader('proxy with the release module', backend.received[0], {
        source: `${HOST}:${clientPort}`,
        destination: `${HOST}:${release.port}`,
        payload: hello,
      });
      const headerBytes = backend.received[0].length - hello.length;
      // The floor prepends its constant header (the addresses of bench/subjects.mjs CONNECTION).
      backend.received = [];
      await within(exchange(floor.port, hello), 'the guard connection');
      expectHeader('proxy with the floor module', backend.received[0], { ...CONNECTION, payload: hello });
      for (const p of [noopA, noopB]) {
        backend.received = [];
        await within(exchange(p.port, hello), 'the guard connection');
        expectUntouched(`proxy with the no-op module (${p.label})`, backend.received[0], hello);
      }
      backend.capture = false;

      // Warm-up: the proxies' JavaScript and Wasm reach their optimised tiers before any round.
      for (const p of proxies) {
        for (let i = 0; i < 3; i++) await within(stream(p.port, total, chunk), 'the warm-up stream');
        await within(burst(p.port, 1000, concurrency, payload), 'the warm-up connections');
      }
      // Short rounds, one run per proxy back to back: a round shares the machine's momentary
      // load. The rounds go through all six orders, so that each proxy runs first, last, and
      // after each other one equally.
      const rounds = async (count, into, run, label) => {
        for (let r = 0; r < count; r++) {
          for (const p of ORDERS[r % ORDERS.length].map((i) => proxies[i])) {
            backend.received = [];
            into[p.label].push(await within(run(p), `${label} through the ${p.label} proxy`));
          }
        }
      };
      await rounds(streamRounds, mbps, async (p) => {
        const ns = await stream(p.port, total, chunk);
        const expected = total + (p === release || p === floor ? headerBytes : 0);
        if (backend.received[0] !== expected) {
          throw new Error(`guard: the backend received ${backend.received[0]} bytes through the ${p.label} proxy, expected ${expected}`);
        }
        return total / 1e6 / (ns / 1e9);
      }, `streaming ${total} bytes`);
      await rounds(connectionRounds, rate, async (p) => {
        const ns = await burst(p.port, connections, concurrency, payload);
        if (backend.received.length !== connections) {
          throw new Error(`guard: the backend saw ${backend.received.length} of ${connections} connections through the ${p.label} proxy`);
        }
        return connections / (ns / 1e9);
      }, `${connections} connections`);
      await Promise.all(proxies.map(stopProxy));
      proxies = [];
    }

    // Per round: release against the geometric mean of the two no-op proxies, and the two no-op
    // proxies against each other.
    const baseline = (m) => m.noopA.map((a, i) => Math.sqrt(a * m.noopB[i]));
    const ratio = (name, subject, base, t) => {
      const r = subject.map((v, i) => v / base[i]);
      report.add(SECTION, name, median(r), '×', t, spread(r));
    };
    const mib = (total / 1024 / 1024).toLocaleString('en-US');
    const n = blocks * streamRounds;
    report.add(SECTION, 'large stream, no-op module', median(baseline(mbps)), 'MB/s', null, `${mib} MiB per stream; ${n} rounds in ${blocks} sets of fresh processes`);
    report.add(SECTION, 'large stream, release module', median(mbps.release), 'MB/s');
    ratio('throughput, release / no-op', mbps.release, baseline(mbps), target('>=', 0.97));
    ratio('throughput, no-op / no-op (two identical proxies: the noise floor)', mbps.noopB, mbps.noopA, null);
    ratio('throughput, floor / no-op (the host calls every PPv2 filter makes)', mbps.floor, baseline(mbps), null);
    ratio('throughput, release / floor (the module\'s own share)', mbps.release, mbps.floor, null);
    report.add(SECTION, 'connections, no-op module', median(baseline(rate)), 'conn/s', null, `${connections.toLocaleString('en-US')} per round, ${concurrency} at a time; ${blocks * connectionRounds} rounds`);
    report.add(SECTION, 'connections, release module', median(rate.release), 'conn/s');
    ratio('connection rate, release / no-op', rate.release, baseline(rate), target('>=', 0.90));
    ratio('connection rate, no-op / no-op (the noise floor)', rate.noopB, rate.noopA, null);
    report.add(SECTION, 'connections, floor module', median(rate.floor), 'conn/s');
    ratio('connection rate, floor / no-op (the host calls every PPv2 filter makes)', rate.floor, baseline(rate), null);
    ratio('connection rate, release / floor (the module\'s own share)', rate.release, rate.floor, null);
    report.details.proxy = { blocks, streamRounds, connectionRounds, streamBytes: total, chunkBytes, connections, concurrency, mbps, connectionsPerSecond: rate };
  } finally {
    await Promise.all(proxies.map(stopProxy));
    if (backend?.server) backend.server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
