// `npm run soak`: many connections, many at once, through `ppv2-wasm proxy`
// (the release filter) to the strict `inspect --echo` backend and to HAProxy
// (`accept-proxy`, Debian's haproxy; the e2e harness starts it), and through
// a real Envoy (the one tests/e2e/tools.mjs finds: PPV2_ENVOY, else the pinned
// .tools/bin/envoy) on envoy/envoy.yaml to `inspect --echo`. Loopback only.
//
// Checked on every connection: the bytes echoed back hash the same as the
// bytes sent (nothing lost or reordered, either way), the backend saw exactly
// one header, for this client's address and port; HAProxy answered with this
// client's address and port. Checked at the end: the proxy's wasm linear
// memory and open file descriptors are back at their starting level, and its
// RSS is back near it; for Envoy, every connection was counted by the filter
// and by tcp_proxy, its open descriptors are back, and the memory its
// allocator holds (admin /memory) is back near where it started. Prints the
// figures; exits 1 on any failure.
//
//   npm run soak                                      100,000 per target, 1,000 at once
//   SOAK_CONNECTIONS=20000 SOAK_CONCURRENCY=500 npm run soak
//   SOAK_BACKENDS=envoy npm run soak                  one target: inspect, haproxy or envoy
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { startCli } from '../tests/cli/cli-process.mjs';
import { startHaproxy, parseHttpJson } from '../tests/e2e/consumers.mjs';
import { findTool, envoyBinary } from '../tests/e2e/tools.mjs';
import { startEnvoyUnderTest } from '../tests/e2e/proxies.mjs';

const USAGE = `usage: npm run soak   (no options; set these in the environment)
  SOAK_CONNECTIONS   connections per backend (default 100000)
  SOAK_CONCURRENCY   connections open at once (default 1000)
  SOAK_MAX_PAYLOAD   largest payload per connection, bytes (default 4096)
  SOAK_BACKENDS      comma-separated targets: inspect and haproxy (through ppv2-wasm proxy),
                     envoy (through the real Envoy); default all three`;
const soakArgs = process.argv.slice(2);
if (soakArgs.length > 0) {
  const help = soakArgs.includes('--help') || soakArgs.includes('-h');
  if (!help) console.error(`soak: unexpected argument "${soakArgs[0]}"`);
  (help ? console.log : console.error)(USAGE);
  process.exit(help ? 0 : 2);
}

const TOTAL = Number(process.env.SOAK_CONNECTIONS ?? 100_000);
const CONCURRENCY = Number(process.env.SOAK_CONCURRENCY ?? 1000);
const MAX_PAYLOAD = Number(process.env.SOAK_MAX_PAYLOAD ?? 4096);
const WASM = fileURLToPath(new URL('../build/ppv2.wasm', import.meta.url));
const PROBE = fileURLToPath(new URL('./soak-probe.mjs', import.meta.url));
const MIB = 1024 * 1024;

// Each connection holds a socket here, two in the proxy (or Envoy) and one in the backend.
const needFds = CONCURRENCY * 3 + 512;
const softLimit = Number(execFileSync('sh', ['-c', 'ulimit -n']).toString().trim());
if (softLimit < needFds && process.env.SOAK_RAISED !== '1') {
  const raised = spawnSync('sh', ['-c', `ulimit -n ${needFds} && exec "$0" "$@"`, process.execPath, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...process.env, SOAK_RAISED: '1' } });
  if (raised.status !== 0 && raised.status !== 1) console.error(`soak: could not raise the open-file limit to ${needFds} (ulimit -n is ${softLimit})`);
  process.exit(raised.status ?? 1);
}

const failures = [];
const fail = (message) => {
  if (failures.length < 20) console.error(`FAILURE: ${message}`);
  failures.push(message);
};

