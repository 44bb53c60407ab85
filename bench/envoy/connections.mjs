// New connections per second: Debian's wrk, one request per connection (`Connection: close`),
// against one subject for a fixed time, while /proc says how much CPU Envoy spent.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { findTool } from '../../tests/e2e/tools.mjs';
import { HOST } from './http.mjs';
import { measured, pinnedCommand } from './machine.mjs';

const run = promisify(execFile);
const SUMMARY_SCRIPT = fileURLToPath(new URL('./wrk-summary.lua', import.meta.url));

export function requireWrk() {
  const wrk = findTool('wrk');
  if (wrk === null) throw new Error('wrk is not installed (apt-get install -y wrk)');
  return wrk;
}

/**
 * Runs wrk for `seconds` against the subject, `connections` at a time, and returns the
 * connections per second wrk completed, Envoy's CPU nanoseconds per connection it accepted in
 * that time, and how busy Envoy and nginx were.
 */
export async function connectionRound({ wrk, subject, backendPid, loadCores, seconds, connections }) {
  const before = await subject.acceptedConnections();
  const [command, args] = pinnedCommand(loadCores, wrk, [
    '-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '5s',
    '-H', 'Connection: close', '-s', SUMMARY_SCRIPT, `http://${HOST}:${subject.port}/small`,
  ]);
  const m = await measured(subject, backendPid, () => run(command, args, { timeout: (seconds + 30) * 1000 }));
  const accepted = (await subject.acceptedConnections()) - before;
  const stdout = m.result.stdout;
  let summary;
  try {
    summary = JSON.parse(stdout.trim().split('\n').at(-1));
  } catch {
    throw new Error(`wrk printed no summary: ${JSON.stringify(stdout.slice(-200))}`);
  }
  const errors = Object.values(summary.errors).reduce((a, b) => a + b, 0);
  if (summary.requests === 0 || errors > summary.requests * 0.001) {
    throw new Error(`wrk against (${subject.id}): ${summary.requests} requests, errors ${JSON.stringify(summary.errors)}`);
  }
  return {
    perSecond: summary.requests / (summary.durationUs / 1e6),
    cpuNsPerConnection: m.envoyCpuNs / accepted,
    workerBusy: m.workerBusy,
    nginxCpu: m.nginxCpu,
  };
}
