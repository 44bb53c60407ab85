// A fresh network namespace with only loopback, for runs that must show they
// reach nothing outside the machine and that use the shipped bootstraps' fixed
// ports (9901, 10000, 10001, 9000) without meeting anything else on this host.
import { spawn, spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { findTool } from '../e2e/tools.mjs';

const PREFIXES = [
  // root (CI's .ci/run): a new network namespace directly
  ['unshare', '--net'],
  // anyone, where unprivileged user namespaces are allowed
  ['unshare', '--map-root-user', '--net'],
  // a runner with password-less sudo
  ['sudo', '-n', 'unshare', '--net'],
];

let cached;
/** The command prefix that runs a program in a new network namespace, or null. */
export function netnsPrefix() {
  if (cached !== undefined) return cached;
  cached = null;
  for (const prefix of PREFIXES) {
    if (prefix[0] === 'unshare' && prefix.length === 2 && process.getuid?.() !== 0) continue;
    const probe = spawnSync(prefix[0], [...prefix.slice(1), 'true'], { stdio: 'ignore', timeout: 10_000 });
    if (probe.status === 0) {
      cached = prefix;
      break;
    }
  }
  return cached;
}

/** The prefix and `ip`; or fails (CI) / skips (elsewhere) test `t` and returns null. */
export function requireNetns(t) {
  const prefix = netnsPrefix();
  const ip = findTool('ip');
  if (prefix && ip) return { prefix, ip };
  const why = !ip
    ? 'ip (iproute2) is not installed (apt-get install -y iproute2)'
    : 'no new network namespace can be made here (unshare --net needs root, unprivileged user namespaces, or password-less sudo)';
  if (process.env.CI === 'true') assert.fail(`${why}, and CI=true makes that a failure`);
  t.skip(why);
  return null;
}

/**
 * Runs `node script ...args` inside a new network namespace whose loopback is
 * up and which has no other interface. Resolves to { code, stdout, stderr }.
 */
export function runInNetns({ prefix, ip }, script, args, { cwd, env, timeoutMs = 120_000 }) {
  return new Promise((resolve, reject) => {
    const inner = `"${ip}" link set lo up && exec "${process.execPath}" "${script}" "$@"`;
    const child = spawn(prefix[0], [...prefix.slice(1), 'sh', '-c', inner, 'sh', ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} ${args.join(' ')}: no exit within ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
