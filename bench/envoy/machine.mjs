// The machine side of the bench: which core runs what (taskset), and what a process costs,
// read from /proc. Envoy gets a core of its own; the load generators and nginx share the rest.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';

/**
 * The core plan: Envoy alone on the last CPU, everything else on the others. On a single CPU
 * nothing is pinned (and the figures say so).
 */
export function corePlan() {
  const n = cpus().length;
  if (n < 2) return { envoy: null, load: null, note: 'one CPU: nothing pinned' };
  const load = n === 2 ? '0' : `0-${n - 2}`;
  return { envoy: String(n - 1), load, note: `Envoy alone on CPU ${n - 1}; clients and nginx on CPU ${load}` };
}

/** [command, args] that runs `command` on `cpuList` (or as is when null). */
export function pinnedCommand(cpuList, command, args) {
  return cpuList === null ? [command, args] : ['taskset', ['-c', cpuList, command, ...args]];
}

/** Moves every thread of a running process (this one, by default) onto `cpuList`. */
export function pinProcess(cpuList, pid = process.pid) {
  if (cpuList !== null) execFileSync('taskset', ['-a', '-p', '-c', cpuList, String(pid)], { stdio: 'ignore' });
}

/**
 * Scheduler times of every thread of `pid`, in nanoseconds, from /proc/<pid>/task/<tid>/schedstat
 * (Documentation/scheduler/sched-stats.rst): `cpu`, time on a CPU (finer than the clock ticks of
 * /proc/<pid>/stat), and `waiting`, time runnable but waiting for a CPU. On a shared machine
 * the second tells "had nothing to do" apart from "was kept off the CPU by someone else".
 * `thread` keeps only the threads whose name starts with it (Envoy's worker: "wrk:worker_0").
 */
export function schedTimes(pid, { thread } = {}) {
  let cpu = 0;
  let waiting = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      if (thread !== undefined && !readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').startsWith(thread)) continue;
      const [onCpu, onQueue] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ');
      cpu += Number(onCpu);
      waiting += Number(onQueue);
    } catch {
      // a thread that ended between the listing and the read
    }
  }
  return { cpu, waiting };
}

// Envoy names its worker threads "wrk:worker_<n>" (source/server/worker_impl.cc).
export const ENVOY_WORKER = 'wrk:worker';

/**
 * Measures Envoy (all threads, and its worker alone) and nginx over the time `work` runs:
 * CPU nanoseconds, and the share of the wall time the worker was on a CPU or waiting for one
 * (1.0: it never ran out of work, so the load kept it saturated).
 */
export async function measured(subject, backendPid, work) {
  const envoy0 = schedTimes(subject.pid);
  const worker0 = schedTimes(subject.pid, { thread: ENVOY_WORKER });
  const nginx0 = schedTimes(backendPid);
  const started = process.hrtime.bigint();
  const result = await work();
  const wallNs = Number(process.hrtime.bigint() - started);
  const envoy = schedTimes(subject.pid);
  const worker = schedTimes(subject.pid, { thread: ENVOY_WORKER });
  const nginx = schedTimes(backendPid);
  return {
    result,
    wallNs,
    envoyCpuNs: envoy.cpu - envoy0.cpu,
    workerBusy: (worker.cpu - worker0.cpu + worker.waiting - worker0.waiting) / wallNs,
    nginxCpu: (nginx.cpu - nginx0.cpu) / wallNs,
  };
}

/** Resident set size of `pid` in bytes (VmRSS of /proc/<pid>/status). */
export function rssBytes(pid) {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m === null) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/** The soft limit on open files of this process (children inherit it). */
export function openFileLimit() {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return m === null || m[1] === 'unlimited' ? Infinity : Number(m[1]);
}
