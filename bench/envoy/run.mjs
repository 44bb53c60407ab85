// `npm run bench:envoy`: this filter against Envoy's own PROXY transport socket, inside a real
// Envoy, by connection rate, latency, throughput, CPU and memory. Never part of `npm test`.
// Prints a table with a column per subject (each figure also as a ratio to (a) and (b), taken
// in the same rounds), then the targets, and writes every round to bench/envoy-results.json
// with the Envoy version, the machine and its load average.
//
// Needs: Envoy (scripts/install-envoy.sh, or PPV2_ENVOY), nginx, wrk and taskset (Debian:
// apt-get install -y nginx wrk util-linux), and a built module (npm run build); --profile also
// needs perf and strace (linux-perf, strace).
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parse, UsageError } from '../../dist/cli/args.js';
import { startEnvoy } from '../../dist/deploy/envoy-launcher.js';
import { envoyBinary } from '../../tests/e2e/tools.mjs';
import { startBackend } from './backend.mjs';
import { connectionRound, requireWrk } from './connections.mjs';
import { guardSubjects } from './guard.mjs';
import { fetchOnce, HOST } from './http.mjs';
import { idleRound } from './idle.mjs';
import { pacedRound, percentile } from './latency.mjs';
import { corePlan, measured, openFileLimit, pinnedCommand, pinProcess } from './machine.mjs';
import { profileSubjects, profileTable, requireProfilers } from './profile.mjs';
import { interleaved } from './rounds.mjs';
import { FLOOR, prepareFiles, startSubject, SUBJECTS } from './subjects.mjs';
import { buildReport } from './summary.mjs';
import { download, upload } from './throughput.mjs';

const RESULTS = fileURLToPath(new URL('../envoy-results.json', import.meta.url));
const PHASES = ['memory', 'connections', 'latency', 'throughput'];

const OPTIONS = {
  rounds: { type: 'string', value: 'N' },
  'connection-seconds': { type: 'string', value: 'S' },
  'wrk-connections': { type: 'string', value: 'N' },
  'latency-seconds': { type: 'string', value: 'S' },
  rate: { type: 'string', value: 'N' },
  'transfer-mib': { type: 'string', value: 'N' },
  idle: { type: 'string', value: 'N' },
  only: { type: 'string', value: 'PHASES' },
  profile: { type: 'boolean' },
};
const DEFAULTS = { rounds: '8', 'connection-seconds': '1', 'wrk-connections': '64', 'latency-seconds': '1.5', 'transfer-mib': '256' };

const USAGE = `usage: npm run bench:envoy [-- --profile] [--rounds N] [--only PHASE[,PHASE...]] [...]
  --rounds N               interleaved rounds of every figure (default 8)
  --only PHASES            run these phases only: ${PHASES.join(', ')} (default: all)
  --connection-seconds S   one wrk run, whole seconds (default 1)
  --wrk-connections N      connections wrk keeps open at a time (default 64)
  --latency-seconds S      one latency round (default 1.5)
  --rate N                 latency requests per second (default: a fifth of the slowest subject's connection rate)
  --transfer-mib N         MiB per download and per upload (default 256)
  --idle N                 idle connections for the memory figure (default 10000, or what the open-file limit allows)
  --profile                add where Envoy's CPU goes: perf and strace under the same load
  -h, --help               show this help
Needs Envoy (bash scripts/install-envoy.sh, or PPV2_ENVOY), nginx, wrk and taskset; --profile also
perf and strace. Prints the tables on stdout and writes every round to bench/envoy-results.json.`;

function number(values, name, { integer = false } = {}) {
  const v = Number(values[name] ?? DEFAULTS[name]);
  if (!Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
    throw new UsageError(`--${name}: expected a ${integer ? 'whole ' : ''}number above 0 (got ${JSON.stringify(values[name])})`);
  }
  return v;
}

function readSettings(values) {
  const settings = {
    rounds: number(values, 'rounds', { integer: true }),
    connectionSeconds: number(values, 'connection-seconds', { integer: true }),
    wrkConnections: number(values, 'wrk-connections', { integer: true }),
    latencySeconds: number(values, 'latency-seconds'),
    transferBytes: number(values, 'transfer-mib', { integer: true }) * 1024 * 1024,
    // Envoy holds two descriptors per proxied connection (downstream and upstream) under the
    // open-file limit it inherits from this process: 10,000 connections when the limit allows,
    // fewer otherwise, and the figure is scaled to 10,000.
    idle: values.idle === undefined ? Math.min(10_000, Math.floor((openFileLimit() - 1000) / 2000) * 1000) : number(values, 'idle', { integer: true }),
    rate: values.rate === undefined ? undefined : number(values, 'rate'),
    phases: values.only === undefined ? PHASES : values.only.split(',').map((p) => p.trim()),
    profile: values.profile === true,
  };
  for (const p of settings.phases) if (!PHASES.includes(p)) throw new UsageError(`--only: unknown phase "${p}" (phases: ${PHASES.join(', ')})`);
  return settings;
}

