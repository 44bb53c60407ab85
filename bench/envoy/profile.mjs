// `--profile`: where an Envoy subject's CPU per connection goes, under the same wrk load.
//
// - perf (software cpu-clock sampling; a VM often has no hardware counters) splits Envoy's
//   samples by where the code lives: the kernel (sockets, loopback TCP), the envoy binary (its
//   C++, including the Wasm host calls and V8's runtime), and anonymous executable memory,
//   which perf names "[JIT] tid N": the code V8 compiled from the Wasm module, with its call
//   wrappers. The official binary is stripped and Envoy cannot pass flags to V8 (so no
//   --perf-basic-prof map), which is why the split is by region, not by function.
// - strace -c on Envoy's worker thread counts system calls per connection, which shows what the
//   kernel share is made of.
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { findTool } from '../../tests/e2e/tools.mjs';
import { median } from '../report.mjs';
import { connectionRound } from './connections.mjs';
import { ENVOY_WORKER, measured } from './machine.mjs';
import { interleaved } from './rounds.mjs';
import { download, upload } from './throughput.mjs';

const run = promisify(execFile);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function requireProfilers() {
  const perf = findTool('perf');
  const strace = findTool('strace');
  if (perf === null || strace === null) throw new Error('--profile needs perf and strace (apt-get install -y linux-perf strace)');
  return { perf, strace };
}

/** Starts `command` in the background, runs `work`, then stops the command with SIGINT and waits. */
async function around(command, args, work) {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (t) => (stderr += t));
  const exited = once(child, 'exit');
  // Both tools need a moment to attach before the load starts.
  await sleep(500);
  if (child.exitCode !== null) throw new Error(`${command} exited (${child.exitCode}): ${stderr.trim().split('\n').at(-1) ?? ''}`);
  try {
    return await work();
  } finally {
    child.kill('SIGINT');
    await exited;
  }
}

/** perf report's `--sort dso` lines ("  62.54%  [kernel.kallsyms]") as shares (0..1) by region. */
function regions(report) {
  const out = { kernel: 0, envoy: 0, wasm: 0, other: 0 };
  for (const line of report.split('\n')) {
    const m = /^\s*([\d.]+)%\s+(.+?)\s*$/.exec(line);
    if (m === null) continue;
    const share = Number(m[1]) / 100;
    const dso = m[2];
    if (dso === '[kernel.kallsyms]') out.kernel += share;
    else if (dso === 'envoy' || dso.startsWith('envoy-')) out.envoy += share;
    else if (dso.startsWith('[JIT]')) out.wasm += share;
    else out.other += share;
  }
  return out;
}

/** strace -c's table as { syscall: calls }. */
function syscallCounts(table) {
  const out = {};
  for (const line of table.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 5 || !/^[\d.]+$/.test(fields[0])) continue;
    const name = fields.at(-1);
    if (name !== 'total') out[name] = Number(fields[3]);
  }
  return out;
}

