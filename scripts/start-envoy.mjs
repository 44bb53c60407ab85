#!/usr/bin/env node
// `npm run start:envoy [-- --config envoy/envoy-tls.yaml] [-- --plugin-config FILE.json]`:
// the `inspect` backend on 127.0.0.1:9000 plus a real Envoy on the chosen
// bootstrap, run through the project's func-e (.tools/bin/func-e with
// FUNC_E_DATA_HOME=.tools/func-e, installed by `npm run install:envoy`: no
// download), else func-e on PATH, else an envoy binary on PATH (PPV2_ENVOY
// names one explicitly). func-e runs the version in .envoy-version.
// Ctrl-C stops both. Without any of them it says how to install them and
// exits 1.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const USAGE = `usage: npm run start:envoy [-- --config FILE] [--plugin-config FILE.json] [--backend HOST:PORT] [--no-backend]
  --config FILE           Envoy bootstrap (default envoy/envoy.yaml)
  --plugin-config FILE    run the wasm filters with this plugin configuration JSON (e.g. envoy/plugin-configs/tlvs-from-connection.json)
  --backend HOST:PORT     where the inspect backend listens and Envoy's "backend" cluster points (default 127.0.0.1:9000)
  --no-backend            do not start the inspect backend (bring your own at the backend address)`;

function fail(message, code = 1) {
  console.error(`start:envoy: ${message}`);
  process.exit(code);
}

const opts = { config: 'envoy/envoy.yaml', pluginConfig: undefined, backend: '127.0.0.1:9000', startBackend: true };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const v = argv[i + 1];
  if ((a === '--config' || a === '-c') && v) (opts.config = v), i++;
  else if (a === '--plugin-config' && v) (opts.pluginConfig = v), i++;
  else if (a === '--backend' && v) (opts.backend = v), i++;
  else if (a === '--no-backend') opts.startBackend = false;
  else if (a === '-h' || a === '--help') {
    console.log(USAGE);
    process.exit(0);
  } else fail(`unknown or incomplete option ${a}\n${USAGE}`, 2);
}

const launcherPath = path.join(root, 'dist', 'deploy', 'envoy-launcher.js');
if (!fs.existsSync(launcherPath)) fail('dist/ is missing: run npm run build first');
const { findEnvoy, renderBootstrap, stopChild, FUNC_E_INSTALL_HELP } = await import(launcherPath);

const envoy = findEnvoy(process.env, root);
if (!envoy) fail(`cannot run Envoy.\n${FUNC_E_INSTALL_HELP}`);
if (!fs.existsSync(path.join(root, 'build', 'ppv2.wasm'))) fail('build/ppv2.wasm is missing: run npm run build first');
if (!fs.existsSync(path.resolve(root, opts.config))) fail(`no such bootstrap: ${opts.config}`);

const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(opts.backend);
if (!m) fail(`--backend must be HOST:PORT, got ${JSON.stringify(opts.backend)}`, 2);
const backend = { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) };

let template = fs.readFileSync(path.resolve(root, opts.config), 'utf8');
if (template.includes('build/test-certs/') && !fs.existsSync(path.join(root, 'build', 'test-certs', 'server.crt'))) {
  console.error('start:envoy: making TEST-ONLY certificates in build/test-certs/');
  const r = spawnSync('sh', [path.join(root, 'scripts', 'make-test-certs.sh'), 'build/test-certs'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) fail('could not make the test certificates');
}

// The shipped bootstraps are used as they are unless something is overridden.
let configFile = opts.config;
const overrides = {};
if (opts.pluginConfig) {
  const text = fs.readFileSync(path.resolve(root, opts.pluginConfig), 'utf8');
  try {
    JSON.parse(text);
  } catch (err) {
    fail(`${opts.pluginConfig} is not JSON: ${err.message}`);
  }
  overrides.pluginConfiguration = text;
}
if (opts.backend !== '127.0.0.1:9000') overrides.backend = backend;
if (Object.keys(overrides).length > 0) {
  configFile = path.join('build', 'envoy-bootstrap.yaml');
  fs.writeFileSync(path.join(root, configFile), renderBootstrap(template, overrides));
  console.error(`start:envoy: wrote ${configFile} from ${opts.config}`);
}

const children = [];
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'ppv2-start-envoy-'));
let stopping = false;
async function stopAll(code) {
  if (stopping) return;
  stopping = true;
  await Promise.all(children.map((c) => stopChild(c)));
  fs.rmSync(scratch, { recursive: true, force: true });
  process.exit(code);
}
process.on('SIGINT', () => stopAll(130));
process.on('SIGTERM', () => stopAll(143));

if (opts.startBackend) {
  const inspect = spawn(process.execPath, [path.join(root, 'bin', 'ppv2-wasm.js'), 'inspect', '--listen', opts.backend], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'pipe'],
    detached: true,
  });
  children.push(inspect);
  inspect.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`start:envoy: the inspect backend stopped (${signal ?? code})`);
      stopAll(1);
    }
  });
  // Envoy starts once the backend listens, so that no early connection is refused upstream.
  await new Promise((resolve) => {
    let seen = '';
    inspect.stderr.on('data', (chunk) => {
      process.stderr.write(chunk);
      if (!seen.includes('listening on')) {
        seen += chunk;
        if (seen.includes('listening on')) resolve();
      }
    });
    inspect.once('exit', resolve);
  });
}

const shown = envoy.via === 'func-e' ? `${envoy.command === path.join(root, '.tools', 'bin', 'func-e') ? '.tools/bin/func-e' : 'func-e'} run` : envoy.command;
console.error(`start:envoy: ${shown} -c ${configFile}`);
// Envoy writes its admin address here once it listens; start:envoy waits for
// it to say LIVE, then prints the version and how to try it.
const adminPath = path.join(scratch, 'admin-address');
// --file-flush-interval-msec: each access-log line shows within 0.1 s (Envoy's default is 10 s).
const proc = spawn(envoy.command, [...envoy.prefix, '-c', configFile, '--admin-address-path', adminPath, '--file-flush-interval-msec', '100'], {
  cwd: root,
  env: { ...process.env, ...envoy.env },
  stdio: ['ignore', 'inherit', 'inherit'],
  detached: true,
});
children.push(proc);
proc.on('error', (err) => {
  console.error(`start:envoy: could not start ${envoy.command}: ${err.message}`);
  stopAll(1);
});
proc.on('exit', (code, signal) => {
  if (stopping) return;
  console.error(`start:envoy: envoy stopped (${signal ?? code})`);
  stopAll(code ?? 1);
});

/** A client command for the bootstrap's first listener. */
function tryIt(bootstrap) {
  if (bootstrap.includes('DownstreamTlsContext')) {
    return 'echo hello | openssl s_client -quiet -connect 127.0.0.1:10443 -servername demo.ppv2.test -CAfile build/test-certs/ca.crt -cert build/test-certs/client.crt -key build/test-certs/client.key';
  }
  // Behind a load balancer: the client plays it and sends a PROXY header first.
  if (bootstrap.includes('envoy.filters.listener.proxy_protocol')) {
    return "printf 'PROXY TCP4 192.0.2.10 198.51.100.20 4000 443\\r\\nhello\\n' | nc -q1 127.0.0.1 10000";
  }
  return "printf 'hello\\n' | nc -q1 127.0.0.1 10000";
}

function get(url) {
  return new Promise((resolve) => {
    http.get(url, { timeout: 1000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    }).on('error', () => resolve(null)).on('timeout', function () { this.destroy(); });
  });
}

// func-e may first download Envoy (func-e on PATH, with internet): no deadline.
for (;;) {
  if (stopping) break;
  const admin = fs.existsSync(adminPath) ? fs.readFileSync(adminPath, 'utf8').trim() : '';
  const ready = admin ? await get(`http://${admin}/ready`) : null;
  if (ready?.status === 200 && ready.body.trim() === 'LIVE') {
    const info = await get(`http://${admin}/server_info`);
    const version = info ? String(JSON.parse(info.body).version ?? '').split('/')[1] : undefined;
    console.error(`start:envoy: Envoy ${version ?? '(version unknown)'} is ready; admin on http://${admin}. Try, in another terminal:
  ${tryIt(template)}
  curl -s 'http://${admin}/stats?filter=wasmcustom'     (counters are flushed every second)
Ctrl-C stops Envoy and the backend.`);
    break;
  }
  await new Promise((r) => setTimeout(r, 100));
}