async function startProxy(upstreamPort, configuration) {
  const proxy = await startCli(['proxy', '--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${upstreamPort}`, '--wasm', WASM, '--config-json', configuration], {
    env: { NODE_OPTIONS: `--expose-gc --import ${PROBE}` },
  });
  // One line per connection when it closes: count them and their outcomes.
  proxy.outcomes = {};
  proxy.closed = 0;
  proxy.drain = setInterval(() => {
    for (let line; (line = proxy.lines.ready.shift()) !== undefined;) {
      proxy.closed++;
      const outcome = line.slice(line.lastIndexOf('; ') + 2);
      proxy.outcomes[outcome] = (proxy.outcomes[outcome] ?? 0) + 1;
      if (outcome !== 'closed' && proxy.outcomes[outcome] <= 3) console.error(`proxy: ${line}`);
    }
  }, 50);
  const stop = proxy.stop;
  proxy.stop = async () => {
    clearInterval(proxy.drain);
    return stop();
  };
  return proxy;
}

/** Asks the proxy child for its figures (soak-probe.mjs). */
async function probe(proxy) {
  const seen = proxy.stderr().length;
  proxy.child.kill('SIGUSR2');
  const deadline = Date.now() + 10_000;
  for (;;) {
    const m = /soak-probe (\{.*\})\n/.exec(proxy.stderr().slice(seen));
    if (m) return JSON.parse(m[1]);
    if (Date.now() > deadline) throw new Error('the proxy did not answer the probe');
    await new Promise((r) => setTimeout(r, 20));
  }
}

// Clients connect from 127.0.1.1-127.0.1.100 in turn, so that the address each backend
// reports is checked too, and 100,000 connections a minute do not cycle one address's
// ~28,000 ephemeral ports while earlier connections on them are still in TIME_WAIT.
let nextSource = 0;
const sourceAddress = () => `127.0.1.${1 + (nextSource++ % 100)}`;

/** One connection: send, half-close, collect until close (bounded). */
function exchange(port, payload) {
  return new Promise((resolve) => {
    const localAddress = sourceAddress();
    const socket = connect({ host: '127.0.0.1', port, localAddress, allowHalfOpen: true });
    const chunks = [];
    let local;
    const timer = setTimeout(() => socket.destroy(new Error('no close within 60 s')), 60_000);
    socket.on('connect', () => {
      local = socket.localPort;
      socket.end(payload);
    });
    socket.on('data', (d) => chunks.push(d));
    socket.on('end', () => socket.end());
    let error = null;
    socket.on('error', (e) => { error = e; });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks), error, localPort: local, localAddress });
    });
  });
}

/**
 * Runs `total` connections, `concurrency` at a time; `one(i)` returns a
 * promise of bytes moved. `figures()` samples the proxy's RSS once a second.
 */