function envoyVersion(binary) {
  const text = execFileSync(binary, ['--version'], { encoding: 'utf8' });
  const m = /version: \S+?\/(\d+\.\d+\.\d+)\//.exec(text);
  return m === null ? text.trim() : m[1];
}

const progress = (text) => process.stderr.write(text);

/** The medians of a figure's rounds, lowest first. */
const medians = (perSubject) => Object.values(perSubject).map((v) => [...v].sort((x, y) => x - y)[v.length >> 1]);

/** Every phase, on running subjects; resolves with the rounds of each. */
async function measure(subjects, { floor, backend, wrk, plan, settings, profilers }) {
  const data = {};
  const round = (s, seconds) => connectionRound({ wrk, subject: s, backendPid: backend.pid, loadCores: plan.load, seconds, connections: settings.wrkConnections });
  const phase = (label, measureOne, rounds = settings.rounds, among = subjects) => interleaved({ subjects: among, rounds, label, measure: measureOne, progress });

  if (settings.phases.includes('memory')) {
    // First, on processes that have served only the guard: Envoy's heap keeps the pages it once
    // used, so after the load rounds a second batch of connections would add little RSS.
    data.memory = await phase(`memory, ${settings.idle.toLocaleString('en-US')} idle connections`, async (s) => {
      const m = await idleRound(s, { count: settings.idle });
      return { rssAtRest: m.rssAtRest, rssPerConnection: m.rssPerConnection, heapPerConnection: m.heapPerConnection };
    }, 1);
  }

  // Warm-up: every subject's code paths, buffers and Wasm tiers, before any round counts.
  await phase('warm-up', async (s) => {
    await round(s, 1);
    if (s === floor) return {};
    await pacedRound({ port: s.port, rate: 500, seconds: 0.4 });
    await download(s.port, settings.transferBytes);
    await upload(s.port, settings.transferBytes);
    return {};
  }, 1, [...subjects, floor]);

  if (settings.phases.includes('connections')) {
    // The floor module joins these rounds only: it differs from (d) and (f) per connection, not
    // per byte or per idle connection.
    data.connections = await phase('connections', async (s) => {
      const m = await round(s, settings.connectionSeconds);
      return { perSecond: m.perSecond, cpuNs: m.cpuNsPerConnection, workerBusy: m.workerBusy, nginxCpu: m.nginxCpu };
    }, settings.rounds, [...subjects, floor]);
  }

  if (settings.phases.includes('latency')) {
    // A fixed, moderate rate, the same for every subject: a fifth of the slowest subject's
    // connection rate in this run, so well below saturation on any machine.
    settings.rate ??= data.connections === undefined ? 1000 : Math.max(100, Math.floor(Math.min(...medians(data.connections.perSecond)) / 5 / 100) * 100);
    data.latency = await phase(`latency at ${settings.rate} requests/s`, async (s) => {
      const { latencies, lateness } = await pacedRound({ port: s.port, rate: settings.rate, seconds: settings.latencySeconds });
      return { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), clientLateP99: percentile(lateness, 0.99) };
    });
  }

  if (settings.phases.includes('throughput')) {
    const mb = settings.transferBytes / 1e6;
    data.throughput = await phase('throughput', async (s) => {
      const down = await measured(s, backend.pid, () => download(s.port, settings.transferBytes));
      const up = await measured(s, backend.pid, () => upload(s.port, settings.transferBytes));
      return {
        downloadMbps: down.result, downloadCpuNsPerMB: down.envoyCpuNs / mb, downloadWorkerBusy: down.workerBusy,
        uploadMbps: up.result, uploadCpuNsPerMB: up.envoyCpuNs / mb, uploadWorkerBusy: up.workerBusy,
      };
    });
  }

  if (profilers !== null) {
    data.profile = await profileSubjects([...subjects.filter((s) => s.id !== "b'"), floor], {
      ...profilers, wrk, backendPid: backend.pid, loadCores: plan.load, connections: settings.wrkConnections, transferBytes: settings.transferBytes, progress,
    });
  }
  return data;
}

/**
 * The filter's own counters against Envoy's: (d) and (e) wrote a header for the connections
 * Envoy accepted, and (e) left no TLV out. The filter writes the header with a connection's
 * first bytes, and wrk may close a few connections it opened at the end of a round before
 * sending on them, hence the 0.1%. Counters are flushed on the filter's 1 s tick.
 */
