// The Envoy launcher and `npm run start:envoy`, driven against a stand-in
// Envoy (fixtures/fake-envoy.mjs): no Envoy can run on the build machines.
// What is checked here is our side: finding Envoy, the derived bootstraps
// (still valid against Envoy's protos), flags, readiness, stats and cleanup.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { ROOT, MODULE, fixture } from './helpers.mjs';

const launcher = await import('../../dist/deploy/envoy-launcher.js');
const { envoyBootstrapProblems } = await import('../../dist/deploy/validate.js');
const { checkEnvoyBootstrap } = await import('../../dist/deploy/envoy-checks.js');

/** A PATH holding only node and the given fakes ("envoy", "func-e"). */
function fakePath(t, fakes) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ppv2-fake-envoy-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.symlinkSync(process.execPath, path.join(dir, 'node'));
  for (const name of fakes) {
    const drop = name === 'func-e' ? '[ "$1" = run ] && shift\n' : '';
    fs.writeFileSync(path.join(dir, name), `#!/bin/sh\n${drop}exec "${process.execPath}" "${fixture('fake-envoy.mjs')}" "$@"\n`, { mode: 0o755 });
  }
  return dir;
}

/** Runs a command to its end, bounded; resolves { code, stdout, stderr }. */
function run(cmd, args, options, timeoutMs = 30_000) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')}: no exit within ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('findEnvoy prefers PPV2_ENVOY, then func-e, then envoy, else null', (t) => {
  const both = fakePath(t, ['envoy', 'func-e']);
  const onlyEnvoy = fakePath(t, ['envoy']);
  const none = fakePath(t, []);
  assert.equal(launcher.findEnvoy({ PATH: both }).via, 'func-e');
  assert.deepEqual(launcher.findEnvoy({ PATH: both }).prefix, ['run']);
  assert.equal(launcher.findEnvoy({ PATH: onlyEnvoy }).via, 'envoy');
  assert.equal(launcher.findEnvoy({ PATH: none }), null);
  assert.equal(launcher.findEnvoy({ PATH: none, PPV2_ENVOY: '/opt/envoy' }).command, '/opt/envoy');
});

test('renderBootstrap applies ports, backend, module and configuration, and the result still passes the validator', async () => {
  const template = fs.readFileSync(path.join(ROOT, 'envoy', 'envoy.yaml'), 'utf8');
  const text = launcher.renderBootstrap(template, {
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
  assert.deepEqual(envoyBootstrapProblems(b), []);
  assert.deepEqual(await checkEnvoyBootstrap(b, { cwd: ROOT, moduleFile: MODULE }), []);

  const single = parse(launcher.renderBootstrap(template, { singleListener: { address: '::1', port: 0 }, failurePolicy: 'FAIL_OPEN' }));
  assert.deepEqual(single.static_resources.listeners.map((l) => l.address.socket_address), [{ address: '::1', port_value: 0 }]);
  assert.equal(single.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.config.failure_policy, 'FAIL_OPEN');
});

test('startEnvoyProxy starts Envoy with the derived bootstrap, waits for LIVE, reads ports and stats, and stops it', async (t) => {
  const dir = fakePath(t, ['envoy']);
  const argsFile = path.join(dir, 'args.json');
  const proxy = await launcher.startEnvoyProxy({
    cwd: ROOT,
    upstreamPort: 9555,
    configuration: '{"version": 2}',
    env: { PATH: dir, FAKE_ENVOY_ARGS: argsFile },
    readyTimeoutMs: 20_000,
  });
  t.after(() => proxy.stop());
  assert.equal(proxy.host, '127.0.0.1');
  assert.equal(proxy.port, 20000);
  assert.deepEqual(await proxy.stats('wasmcustom'), { 'wasmcustom.ppv2.headers_written': 7 });
  assert.deepEqual(proxy.lines, ['fake access log line']);
  const args = JSON.parse(fs.readFileSync(argsFile, 'utf8'));
  for (const f of ['-c', '--admin-address-path', '--disable-hot-restart', '--log-level']) assert.ok(args.includes(f), f);
  await proxy.stop();
});

test('startEnvoy reports an Envoy that exits before it is ready, with its last lines', async (t) => {
  const dir = fakePath(t, ['envoy']);
  await assert.rejects(
    launcher.startEnvoy({ bootstrap: 'admin: {}\n', cwd: ROOT, env: { PATH: dir, FAKE_ENVOY_FAIL: '1' }, readyTimeoutMs: 20_000 }),
    /envoy exited \(1\) before it was ready:\n.*bad bootstrap/,
  );
  await assert.rejects(launcher.startEnvoy({ bootstrap: '', cwd: ROOT, env: { PATH: fakePath(t, []) } }), /Neither func-e nor envoy was found/);
});

test('npm run start:envoy without func-e or envoy says how to install func-e and exits 1', async (t) => {
  const r = await run(process.execPath, ['scripts/start-envoy.mjs'], { cwd: ROOT, env: { PATH: fakePath(t, []) } });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /Neither func-e nor envoy was found on PATH/);
  assert.match(r.stderr, /func-e\.io\/install\.sh/);
  assert.match(r.stderr, /\.envoy-version/);
});

test('npm run start:envoy runs the inspect backend and `func-e run -c <bootstrap>` wired to it', async (t) => {
  if (!fs.existsSync(MODULE) || !fs.existsSync(path.join(ROOT, 'dist', 'cli', 'main.js'))) {
    if (process.env.CI === 'true') assert.fail('build/ppv2.wasm or dist/cli is missing; CI=true makes that a failure');
    t.skip('run npm run build first');
    return;
  }
  const dir = fakePath(t, ['func-e']);
  const port = await new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port: p } = s.address();
      s.close(() => resolve(p));
    });
  });
  const probe = path.join(dir, 'probe.txt');
  const argsFile = path.join(dir, 'args.json');
  const r = await run(process.execPath, ['scripts/start-envoy.mjs', '--backend', `127.0.0.1:${port}`], {
    cwd: ROOT,
    env: { PATH: dir, FAKE_ENVOY_PROBE: probe, FAKE_ENVOY_ARGS: argsFile },
  });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(fs.readFileSync(argsFile, 'utf8')), ['-c', 'build/envoy-bootstrap.yaml']);
  const record = JSON.parse(fs.readFileSync(probe, 'utf8').trim());
  assert.deepEqual([record.header.version, record.header.source, record.header.destination], [2, { address: '192.0.2.1', port: 12345 }, { address: '198.51.100.1', port: 80 }]);
  assert.match(r.stderr, /func-e run -c build\/envoy-bootstrap\.yaml/);
});