async function load(name, total, concurrency, one, figures) {
  let next = 0;
  let done = 0;
  let bytes = 0;
  let peakRss = 0;
  const started = Date.now();
  const sampler = setInterval(async () => {
    try {
      peakRss = Math.max(peakRss, (await figures()).rssBytes);
    } catch { /* the next sample will do */ }
    process.stdout.write(`  ${name}: ${done}/${total} connections, ${((Date.now() - started) / 1000).toFixed(0)} s\r`);
  }, 1000);
  const worker = async () => {
    while (next < total) {
      const i = next++;
      bytes += await one(i);
      done++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  clearInterval(sampler);
  peakRss = Math.max(peakRss, (await figures()).rssBytes);
  return { seconds: (Date.now() - started) / 1000, bytes, peakRss };
}

const sha = (b) => createHash('sha256').update(b).digest('hex');

/** Checks one `inspect` record: a header for a soak client, with the two TLVs the soak configures. */
function checkRecord(line) {
  const r = JSON.parse(line);
  if (!r.header) fail(`inspect: ${r.error}`);
  else if (!r.header.source.address.startsWith('127.0.1.') || r.header.tlvs.length !== 2) fail(`inspect: unexpected header ${JSON.stringify(r.header)}`);
}

/** One connection to an echoing backend behind `port`: a random payload, its echo compared. */
async function echoOnce(port) {
  const payload = randomBytes(1 + Math.floor(Math.random() * MAX_PAYLOAD));
  const r = await exchange(port, payload);
  if (r.error) fail(`client error ${r.error.code ?? r.error.message}`);
  else if (sha(r.data) !== sha(payload)) fail(`echo of ${payload.length} bytes came back as ${r.data.length} different bytes`);
  return { sent: payload.length, compared: payload.length + r.data.length };
}

async function soakInspect() {
  const inspect = await startCli(['inspect', '--listen', '127.0.0.1:0', '--echo', '--header-timeout', '30000']);
  const proxy = await startProxy(inspect.port, JSON.stringify({ crc32c: true, tlvs: [{ type: 'unique_id', from: 'connection_id' }] }));
  // One JSON line per connection: each must carry a header. A second header would be echoed
  // back as payload and break that connection's hash compare.
  let records = 0;
  const drain = setInterval(() => {
    for (let line; (line = inspect.lines.ready.shift()) !== undefined;) {
      records++;
      checkRecord(line);
    }
  }, 50);
  try {
    // Warm up, then take the starting figures.
    await load('warm-up', 2000, 200, async () => (await exchange(proxy.port, randomBytes(100))).data.length, () => probe(proxy));
    await settle(proxy);
    const start = await probe(proxy);
    let compared = 0;
    const run = await load('inspect', TOTAL, CONCURRENCY, async () => {
      const n = await echoOnce(proxy.port);
      compared += n.compared;
      return n.sent;
    }, () => probe(proxy));
    await settle(proxy);
    const end = await probe(proxy);
    const outcomes = proxy.outcomes;
    const deadline = Date.now() + 30_000;
    while (records < TOTAL + 2000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    clearInterval(drain);
    if (records !== TOTAL + 2000) fail(`inspect printed ${records} records for ${TOTAL + 2000} connections`);
    return { run, start, end, compared, outcomes };
  } finally {
    clearInterval(drain);
    await proxy.stop();
    await inspect.stop();
  }
}

async function soakHaproxy() {
  const binary = findTool('haproxy');
  if (binary === null) {
    fail('haproxy is not installed (apt-get install -y haproxy)');
    return null;
  }
  const haproxy = await startHaproxy(binary);
  const proxy = await startProxy(haproxy.port, JSON.stringify({ tlvs: [{ type: 'authority', value: 'soak.example' }] }));
  const request = Buffer.from('GET / HTTP/1.0\r\nHost: soak\r\n\r\n');
  try {
    await load('warm-up', 2000, 200, async () => (await exchange(proxy.port, request)).data.length, () => probe(proxy));
    await settle(proxy);
    const start = await probe(proxy);
    let compared = 0;
    const run = await load('haproxy', TOTAL, CONCURRENCY, async () => {
      const r = await exchange(proxy.port, request);
      compared += request.length + r.data.length;
      if (r.error) {
        fail(`client error ${r.error.code ?? r.error.message} after ${r.data.length} bytes`);
        return request.length;
      }
      try {
        const body = parseHttpJson(r.data.toString('latin1'));
        if (body.src !== r.localAddress || Number(body.src_port) !== r.localPort || body.authority !== 'soak.example') {
          fail(`HAProxy saw ${JSON.stringify(body)} for client port ${r.localPort}`);
        }
      } catch (error) {
        fail(`HAProxy: ${error.message.slice(0, 200)}`);
      }
      return request.length;
    }, () => probe(proxy));
    await settle(proxy);
    const end = await probe(proxy);
    return { run, start, end, compared, outcomes: proxy.outcomes };
  } finally {
    await proxy.stop();
    await haproxy.stop();
  }
}

/** Envoy's figures: its allocator (admin /memory), RSS and open descriptors (/proc). */
async function envoyFigures(envoy) {
  const memory = JSON.parse((await envoy.admin('/memory')).body);
  const status = readFileSync(`/proc/${envoy.pid}/status`, 'utf8');
  return {
    allocatedBytes: Number(memory.allocated),
    heapBytes: Number(memory.heap_size),
    rssBytes: Number(/^VmRSS:\s+(\d+) kB/m.exec(status)[1]) * 1024,
    openFds: readdirSync(`/proc/${envoy.pid}/fd`).length,
  };
}

/** Waits until Envoy has no connection open and its counters are flushed. */
async function settleEnvoy(envoy, expectedHeaders) {
  for (let i = 0; i < 150; i++) {
    const stats = await envoy.stats('');
    if (stats['server.total_connections'] === 0 && stats['wasmcustom.ppv2.headers_written'] === expectedHeaders) return stats;
    await new Promise((r) => setTimeout(r, 200));
  }
  return envoy.stats('');
}

async function soakEnvoy() {
  const binary = envoyBinary();
  if (binary === null) {
    fail('Envoy is not installed (bash scripts/install-envoy.sh)');
    return null;
  }
  const inspect = await startCli(['inspect', '--listen', '127.0.0.1:0', '--echo', '--header-timeout', '30000']);
  const proxy = await startEnvoyUnderTest({
    binary,
    upstreamPort: inspect.port,
    listen: { address: '127.0.0.1', port: 0 },
    configuration: JSON.stringify({ crc32c: true, tlvs: [{ type: 'unique_id', from: 'connection_id' }] }),
  });
  const { envoy } = proxy;
  proxy.closed = 0;
  const version = JSON.parse((await envoy.admin('/server_info')).body).version.split('/')[1];
  let records = 0;
  const drain = setInterval(() => {
    for (let line; (line = inspect.lines.ready.shift()) !== undefined;) {
      records++;
      checkRecord(line);
    }
    // Envoy's access log: one line per connection; only its count matters here.
    while (proxy.lines.ready.shift() !== undefined) proxy.closed++;
  }, 50);
  try {
    await load('warm-up', 2000, 200, async () => (await exchange(proxy.port, randomBytes(100))).data.length, () => envoyFigures(envoy));
    await settleEnvoy(envoy, 2000);
    const start = await envoyFigures(envoy);
    let compared = 0;
    const run = await load('envoy', TOTAL, CONCURRENCY, async () => {
      const n = await echoOnce(proxy.port);
      compared += n.compared;
      return n.sent;
    }, () => envoyFigures(envoy));
    const stats = await settleEnvoy(envoy, TOTAL + 2000);
    const end = await envoyFigures(envoy);
    const deadline = Date.now() + 30_000;
    while ((records < TOTAL + 2000 || proxy.closed < TOTAL + 2000) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    clearInterval(drain);
    if (records !== TOTAL + 2000) fail(`inspect printed ${records} records for ${TOTAL + 2000} connections`);
    return { run, start, end, compared, stats, accessLogLines: proxy.closed, version };
  } finally {
    clearInterval(drain);
    await proxy.stop();
    await inspect.stop();
  }
}

function reportEnvoy(r) {
  const mib = (n) => `${(n / MIB).toFixed(1)} MiB`;
  const made = TOTAL + 2000;
  console.log(`Envoy ${r.version} -> inspect --echo: ${TOTAL} connections, ${CONCURRENCY} at once, in ${r.run.seconds.toFixed(0)} s (${Math.round(TOTAL / r.run.seconds)}/s); ${mib(r.compared)} compared`);
  console.log(`  allocated (/memory): ${mib(r.start.allocatedBytes)} before, ${mib(r.end.allocatedBytes)} after; heap ${mib(r.start.heapBytes)} before, ${mib(r.end.heapBytes)} after`);
  console.log(`  open fds:            ${r.start.openFds} before, ${r.end.openFds} after`);
  console.log(`  RSS:                 ${mib(r.start.rssBytes)} before, ${mib(r.run.peakRss)} peak, ${mib(r.end.rssBytes)} after`);
  console.log(`  counted:             wasmcustom.ppv2.headers_written ${r.stats['wasmcustom.ppv2.headers_written']}, tcp.ppv2_ipv4.downstream_cx_total ${r.stats['tcp.ppv2_ipv4.downstream_cx_total']}, access-log lines ${r.accessLogLines} (${made} connections made, warm-up included)`);
  for (const name of ['wasmcustom.ppv2.headers_written', 'tcp.ppv2_ipv4.downstream_cx_total']) {
    if (r.stats[name] !== made) fail(`envoy: ${name} is ${r.stats[name]}, not ${made}`);
  }
  if (r.accessLogLines !== made) fail(`envoy: ${r.accessLogLines} access-log lines for ${made} connections`);
  for (const name of ['wasmcustom.ppv2.local_fallbacks', 'wasmcustom.ppv2.closed_by_policy', 'wasmcustom.ppv2.tlvs_omitted', 'wasmcustom.ppv2.closed_on_error']) {
    if (r.stats[name] !== 0) fail(`envoy: ${name} is ${r.stats[name]}`);
  }
  if (r.end.openFds > r.start.openFds) fail(`envoy: ${r.end.openFds - r.start.openFds} file descriptors left open`);
  // Flat: what the allocator holds comes back to within 8 MiB or 25% of the start.
  if (r.end.allocatedBytes > r.start.allocatedBytes + Math.max(8 * MIB, r.start.allocatedBytes / 4)) {
    fail(`envoy: allocated memory did not come back (${mib(r.end.allocatedBytes)} vs ${mib(r.start.allocatedBytes)})`);
  }
}

/** Waits until the proxy's open descriptors stop falling (connections fully closed). */
async function settle(proxy) {
  let last = Infinity;
  for (let i = 0; i < 100; i++) {
    const { openFds } = await probe(proxy);
    if (openFds >= last) return;
    last = openFds;
    await new Promise((r) => setTimeout(r, 200));
  }
}

function report(name, r) {
  const mib = (n) => `${(n / MIB).toFixed(1)} MiB`;
  console.log(`${name}: ${TOTAL} connections, ${CONCURRENCY} at once, in ${r.run.seconds.toFixed(0)} s (${Math.round(TOTAL / r.run.seconds)}/s); ${mib(r.compared)} compared`);
  console.log(`  wasm linear memory: ${mib(r.start.wasmBytes)} before, ${mib(r.end.wasmBytes)} after`);
  console.log(`  open fds:           ${r.start.openFds} before, ${r.end.openFds} after`);
  console.log(`  RSS:                ${mib(r.start.rssBytes)} before, ${mib(r.run.peakRss)} peak, ${mib(r.end.rssBytes)} after`);
  console.log(`  proxy outcomes:     ${JSON.stringify(r.outcomes)} (${TOTAL + 2000} connections made, warm-up included)`);
  const unseen = TOTAL + 2000 - Object.values(r.outcomes).reduce((a, b) => a + b, 0);
  if (unseen > 0) fail(`${name}: ${unseen} connections never reached the proxy: the kernel reset them in its full accept queue (listen backlog)`);
  if (r.end.wasmBytes !== r.start.wasmBytes) fail(`${name}: wasm memory grew from ${r.start.wasmBytes} to ${r.end.wasmBytes}`);
  if (r.end.openFds > r.start.openFds) fail(`${name}: ${r.end.openFds - r.start.openFds} file descriptors left open`);
  // V8 and glibc keep some freed pages; "back to the start" allows 25% or 32 MiB, whichever is more.
  if (r.end.rssBytes > r.start.rssBytes + Math.max(32 * MIB, r.start.rssBytes / 4)) fail(`${name}: RSS did not come back (${mib(r.end.rssBytes)} vs ${mib(r.start.rssBytes)})`);
}

console.log(`soak: ${TOTAL} connections per backend, ${CONCURRENCY} at once, payloads 1-${MAX_PAYLOAD} bytes, open-file limit ${softLimit}`);
const backends = (process.env.SOAK_BACKENDS ?? 'inspect,haproxy,envoy').split(',');
if (backends.includes('inspect')) report('inspect --echo', await soakInspect());
if (backends.includes('haproxy')) {
  const b = await soakHaproxy();
  if (b) report('HAProxy accept-proxy', b);
}
if (backends.includes('envoy')) {
  const e = await soakEnvoy();
  if (e) reportEnvoy(e);
}
console.log(failures.length === 0 ? 'soak: nothing lost, every header once and right, memory and descriptors back where they started' : `soak: ${failures.length} failure(s)`);
process.exit(failures.length === 0 ? 0 : 1);
