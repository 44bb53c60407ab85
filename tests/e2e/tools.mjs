// The Debian tools the e2e tests drive. Under CI=true a missing tool fails
// the test (.ci/run installs them); elsewhere the test is skipped with a
// message that says how to install it.
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import assert from 'node:assert/strict';

export const DEBIAN_PACKAGE = { haproxy: 'haproxy', nginx: 'nginx', tshark: 'tshark', text2pcap: 'wireshark-common', ss: 'iproute2', ip: 'iproute2', openssl: 'openssl', python3: 'python3' };

/** Absolute path of an executable on PATH (plus the sbin folders where Debian puts daemons), or null. */
export function findTool(name) {
  const folders = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin', '/usr/local/sbin'];
  for (const folder of folders) {
    if (!folder) continue;
    const candidate = join(folder, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** The tool's path; or fails (CI) / skips (elsewhere) the test `t` and returns null. */
export function requireTool(t, name) {
  const path = findTool(name);
  if (path) return path;
  const install = `apt-get install -y ${DEBIAN_PACKAGE[name] ?? name}`;
  if (process.env.CI === 'true') assert.fail(`${name} is not installed, and CI=true makes that a failure (install it: ${install})`);
  t.skip(`${name} is not installed (install it: ${install})`);
  return null;
}

const ROOT = new URL('../../', import.meta.url).pathname;

/**
 * The Envoy binary the tests run: PPV2_ENVOY when set (another version, a
 * custom build), else the pinned one scripts/install-envoy.sh put in
 * .tools/bin/envoy (npm test runs it first). Null when there is neither.
 */
export function envoyBinary() {
  const candidate = process.env.PPV2_ENVOY || join(ROOT, '.tools', 'bin', 'envoy');
  try {
    accessSync(candidate, constants.X_OK);
    return candidate;
  } catch {
    return null;
  }
}

/** The Envoy binary; or fails (CI) / skips (elsewhere) the test `t` and returns null. */
export function requireEnvoy(t) {
  const path = envoyBinary();
  if (path) return path;
  const install = 'bash scripts/install-envoy.sh (npm test runs it first)';
  if (process.env.CI === 'true') assert.fail(`Envoy is not installed, and CI=true makes that a failure (install it: ${install})`);
  t.skip(`Envoy is not installed (install it: ${install})`);
  return null;
}

/** The release an Envoy binary reports (`envoy --version`: ".../1.40.0/Clean/RELEASE/..."), e.g. "1.40.0". */
export function envoyVersion(binary) {
  const text = execFileSync(binary, ['--version'], { encoding: 'utf8' });
  const match = /\/(\d+\.\d+\.\d+)\//.exec(text);
  if (!match) throw new Error(`${binary} --version names no release: ${text.trim()}`);
  return match[1];
}

/** Whether release `a` ("1.38.2") comes before release `b`. */
export function envoyBefore(a, b) {
  const [x, y] = [a, b].map((v) => v.split('.').map(Number));
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] < y[i];
  return false;
}
