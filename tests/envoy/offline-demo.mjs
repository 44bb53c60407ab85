// Run by tests/envoy/offline.test.mjs inside a fresh network namespace that
// has only loopback (netns.mjs), from the repository root:
//
//   node tests/envoy/offline-demo.mjs func-e        .tools/bin/func-e run -c envoy/envoy.yaml
//                                                   and the inspect backend on 127.0.0.1:9000
//   node tests/envoy/offline-demo.mjs start-envoy [ARGS]
//                                                   node scripts/start-envoy.mjs [ARGS] (npm run start:envoy)
//
// Either way it then sends one connection to each shipped listener
// (127.0.0.1:10000 from 127.0.0.2, [::1]:10001), reads the counters from the
// admin port 9901, stops everything (SIGINT, as Ctrl-C would) and prints one
// JSON line: the replies, the output, the counters, the exit, and every
// request that reached the recorder. The recorder is func-e's
// ENVOY_VERSIONS_URL and its HTTP(S)_PROXY: a download attempt to anywhere
// would show there, and the namespace has no route out anyway.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const mode = process.argv[2];
if (mode !== 'func-e' && mode !== 'start-envoy') throw new Error(`usage: offline-demo.mjs func-e|start-envoy (got ${mode})`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const requests = [];
const recorder = http.createServer((req, res) => {
  requests.push(`${req.method} ${req.url}`);
  res.writeHead(404).end();
});
recorder.on('connect', (req, socket) => {
  requests.push(`CONNECT ${req.url}`);
  socket.destroy();
});
recorder.listen(0, '127.0.0.1');
await once(recorder, 'listening');
const recorderUrl = `http://127.0.0.1:${recorder.address().port}`;

const state = fs.mkdtempSync(path.join(os.tmpdir(), 'ppv2-func-e-state-'));
const env = {
  ...process.env,
  ENVOY_VERSIONS_URL: `${recorderUrl}/envoy-versions.json`,
  HTTP_PROXY: recorderUrl, HTTPS_PROXY: recorderUrl, http_proxy: recorderUrl, https_proxy: recorderUrl,
  FUNC_E_STATE_HOME: state,
};
// start:envoy must find the project's func-e and its data folder by itself,
// as for a user: no PPV2_ENVOY (which it would prefer), no FUNC_E_DATA_HOME.
delete env.FUNC_E_DATA_HOME;
delete env.PPV2_ENVOY;
if (mode === 'func-e') env.FUNC_E_DATA_HOME = path.join(ROOT, '.tools', 'func-e');

const output = [];
const children = [];
function run(command, args) {
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  for (const stream of [child.stdout, child.stderr]) {
    let rest = '';
    stream.setEncoding('utf8');
    stream.on('data', (c) => {
      rest += c;
      const parts = rest.split('\n');
      rest = parts.pop();
      output.push(...parts);
    });
  }
  child.closed = once(child, 'close');
  children.push(child);
  return child;
}

function get(url) {
  return new Promise((resolve, reject) => {
    http.get(url, { timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    }).on('error', reject).on('timeout', function () { this.destroy(new Error('timeout')); });
  });
}

/** One connection: send a line, half-close, read until the backend closes. */
function exchange(host, port, localAddress) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, localAddress, allowHalfOpen: true });
    let data = '';
    let local;
    socket.setEncoding('utf8');
    socket.on('connect', () => {
      local = { address: socket.localAddress, port: socket.localPort };
      socket.end('hello\n');
    });
    socket.on('data', (d) => (data += d));
    socket.on('end', () => socket.end());
    socket.on('error', (e) => (data += `[${e.code}]`));
    socket.on('close', () => resolve({ local, reply: data }));
  });
}

const result = { mode, requests, output, replies: [], stats: null, exit: null, error: null };
try {
  const main = mode === 'func-e'
    ? run(path.join(ROOT, '.tools', 'bin', 'func-e'), ['run', '-c', 'envoy/envoy.yaml', '--disable-hot-restart'])
    : run(process.execPath, ['scripts/start-envoy.mjs', ...process.argv.slice(3)]);
  if (mode === 'func-e') {
    const inspect = run(process.execPath, ['bin/ppv2-wasm.js', 'inspect', '--listen', '127.0.0.1:9000']);
    // Connections wait for the backend to listen, so that none is refused upstream.
    while (!output.some((l) => l.includes('listening on 127.0.0.1:9000'))) {
      if (inspect.exitCode !== null) throw new Error(`inspect exited (${inspect.exitCode})`);
      await sleep(50);
    }
  }
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (main.exitCode !== null) throw new Error(`${mode} exited (${main.exitCode}) before Envoy was ready`);
    if (Date.now() > deadline) throw new Error('Envoy was not ready on 127.0.0.1:9901 within 60 s');
    const ready = await get('http://127.0.0.1:9901/ready').catch(() => null);
    if (ready?.status === 200 && ready.body.trim() === 'LIVE') break;
    await sleep(100);
  }
  result.replies.push(await exchange('127.0.0.1', 10000, '127.0.0.2'));
  result.replies.push(await exchange('::1', 10001));
  // The filter flushes its counters every second: wait for both headers (bounded).
  const counted = Date.now() + 10_000;
  do {
    await sleep(200);
    result.stats = (await get('http://127.0.0.1:9901/stats?filter=wasmcustom')).body;
  } while (!/headers_written: 2$/m.test(result.stats) && Date.now() < counted);
  main.kill('SIGINT');
  const [code, signal] = await main.closed;
  result.exit = { code, signal };
} catch (error) {
  result.error = error.message;
} finally {
  for (const child of children) {
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  await Promise.all(children.map((c) => c.closed));
  recorder.close();
  fs.rmSync(state, { recursive: true, force: true });
}
process.stdout.write(`${JSON.stringify(result)}\n`);
