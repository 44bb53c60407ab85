// `npm start`: the filter in a local proxy in front of a backend that shows
// the decoded header. Builds first if needed, starts
//   ppv2-wasm inspect on 127.0.0.1:9000 (the backend), and
//   ppv2-wasm proxy   on 127.0.0.1:10000, upstream to it, running build/ppv2.wasm,
// prints how to try it, shows each connection as it arrives, and stops both
// on Ctrl-C or SIGTERM. PPV2_DEMO_PROXY / PPV2_DEMO_BACKEND override the
// addresses (HOST:PORT).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const USAGE = `usage: npm start   (no options)
Starts the demo: ppv2-wasm inspect (the backend) and ppv2-wasm proxy running
build/ppv2.wasm in front of it; Ctrl-C stops both. Addresses, HOST:PORT:
  PPV2_DEMO_PROXY     where the proxy listens (default 127.0.0.1:10000)
  PPV2_DEMO_BACKEND   where the backend listens (default 127.0.0.1:9000)`;
const args = process.argv.slice(2);
if (args.length > 0) {
  const help = args.includes('--help') || args.includes('-h');
  if (!help) console.error(`npm start: unexpected argument "${args[0]}"`);
  (help ? console.log : console.error)(USAGE);
  process.exit(help ? 0 : 2);
}

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = fileURLToPath(new URL('../bin/ppv2-wasm.js', import.meta.url));
const proxyAt = process.env.PPV2_DEMO_PROXY ?? '127.0.0.1:10000';
const backendAt = process.env.PPV2_DEMO_BACKEND ?? '127.0.0.1:9000';

const needed = ['build/ppv2.wasm', 'dist/cli/main.js', 'dist/host/index.js', 'dist/proxy-protocol/index.js'];
const missing = needed.filter((file) => !existsSync(new URL(`../${file}`, import.meta.url)));
if (missing.length > 0) {
  console.log(`Building first (missing: ${missing.join(', ')}) ...`);
  const build = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
  if (build.status !== 0) {
    console.error('npm start: the build failed; see above.');
    process.exit(1);
  }
}

const children = [];
let stopping = false;

function start(name, args, onStdoutLine) {
  const child = spawn(process.execPath, [bin, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const ready = new Promise((resolve) => {
    createInterface({ input: child.stderr }).on('line', (line) => {
      if (/listening on/.test(line)) resolve();
      else if (!/SIGTERM|SIGINT/.test(line)) console.error(`[${name}] ${line}`);
    });
  });
  createInterface({ input: child.stdout }).on('line', onStdoutLine);
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`npm start: ${name} exited (${signal ?? code}); stopping.`);
      stop(1);
    }
  });
  return ready;
}

function stop(code) {
  if (stopping) return;
  stopping = true;
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  const timer = setTimeout(() => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  }, 5000);
  timer.unref();
  Promise.all(children.map((child) => child.exitCode !== null || child.signalCode !== null
    ? null
    : new Promise((resolve) => child.once('exit', resolve)))).then(() => process.exit(code));
}

process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));

const [proxyHost, proxyPort] = splitHostPort(proxyAt);

await Promise.all([
  start('inspect', ['inspect', '--listen', backendAt], showHeader),
  // The demo shows the proxy's lines without the time each starts with.
  start('proxy', ['proxy', '--listen', proxyAt, '--upstream', backendAt], (line) => console.log(`proxy    ${line.replace(/^\S+Z /, '')}`)),
]);

const url = `${proxyHost.includes(':') ? `[${proxyHost}]` : proxyHost}:${proxyPort}`;
console.log(`ppv2-wasm demo
  proxy    ${proxyAt}  runs build/ppv2.wasm on every connection, upstream to the backend
  backend  ${backendAt}  (ppv2-wasm inspect) requires a PROXY header and decodes it

Try it (the backend sends the decoded header back):
  curl --http0.9 -s http://${url}/
  curl --http0.9 -s --interface 127.0.0.2 http://${url}/    (the header carries 127.0.0.2, the proxy connects from 127.0.0.1)
Each connection is shown below as it arrives. Ctrl-C stops both.
`);

function showHeader(line) {
  let record;
  try {
    record = JSON.parse(line);
  } catch {
    console.log(`backend  ${line}`);
    return;
  }
  if (record.error) {
    console.log(`backend  ${record.peer}: rejected: ${record.error}`);
    return;
  }
  const h = record.header;
  const endpoints = h.source ? `${show(h.source)} -> ${show(h.destination)}` : '(no addresses)';
  const tlvs = h.tlvs.length ? `, TLVs: ${h.tlvs.map((t) => (t.text ? `${t.name}="${t.text}"` : t.name)).join(', ')}` : '';
  console.log(`backend  v${h.version} ${h.command} ${h.family} ${endpoints}${tlvs}  [${h.length} bytes from ${record.peer}]`);
  console.log(`         ${record.headerHex}`);
}

function show(endpoint) {
  if (endpoint.port === null) return endpoint.address;
  return endpoint.address.includes(':') ? `[${endpoint.address}]:${endpoint.port}` : `${endpoint.address}:${endpoint.port}`;
}

function splitHostPort(text) {
  const at = text.lastIndexOf(':');
  return [text.slice(0, at).replace(/^\[|\]$/g, ''), text.slice(at + 1)];
}