async function checkCounters(subjects) {
  await new Promise((r) => setTimeout(r, 1500));
  const counters = {};
  for (const s of subjects.filter((x) => x.module === 'release')) {
    const stats = await s.stats('wasmcustom|listener.subject.downstream_cx_total');
    const c = { accepted: stats['listener.subject.downstream_cx_total'], written: stats['wasmcustom.ppv2.headers_written'], omitted: stats['wasmcustom.ppv2.tlvs_omitted'] };
    counters[s.id] = c;
    if (c.written > c.accepted || c.written < c.accepted * 0.999 || c.omitted !== 0) {
      throw new Error(`guard: (${s.id}) wrote ${c.written} headers for ${c.accepted} connections, and left out ${c.omitted} TLVs`);
    }
  }
  return counters;
}

async function main() {
  let settings;
  try {
    const values = parse(process.argv.slice(2), OPTIONS);
    if (values.help) {
      console.log(USAGE);
      return;
    }
    settings = readSettings(values);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`bench:envoy: ${error.message}\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  const envoy = envoyBinary();
  if (envoy === null) throw new Error('Envoy is not installed: bash scripts/install-envoy.sh (or set PPV2_ENVOY to an Envoy binary)');
  const wrk = requireWrk();
  const profilers = settings.profile ? requireProfilers() : null;
  const plan = corePlan();
  pinProcess(plan.load);
  const version = envoyVersion(envoy);
  const startedAt = new Date();
  const loadBefore = loadavg()[0];
  const files = prepareFiles({ envoy, envoyCore: plan.envoy });
  const subjects = [];
  let backend;
  let stopping = false;
  const stopAll = async () => {
    await Promise.all(subjects.splice(0).map((s) => s.stop()));
    await backend?.stop();
    backend = undefined;
    files.remove();
  };
  const onSignal = (signal) => {
    if (stopping) return;
    stopping = true;
    progress(`\nbench:envoy: ${signal}, stopping Envoy and nginx\n`);
    stopAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  let data;
  try {
    progress(`bench:envoy: Envoy ${version}, ${plan.note}\nguard: each subject's upstream bytes, decoded ...`);
    await guardSubjects([...SUBJECTS, FLOOR], { files, startEnvoy });
    progress(' ok\n');
    backend = await startBackend({ largeBytes: settings.transferBytes, maxConnections: settings.idle, pin: (c, a) => pinnedCommand(plan.load, c, a) });
    for (const s of [...SUBJECTS, FLOOR]) subjects.push(await startSubject(s, { backend, files, startEnvoy }));
    // Wiring: nginx read the PROXY header from every subject that sends one.
    for (const s of subjects) {
      const { status, body, localPort } = await fetchOnce(s.port, '/whoami');
      const source = s.addresses?.source ?? { address: HOST, port: localPort };
      const want = s.tlvs === undefined ? '' : `${source.address} ${source.port}`;
      if (status !== 200 || body.trim() !== want) throw new Error(`guard: through (${s.id}) nginx answered ${status} ${JSON.stringify(body)}, expected ${JSON.stringify(want)}`);
    }
    const floor = subjects.find((s) => s.id === FLOOR.id);
    data = await measure(subjects.filter((s) => s !== floor), { floor, backend, wrk, plan, settings, profilers });
    data.counters = await checkCounters(subjects);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (!stopping) await stopAll();
  }

  const report = buildReport({ data, settings, subjects: [...SUBJECTS, FLOOR] });
  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    kernel: release(),
    node: process.version,
    cores_plan: plan.note,
    loadAverage: { before: loadBefore, after: loadavg()[0] },
  };
  const seconds = (Date.now() - startedAt.getTime()) / 1000;
  console.log(`${report.subjects}\n\n${report.figures}\n\n${report.targets}\n`);
  if (data.profile) console.log(`${profileTable(data.profile)}\n`);
  console.log(`Envoy ${version} (--concurrency 1), ${machine.cpu}, ${machine.cores} cores, Linux ${machine.kernel}, Node ${machine.node}; ${plan.note}; load average ${machine.loadAverage.before.toFixed(2)} before, ${machine.loadAverage.after.toFixed(2)} after; ${startedAt.toISOString().slice(0, 10)}; ${seconds.toFixed(0)} s`);
  const missed = report.targetList.filter((t) => t.met === false).length;
  console.log(missed === 0 ? 'Every target met.' : `${missed} target(s) missed.`);
  const json = { date: startedAt.toISOString(), envoy: { version, binary: envoy }, machine, settings, seconds, subjects: [...SUBJECTS, FLOOR].map(({ id, what }) => ({ id, what })), targets: report.targetList, rounds: data };
  writeFileSync(RESULTS, `${JSON.stringify(json, null, 2)}\n`);
  console.log(`Figures and every round written to ${RESULTS}`);
}

main().catch((error) => {
  console.error(`bench:envoy: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
