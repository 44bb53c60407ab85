// The Envoy launcher (src/deploy/envoy-launcher.ts) and `npm run start:envoy`
// with the real Envoy and func-e that scripts/install-envoy.sh installs:
// finding them, the derived bootstraps (checked by `envoy --mode validate`),
// the flags, readiness, stats, an Envoy that refuses its bootstrap, and
// cleanup. The demo itself, through the project's func-e, runs in
// tests/envoy/offline.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { ROOT, MODULE } from './helpers.mjs';
import { requireEnvoy } from '../e2e/tools.mjs';

const launcher = await import('../../dist/deploy/envoy-launcher.js');
const FUNC_E = path.join(ROOT, '.tools', 'bin', 'func-e');
const TEMPLATE = fs.readFileSync(path.join(ROOT, 'envoy', 'envoy.yaml'), 'utf8');

function tempDir(t, prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A folder holding links named `names` to `target`. */
function binDir(t, target, ...names) {
  const dir = tempDir(t, 'ppv2-launcher-bin-');
  for (const name of names) fs.symlinkSync(target, path.join(dir, name));
  return dir;
}

/** `envoy --mode validate` on a bootstrap text; resolves to { ok, output }. */
async function envoyValidates(t, binary, yaml) {
  const file = path.join(tempDir(t, 'ppv2-validate-'), 'envoy.yaml');
  fs.writeFileSync(file, yaml);
  try {
    const { stdout, stderr } = await promisify(execFile)(binary, ['--mode', 'validate', '-c', file, '--disable-hot-restart'], { cwd: ROOT, timeout: 60_000 });
    return { ok: true, output: stdout + stderr };
  } catch (err) {
    return { ok: false, output: `${err.stdout}${err.stderr}` };
  }
}

test('findEnvoy prefers PPV2_ENVOY, then the project\'s func-e (with its FUNC_E_DATA_HOME), then func-e on PATH, then envoy on PATH', (t) => {
  const envoy = requireEnvoy(t);
  if (!envoy) return;
  const project = tempDir(t, 'ppv2-project-');
  const bare = tempDir(t, 'ppv2-project-bare-');
  fs.mkdirSync(path.join(project, '.tools', 'bin'), { recursive: true });
  fs.symlinkSync(envoy, path.join(project, '.tools', 'bin', 'func-e'));
  const both = binDir(t, envoy, 'func-e', 'envoy');
  const onlyEnvoy = binDir(t, envoy, 'envoy');

  assert.deepEqual(launcher.findEnvoy({ PATH: both, PPV2_ENVOY: '/opt/envoy' }, project), { command: '/opt/envoy', prefix: [], via: 'PPV2_ENVOY', env: {} });
  assert.deepEqual(launcher.findEnvoy({ PATH: both }, project), {
    command: path.join(project, '.tools', 'bin', 'func-e'), prefix: ['run'], via: 'func-e', env: { FUNC_E_DATA_HOME: path.join(project, '.tools', 'func-e') },
  });
  assert.deepEqual(launcher.findEnvoy({ PATH: both }, bare), { command: path.join(both, 'func-e'), prefix: ['run'], via: 'func-e', env: {} });
  assert.deepEqual(launcher.findEnvoy({ PATH: onlyEnvoy }, bare), { command: path.join(onlyEnvoy, 'envoy'), prefix: [], via: 'envoy', env: {} });
  assert.equal(launcher.findEnvoy({ PATH: tempDir(t, 'ppv2-empty-') }, bare), null);
  assert.equal(launcher.PROJECT_ROOT, ROOT, 'the default project root is this repository');
});

test('renderBootstrap applies ports, backend, module, configuration, addresses and failure policy, and Envoy validates every result', async (t) => {
  const envoy = requireEnvoy(t);
  if (!envoy) return;
  const text = launcher.renderBootstrap(TEMPLATE, {
    listenPort: 0,
    listenPortV6: null,
    adminPort: 0,
    backend: { host: '127.0.0.2', port: 9555 },
    wasmPath: MODULE,
    pluginConfiguration: '{"version": 1}',
  });
  assert.match(text, /^# ppv2-wasm in Envoy/, 'comments kept');
  const b = parse(text);
  assert.equal(b.static_resources.listeners.length, 1, 'IPv6 listener dropped');
  assert.equal(b.static_resources.listeners[0].address.socket_address.port_value, 0);
  assert.equal(b.admin.address.socket_address.port_value, 0);
  const wasm = b.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.config;
  assert.equal(wasm.vm_config.code.local.filename, MODULE);
  assert.deepEqual(wasm.configuration, { '@type': 'type.googleapis.com/google.protobuf.StringValue', value: '{"version": 1}' });
  const ep = b.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
  assert.deepEqual(ep, { address: '127.0.0.2', port_value: 9555 });
  const checks = [['ports, backend, module, configuration', text]];

  const dual = launcher.renderBootstrap(TEMPLATE, { singleListener: { address: '::', port: 0, ipv4Compat: true }, wasmPath: MODULE, failurePolicy: 'FAIL_RELOAD' });
  const d = parse(dual);
  assert.deepEqual(d.static_resources.listeners.map((l) => l.address), [{ socket_address: { address: '::', port_value: 0, ipv4_compat: true } }]);
  assert.equal(d.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.config.failure_policy, 'FAIL_RELOAD');
  checks.push(['a dual-stack listener, FAIL_RELOAD', dual]);

  const pipe = launcher.renderBootstrap(TEMPLATE, { singleListener: { pipe: '/tmp/ppv2-example.sock' }, wasmPath: MODULE, failurePolicy: 'FAIL_OPEN' });
  assert.deepEqual(parse(pipe).static_resources.listeners[0].address, { pipe: { path: '/tmp/ppv2-example.sock' } });
  checks.push(['a pipe listener, FAIL_OPEN', pipe]);

  const unset = parse(launcher.renderBootstrap(TEMPLATE, { failurePolicy: null }));
  for (const l of unset.static_resources.listeners) assert.ok(!('failure_policy' in l.filter_chains[0].filters[0].typed_config.config), 'null removes failure_policy');

  for (const [what, yaml] of checks) {
    const v = await envoyValidates(t, envoy, yaml);
    assert.ok(v.ok, `${what}: ${v.output.split('\n').slice(-5).join('\n')}`);
  }
});

test('startEnvoyProxy runs Envoy on the derived bootstrap, waits for LIVE, reads its port, access log and stats, and stops it', async (t) => {
  const envoy = requireEnvoy(t);
  if (!envoy) return;
  const backend = net.createServer((s) => s.resume().on('end', () => s.end()));
  backend.listen(0, '127.0.0.1');
  await new Promise((r) => backend.once('listening', r));
  t.after(() => backend.close());
  const proxy = await launcher.startEnvoyProxy({
    cwd: ROOT,
    upstreamPort: backend.address().port,
    configuration: '{"version": 2}',
    env: { ...process.env, PPV2_ENVOY: envoy },
    readyTimeoutMs: 60_000,
  });
  t.after(() => proxy.stop());
  assert.equal(proxy.host, '127.0.0.1');
  assert.ok(proxy.port > 0);
  assert.equal(proxy.envoy.via, 'PPV2_ENVOY');

  const info = JSON.parse((await proxy.envoy.admin('/server_info')).body);
  const flags = info.command_line_options;
  assert.equal(flags.disable_hot_restart, true);
  assert.equal(flags.log_level, 'info');
  assert.ok(flags.admin_address_path, 'admin address path given');
  assert.equal(String(info.state), 'LIVE');

  await new Promise((resolve, reject) => {
    const c = net.connect(proxy.port, '127.0.0.1', () => c.end('hello'));
    c.on('error', reject);
    c.on('close', resolve);
    c.resume();
  });
  const deadline = Date.now() + 10_000;
  let written = 0;
  while (Date.now() < deadline && (written === 0 || proxy.lines.length === 0)) {
    written = (await proxy.stats('wasmcustom.ppv2'))['wasmcustom.ppv2.headers_written'] ?? 0;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(written, 1, 'the filter counted one header (flushed within a second)');
  assert.match(proxy.lines[0], /ppv2 id=\d+ downstream=127\.0\.0\.1:\d+ local=127\.0\.0\.1:\d+ upstream=127\.0\.0\.1:\d+ received=5 sent=0 flags=-/);

  await proxy.stop();
  assert.throws(() => process.kill(proxy.envoy.pid, 0), { code: 'ESRCH' }, 'Envoy is gone after stop()');
  assert.deepEqual(await proxy.envoy.exited, { code: 0, signal: null });
});

test('startEnvoy reports an Envoy that refuses its bootstrap: exit code and the lines that say why', async (t) => {
  const envoy = requireEnvoy(t);
  if (!envoy) return;
  const bad = launcher.renderBootstrap(TEMPLATE, { singleListener: { address: '127.0.0.1', port: 0 }, adminPort: 0 }).replace('runtime: envoy.wasm.runtime.v8', 'runtim: envoy.wasm.runtime.v8');
  const err = await launcher.startEnvoy({ bootstrap: bad, cwd: ROOT, env: { ...process.env, PPV2_ENVOY: envoy }, readyTimeoutMs: 60_000 }).then(() => null, (e) => e);
  assert.ok(err instanceof launcher.EnvoyExitError, String(err));
  assert.equal(err.code, 1);
  assert.ok(err.lines.some((l) => /\[critical\]\[main\].*runtim/.test(l)), err.message);
  assert.match(err.message, /^envoy exited \(1\) before it was ready:\n/);
});

test('startEnvoy without any Envoy says how to install one, offline route first', async () => {
  const bare = fs.mkdtempSync(path.join(os.tmpdir(), 'ppv2-project-bare-'));
  try {
    await assert.rejects(
      launcher.startEnvoy({ bootstrap: '', cwd: ROOT, env: { PATH: bare }, projectRoot: bare }),
      (e) => e.message === launcher.FUNC_E_INSTALL_HELP,
    );
  } finally {
    fs.rmSync(bare, { recursive: true, force: true });
  }
  assert.match(launcher.FUNC_E_INSTALL_HELP, /npm run install:envoy/);
  assert.match(launcher.FUNC_E_INSTALL_HELP, /func-e\.io\/install\.sh/);
});

test('npm run start:envoy in a checkout without .tools/, func-e or envoy says how to install them and exits 1', async (t) => {
  // A copy of the script and the launcher in a folder without .tools/, as a
  // fresh clone that has not run the install script would be.
  const checkout = tempDir(t, 'ppv2-checkout-');
  fs.mkdirSync(path.join(checkout, 'scripts'));
  fs.mkdirSync(path.join(checkout, 'dist', 'deploy'), { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'scripts', 'start-envoy.mjs'), path.join(checkout, 'scripts', 'start-envoy.mjs'));
  fs.copyFileSync(path.join(ROOT, 'dist', 'deploy', 'envoy-launcher.js'), path.join(checkout, 'dist', 'deploy', 'envoy-launcher.js'));
  fs.writeFileSync(path.join(checkout, 'package.json'), '{"type": "module"}\n');
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(checkout, 'node_modules'));
  const r = await new Promise((resolve) => {
    const child = spawn(process.execPath, ['scripts/start-envoy.mjs'], { cwd: checkout, env: { PATH: tempDir(t, 'ppv2-empty-') }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stderr }));
  });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^start:envoy: cannot run Envoy\.\nNeither func-e nor envoy was found/);
  assert.match(r.stderr, /npm run install:envoy/);
});

test('the launcher uses the project\'s func-e when it is installed', (t) => {
  if (!fs.existsSync(FUNC_E)) {
    if (process.env.CI === 'true') assert.fail('.tools/bin/func-e is missing; CI=true makes that a failure (bash scripts/install-envoy.sh)');
    t.skip('.tools/bin/func-e is missing (bash scripts/install-envoy.sh)');
    return;
  }
  const found = launcher.findEnvoy({ PATH: '' });
  assert.equal(found.command, FUNC_E);
  assert.deepEqual(found.env, { FUNC_E_DATA_HOME: path.join(ROOT, '.tools', 'func-e') });
});
