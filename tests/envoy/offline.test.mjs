// The install route for machines that reach only the package registries
// (scripts/install-envoy.sh), shown with the real func-e and Envoy:
// - `func-e run -c envoy/envoy.yaml` from the repository root, and
//   `npm run start:envoy`, serve the filter with the installed Envoy inside a
//   network namespace that has only loopback, and func-e makes no request at
//   all, not even to its ENVOY_VERSIONS_URL (a recorder here);
// - a second run of the install script runs neither pip nor go and changes
//   no file under .tools/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireNetns, runInNetns } from './netns.mjs';
import { findTool } from '../e2e/tools.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TOOLS = path.join(ROOT, '.tools');
const DEMO = fileURLToPath(new URL('./offline-demo.mjs', import.meta.url));
const PINNED = fs.readFileSync(path.join(ROOT, '.envoy-version'), 'utf8').trim();

/** The pinned Envoy and func-e as scripts/install-envoy.sh leaves them; fails (CI) or skips otherwise. */
function requireInstall(t) {
  const needed = [path.join(TOOLS, 'bin', 'func-e'), path.join(TOOLS, 'func-e', 'envoy-versions', PINNED, 'bin', 'envoy'), path.join(TOOLS, 'envoy', PINNED, 'bin', `envoy-${PINNED}`)];
  const missing = needed.filter((p) => !fs.existsSync(p));
  if (missing.length === 0) return true;
  const why = `scripts/install-envoy.sh has not installed Envoy ${PINNED} and func-e (missing ${missing.map((p) => path.relative(ROOT, p)).join(', ')}; npm test runs it first)`;
  if (process.env.CI === 'true') assert.fail(`${why}, and CI=true makes that a failure`);
  t.skip(why);
  return false;
}

async function demo(t, mode, ...args) {
  if (!requireInstall(t)) return null;
  const netns = requireNetns(t);
  if (!netns) return null;
  const run = await runInNetns(netns, DEMO, [mode, ...args], { cwd: ROOT, env: process.env });
  assert.equal(run.code, 0, run.stderr);
  const result = JSON.parse(run.stdout.trim().split('\n').at(-1));
  assert.equal(result.error, null, `${result.error}\n${result.output.slice(-30).join('\n')}`);
  return result;
}

/** The inspect replies: IPv4 from 127.0.0.2 to :10000, IPv6 [::1] to :10001. */
function assertServed(result) {
  const [v4, v6] = result.replies.map((r) => ({ local: r.local, record: JSON.parse(r.reply) }));
  assert.deepEqual(v4.record.header.source, { address: '127.0.0.2', port: v4.local.port });
  assert.deepEqual(v4.record.header.destination, { address: '127.0.0.1', port: 10000 });
  assert.equal(v4.record.header.family, 'TCP4');
  assert.deepEqual(v6.record.header.source, { address: '::1', port: v6.local.port });
  assert.deepEqual(v6.record.header.destination, { address: '::1', port: 10001 });
  assert.match(result.stats, /^wasmcustom\.ppv2\.headers_written: 2$/m);
  assert.ok(result.output.some((l) => l.includes(`downstream=127.0.0.2:${v4.local.port} local=127.0.0.1:10000 upstream=127.0.0.1:9000`)), 'the access log line of the IPv4 connection');
}

test(`func-e run -c envoy/envoy.yaml serves the filter with the installed Envoy ${PINNED}, offline, requesting nothing`, async (t) => {
  const result = await demo(t, 'func-e');
  if (!result) return;
  assert.deepEqual(result.requests, [], 'func-e made no request, not even to ENVOY_VERSIONS_URL');
  assert.ok(result.output.includes(`${PINNED} is already downloaded`), result.output.slice(0, 5).join('\n'));
  assert.ok(result.output.some((l) => l.startsWith(`starting: ${path.join(TOOLS, 'func-e', 'envoy-versions', PINNED, 'bin', 'envoy')}`)));
  assertServed(result);
  assert.equal(result.exit.code, 0, 'func-e exits 0 on Ctrl-C');
});

test('npm run start:envoy finds the project\'s func-e by itself and runs the demo offline', async (t) => {
  const result = await demo(t, 'start-envoy');
  if (!result) return;
  assert.deepEqual(result.requests, [], 'func-e made no request');
  assert.ok(result.output.includes('start:envoy: .tools/bin/func-e run -c envoy/envoy.yaml'), result.output.slice(0, 5).join('\n'));
  assert.ok(result.output.includes(`start:envoy: Envoy ${PINNED} is ready; admin on http://127.0.0.1:9901. Try, in another terminal:`));
  assertServed(result);
  assert.equal(result.exit.code, 130, 'Ctrl-C stops Envoy and the backend, exit 130');
});

test('npm run start:envoy -- --plugin-config FILE runs the demo with that plugin configuration', async (t) => {
  const result = await demo(t, 'start-envoy', '--plugin-config', 'envoy/plugin-configs/crc32c.json');
  if (!result) return;
  assert.ok(result.output.includes('start:envoy: wrote build/envoy-bootstrap.yaml from envoy/envoy.yaml'));
  assert.ok(result.output.includes('start:envoy: .tools/bin/func-e run -c build/envoy-bootstrap.yaml'));
  assertServed(result);
  for (const reply of result.replies) {
    assert.deepEqual(JSON.parse(reply.reply).header.tlvs.map((tlv) => tlv.name), ['PP2_TYPE_CRC32C'], 'the CRC32C TLV, checked by inspect');
  }
});

/** Every path under `dir` with its mtime, or its target for a link. */
function snapshot(dir) {
  const out = new Map();
  const walk = (d) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, entry.name);
      const st = fs.lstatSync(p);
      out.set(p, entry.isSymbolicLink() ? `-> ${fs.readlinkSync(p)}` : `${st.mtimeMs} ${st.size}`);
      if (entry.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

test('a second run of scripts/install-envoy.sh runs neither pip nor go and changes no file', async (t) => {
  if (!requireInstall(t)) return;
  // A PATH with what the script needs when everything is in place, and no
  // python3, pip or go: if it tried to install anything, it would fail.
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'ppv2-install-path-'));
  t.after(() => fs.rmSync(bin, { recursive: true, force: true }));
  for (const tool of ['bash', 'dirname', 'tr', 'cat', 'readlink', 'mkdir', 'ln', 'mktemp', 'rm']) {
    const found = findTool(tool);
    assert.ok(found, `${tool} is on PATH`);
    fs.symlinkSync(found, path.join(bin, tool));
  }
  const before = snapshot(TOOLS);
  const started = Date.now();
  const run = await new Promise((resolve) => {
    const child = spawn(path.join(bin, 'bash'), [path.join(ROOT, 'scripts', 'install-envoy.sh')], {
      cwd: ROOT, env: { PATH: bin, HOME: process.env.HOME ?? '/' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code) => resolve({ code, out }));
  });
  t.diagnostic(`second run: ${Date.now() - started} ms`);
  assert.equal(run.code, 0, run.out);
  assert.match(run.out, new RegExp(`Envoy ${PINNED.replaceAll('.', '\\.')} already in `));
  assert.match(run.out, /func-e v[0-9.]+ already in /);
  const after = snapshot(TOOLS);
  const changed = [...new Set([...before.keys(), ...after.keys()])].filter((p) => before.get(p) !== after.get(p));
  assert.deepEqual(changed, [], 'no file under .tools/ was added, removed or written');
});