function workerThread(pid) {
  const tid = readdirSync(`/proc/${pid}/task`).find((t) => readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').startsWith(ENVOY_WORKER));
  if (tid === undefined) throw new Error(`Envoy ${pid} has no ${ENVOY_WORKER} thread`);
  return tid;
}

/** Runs `work` under perf record on `pid`; resolves with its result and the CPU shares by region. */
async function sampled(perf, pid, data, work) {
  const result = await around(perf, ['record', '-e', 'cpu-clock', '-F', '2000', '-p', String(pid), '-o', data, '--quiet'], work);
  const { stdout } = await run(perf, ['report', '-i', data, '--sort', 'dso', '--stdio', '-g', 'none'], { maxBuffer: 16 * 1024 * 1024 });
  return { result, share: regions(stdout) };
}

/** A total split by region, in the total's unit. */
function split(total, share) {
  return { total, kernel: share.kernel * total, envoy: share.envoy * total, wasm: share.wasm * total, other: share.other * total };
}

/**
 * Profiles the subjects in interleaved rounds, each round `seconds` of wrk and then a download
 * and an upload of `transferBytes`, all under perf; then once under strace. Resolves with, per
 * subject, the per-round splits of Envoy's CPU per connection and per MB (ns), and its system
 * calls per connection.
 */
export async function profileSubjects(subjects, { perf, strace, wrk, backendPid, loadCores, connections, transferBytes, rounds = 3, seconds = 2, progress }) {
  const dir = mkdtempSync(join(tmpdir(), 'ppv2-bench-profile-'));
  const data = join(dir, 'perf.data');
  const wrkRound = (s, secs, conns) => connectionRound({ wrk, subject: s, backendPid, loadCores, seconds: secs, connections: conns });
  try {
    const sampledRounds = await interleaved({
      subjects, rounds, label: 'profile (perf)', progress,
      measure: async (s) => {
        const conn = await sampled(perf, s.pid, data, () => wrkRound(s, seconds, connections));
        const bulk = await sampled(perf, s.pid, data, async () => {
          const down = await measured(s, backendPid, () => download(s.port, transferBytes));
          const up = await measured(s, backendPid, () => upload(s.port, transferBytes));
          return (down.envoyCpuNs + up.envoyCpuNs) / ((2 * transferBytes) / 1e6);
        });
        return { perConnection: split(conn.result.cpuNsPerConnection, conn.share), perMB: split(bulk.result, bulk.share) };
      },
    });
    const out = {};
    progress('profile (strace) ...');
    for (const s of subjects) {
      // strace stops the worker at every system call, so this round is slow; only its counts
      // are used, over the connections Envoy accepted while it was attached.
      const traced = join(dir, 'strace.txt');
      const before = await s.acceptedConnections();
      await around(strace, ['-c', '-p', workerThread(s.pid), '-o', traced], () => wrkRound(s, 1, 8));
      const accepted = (await s.acceptedConnections()) - before;
      const calls = syscallCounts(readFileSync(traced, 'utf8'));
      const per = (names) => names.reduce((sum, n) => sum + (calls[n] ?? 0), 0) / accepted;
      out[s.id] = {
        perConnection: sampledRounds.perConnection[s.id],
        perMB: sampledRounds.perMB[s.id],
        syscalls: per(Object.keys(calls)),
        sends: per(['sendto', 'sendmsg', 'write', 'writev']),
        epollCtl: per(['epoll_ctl']),
        calls,
      };
    }
    progress(' done\n');
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The profile as a markdown table, a column per subject: medians of the rounds. */
export function profileTable(profile) {
  const ids = Object.keys(profile);
  const row = (name, pick, digits) => `| ${name} | ${ids.map((id) => pick(profile[id]).toFixed(digits)).join(' | ')} |`;
  const region = (name, what, key, digits) => row(name, (p) => median(p[what].map((r) => r[key])) / 1e3, digits);
  const heading = (text) => `| **${text}** |${ids.map(() => ' ').join('|')}|`;
  const regions = (what) => [
    region('Envoy CPU (µs)', what, 'total', 1),
    region('&nbsp;&nbsp;in the kernel (µs)', what, 'kernel', 1),
    region('&nbsp;&nbsp;in the envoy binary: C++, host calls, V8 runtime (µs)', what, 'envoy', 1),
    region('&nbsp;&nbsp;in code V8 compiled from the Wasm module (µs)', what, 'wasm', 2),
    region('&nbsp;&nbsp;elsewhere: libc, vdso (µs)', what, 'other', 1),
  ];
  return [
    `| | ${ids.map((id) => `(${id})`).join(' | ')} |`,
    `|---|${ids.map(() => '---:').join('|')}|`,
    heading('Per connection, under wrk (perf)'),
    ...regions('perConnection'),
    heading('Per connection, system calls on the worker thread (strace)'),
    row('all', (p) => p.syscalls, 1),
    row('&nbsp;&nbsp;sends (sendto, writev, ...)', (p) => p.sends, 2),
    row('&nbsp;&nbsp;epoll_ctl', (p) => p.epollCtl, 1),
    heading('Per MB, a download and an upload (perf)'),
    ...regions('perMB'),
  ].join('\n');
}
