// Failure, as the real Envoy does it:
// - a bad plugin configuration in the bootstrap: Envoy refuses to start
//   (exit 1) after the filter's one error line, which names the key; the
//   failure policy does not change that;
// - the same configuration arriving later, by LDS: that listener is rejected,
//   Envoy keeps running and the other listeners keep serving;
// - the configuration's protobuf type: StringValue and BytesValue reach the
//   filter as they are; any other type, google.protobuf.Struct included, as
//   its protobuf bytes, which the filter refuses;
// - a module that traps (tests/fixtures/trap.wat: prepends "H", the stand-in
//   for a header, and traps on data starting with "!"), under each
//   failure_policy: what happens to the connection that trapped and to the
//   ones after it, and whether any byte reaches the backend without "H".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { parse, stringify } from 'yaml';
import { envoyFor, inspectBackend, connectOnce, record, REPO, RELEASE_WASM } from './harness.mjs';
import { requireEnvoy } from '../e2e/tools.mjs';
import { fixture as watFixture } from '../fixtures/wat.mjs';

const launcher = await import('../../dist/deploy/envoy-launcher.js');
const TEMPLATE = fs.readFileSync(path.join(REPO, 'envoy', 'envoy.yaml'), 'utf8');

/** envoy.yaml reduced to one listener on a free port, with these overrides. */
const bootstrap = (overrides) => launcher.renderBootstrap(TEMPLATE, {
  singleListener: { address: '127.0.0.1', port: 0 }, adminPort: 0, wasmPath: RELEASE_WASM, backend: { host: '127.0.0.1', port: 9 }, ...overrides,
});

/** Starts Envoy on `yaml` and expects it to refuse: resolves to its EnvoyExitError. */
async function refusal(t, binary, yaml) {
  const err = await launcher.startEnvoy({ bootstrap: yaml, cwd: REPO, env: { ...process.env, PPV2_ENVOY: binary }, readyTimeoutMs: 60_000 })
    .then(async (envoy) => { await envoy.stop(); return null; }, (e) => e);
  assert.ok(err instanceof launcher.EnvoyExitError, `Envoy started: ${err}`);
  return err;
}

const BAD_CONFIGURATIONS = [
  ['invalid JSON', '{"version": 2,}', 'invalid JSON at byte 14: expected a key'],
  ['an unknown key', '{"versoin": 2}', 'unknown key "versoin"; keys: version, on_unknown_address, crc32c, tlvs, reject_client_proxy_header (got 2)'],
  ['a value out of range', '{"version": 3}', 'version: expected 1 or 2 (got 3)'],
  ['a value of the wrong type', '{"crc32c": "yes"}', 'crc32c: expected true or false (got "yes")'],
  ['a value not among the choices', '{"on_unknown_address": "drop"}', 'on_unknown_address: expected "local" or "close" (got "drop")'],
  ['a TLV type the filter refuses', '{"tlvs": [{"type": 3, "hex": "00000000"}]}', 'tlvs[0].type: 3 is CRC32C; use "crc32c": true (got 3)'],
  ['TLVs with version 1', '{"version": 1, "tlvs": [{"type": "authority", "value": "a"}]}', 'tlvs: needs version 2 (PROXY v1 has no TLVs)'],
];

for (const [what, configuration, message] of BAD_CONFIGURATIONS) {
  test(`a bootstrap with ${what} in the plugin configuration: Envoy exits 1 after the filter's line naming it`, async (t) => {
    const binary = requireEnvoy(t);
    if (!binary) return;
    const err = await refusal(t, binary, bootstrap({ pluginConfiguration: configuration }));
    assert.equal(err.code, 1);
    const filterLine = err.lines.find((l) => l.includes('ppv2-wasm: bad plugin configuration'));
    assert.ok(filterLine, err.message);
    assert.match(filterLine, /\[error\]\[wasm\] .* wasm log ppv2: ppv2-wasm: bad plugin configuration: /);
    assert.ok(filterLine.endsWith(`ppv2-wasm: bad plugin configuration: ${message}`), filterLine);
    assert.ok(err.lines.some((l) => /\[critical\]\[main\] .*error `Unable to create Wasm plugin ppv2` initializing config/.test(l)), err.message);
    t.diagnostic(filterLine);
  });
}

test('FAIL_OPEN or FAIL_RELOAD do not let a bad plugin configuration through: Envoy still exits 1', async (t) => {
  const binary = requireEnvoy(t);
  if (!binary) return;
  for (const failurePolicy of ['FAIL_OPEN', 'FAIL_RELOAD']) {
    const err = await refusal(t, binary, bootstrap({ pluginConfiguration: '{"versoin": 2}', failurePolicy }));
    assert.equal(err.code, 1, failurePolicy);
    assert.ok(err.lines.some((l) => l.endsWith('bad plugin configuration: unknown key "versoin"; keys: version, on_unknown_address, crc32c, tlvs, reject_client_proxy_header (got 2)')), failurePolicy);
  }
});

test('a module Envoy cannot read: Envoy exits 1 naming the plugin', async (t) => {
  const binary = requireEnvoy(t);
  if (!binary) return;
  const err = await refusal(t, binary, bootstrap({ wasmPath: path.join(os.tmpdir(), 'ppv2-no-such-module.wasm') }));
  assert.equal(err.code, 1);
  assert.ok(err.lines.some((l) => /\[critical\]\[main\] .*(Unable to create Wasm plugin ppv2|ppv2-no-such-module\.wasm)/.test(l)), err.message);
});

/** The bootstrap's plugin configuration replaced by `any` (a google.protobuf.Any as YAML). */
function withConfigurationAny(any) {
  const b = parse(bootstrap({}));
  b.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.config.configuration = any;
  return stringify(b);
}

test('the plugin configuration reaches the filter as JSON from a StringValue or a BytesValue; a Struct arrives as protobuf bytes, which it refuses', async (t) => {
  const binary = requireEnvoy(t);
  if (!binary) return;
  const inspect = await inspectBackend(t);
  const bytes = parse(withConfigurationAny({ '@type': 'type.googleapis.com/google.protobuf.BytesValue', value: Buffer.from('{"version": 1}').toString('base64') }));
  bytes.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value = inspect.port;
  const envoy = await launcher.startEnvoy({ bootstrap: stringify(bytes), cwd: REPO, env: { ...process.env, PPV2_ENVOY: binary }, readyTimeoutMs: 60_000 });
  t.after(() => envoy.stop());
  const reply = await connectOnce({ port: Object.values(envoy.listenerPorts)[0] });
  assert.match(Buffer.from(record(reply).headerHex, 'hex').toString(), /^PROXY TCP4 /, 'the BytesValue {"version": 1} was read');

  // Struct {version: 1} as protobuf: 0a 14 0a 07 "version" ...; 0x0a is JSON
  // whitespace, 0x14 is where the reader stops.
  const struct = await refusal(t, binary, withConfigurationAny({ '@type': 'type.googleapis.com/google.protobuf.Struct', value: { version: 1 } }));
  assert.ok(struct.lines.some((l) => l.endsWith('wasm log ppv2: ppv2-wasm: bad plugin configuration: invalid JSON at byte 1: unexpected character')), struct.message);
  const number = await refusal(t, binary, withConfigurationAny({ '@type': 'type.googleapis.com/google.protobuf.UInt32Value', value: 2 }));
  assert.ok(number.lines.some((l) => /wasm log ppv2: ppv2-wasm: bad plugin configuration: invalid JSON at byte 0/.test(l)), number.message);
});

test('a bad plugin configuration arriving by LDS: that listener is rejected, Envoy keeps running, and the other listener keeps serving', async (t) => {
  const binary = requireEnvoy(t);
  if (!binary) return;
  const inspect = await inspectBackend(t);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ppv2-lds-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const ldsPath = path.join(dir, 'lds.yaml');
  /** envoy.yaml's listener as an LDS resource named `name`, with `configuration`. */
  const listener = (name, configuration) => {
    const l = parse(bootstrap({ pluginConfiguration: configuration })).static_resources.listeners[0];
    return { '@type': 'type.googleapis.com/envoy.config.listener.v3.Listener', ...l, name };
  };
  // Envoy watches the file for a move onto it: write aside, then rename.
  const publish = (resources) => {
    fs.writeFileSync(`${ldsPath}.next`, stringify({ resources }));
    fs.renameSync(`${ldsPath}.next`, ldsPath);
  };
  publish([listener('good', '{}')]);
  const b = parse(bootstrap({ backend: { host: '127.0.0.1', port: inspect.port } }));
  delete b.static_resources.listeners;
  // A file-based LDS needs a node identity.
  b.node = { id: 'ppv2-test', cluster: 'ppv2-test' };
  b.dynamic_resources = { lds_config: { resource_api_version: 'V3', path_config_source: { path: ldsPath } } };
  const lines = [];
  const envoy = await launcher.startEnvoy({ bootstrap: stringify(b), cwd: REPO, env: { ...process.env, PPV2_ENVOY: binary }, readyTimeoutMs: 60_000, onLine: (l) => lines.push(l) });
  t.after(() => envoy.stop());
  const goodPort = envoy.listenerPorts.good;
  assert.ok(goodPort, JSON.stringify(envoy.listenerPorts));

  publish([listener('good', '{}'), listener('bad', '{"tlvs": [{"type": 3, "hex": "00000000"}]}')]);
  const deadline = Date.now() + 15_000;
  let rejected = 0;
  while (Date.now() < deadline && rejected === 0) {
    rejected = (await envoy.stats('listener_manager.lds.update_rejected'))['listener_manager.lds.update_rejected'] ?? 0;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(rejected, 1, 'listener_manager.lds.update_rejected');
  assert.ok(lines.some((l) => l.endsWith('wasm log ppv2: ppv2-wasm: bad plugin configuration: tlvs[0].type: 3 is CRC32C; use "crc32c": true (got 3)')), lines.filter((l) => l.includes('wasm')).join('\n'));
  const rejection = lines.find((l) => /gRPC config for type\.googleapis\.com\/envoy\.config\.listener\.v3\.Listener rejected|Error adding\/updating listener/.test(l));
  assert.ok(rejection, lines.slice(-15).join('\n'));
  assert.match(rejection, /bad/);
  t.diagnostic(rejection);
  const listeners = JSON.parse((await envoy.admin('/listeners?format=json')).body).listener_statuses.map((l) => l.name);
  assert.deepEqual(listeners, ['good']);
  assert.equal((await envoy.admin('/ready')).body.trim(), 'LIVE');
  assert.equal(record(await connectOnce({ port: goodPort })).header.family, 'TCP4', 'the good listener still serves');
});

/** A backend that records each connection's bytes (with allowHalfOpen) and answers "ok". */
async function recordingBackend(t) {
  const received = [];
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    const chunks = [];
    socket.on('data', (d) => chunks.push(d));
    socket.on('end', () => { received.push(Buffer.concat(chunks).toString('latin1')); socket.end('ok'); });
    socket.on('error', () => received.push(`${Buffer.concat(chunks).toString('latin1')} [reset]`));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => new Promise((r) => server.close(r)));
  return { port: server.address().port, received };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * The trap fixture under `failurePolicy`: one good connection, one that
 * traps, then more good ones (spaced out, past FAIL_RELOAD's 1 s backoff for
 * the last). Resolves to what each client got and what the backend got.
 */
async function trapRun(t, failurePolicy) {
  const binary = requireEnvoy(t);
  if (!binary) return null;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ppv2-trap-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const wasm = path.join(dir, 'trap.wasm');
  fs.writeFileSync(wasm, watFixture('trap'));
  const backend = await recordingBackend(t);
  // One worker: every connection meets the same VM.
  // null: no failure_policy at all, Envoy's default.
  const envoy = await envoyFor(t, { upstreamPort: backend.port, wasm, failurePolicy, args: ['--concurrency', '1'] });
  const clients = {};
  for (const [name, data, pauseMs] of [['before', 'a', 0], ['trap', '!b', 300], ['after', 'c', 300], ['later', 'd', 1500]]) {
    await sleep(pauseMs);
    const reply = await connectOnce({ port: envoy.port, send: [Buffer.from(data)] });
    clients[name] = reply.data.toString() || (reply.error ? `[${reply.error.code}]` : '[closed]');
  }
  await sleep(300);
  return { clients, backend: backend.received, log: envoy.stderr() };
}

test('a trap under FAIL_CLOSED (and with failure_policy unset): the connection is closed, and so is every later one; no byte reaches the backend without the header', async (t) => {
  for (const policy of ['FAIL_CLOSED', null]) {
    const run = await trapRun(t, policy);
    if (!run) return;
    t.diagnostic(`${policy ?? 'unset'}: clients ${JSON.stringify(run.clients)}, backend ${JSON.stringify(run.backend)}`);
    assert.equal(run.clients.before, 'ok');
    assert.equal(run.clients.trap, '[closed]');
    assert.notEqual(run.clients.after, 'ok');
    assert.notEqual(run.clients.later, 'ok');
    assert.match(run.log, /\[error\]\[wasm\] .*Function: proxy_on_downstream_data failed: Uncaught RuntimeError: unreachable/);
    for (const bytes of run.backend) assert.ok(bytes === '' || bytes.startsWith('H'), `backend got ${JSON.stringify(bytes)}`);
    assert.equal(run.backend.filter((b) => b.startsWith('H')).length, 1, 'only the first connection reached the backend with data');
  }
});

test('a trap under FAIL_OPEN: later connections skip the filter and reach the backend WITHOUT the header', async (t) => {
  const run = await trapRun(t, 'FAIL_OPEN');
  if (!run) return;
  t.diagnostic(`clients ${JSON.stringify(run.clients)}, backend ${JSON.stringify(run.backend)}`);
  assert.equal(run.clients.trap, '[closed]');
  assert.equal(run.clients.after, 'ok');
  assert.ok(run.backend.includes('c') && run.backend.includes('d'), 'bytes without a header reached the backend');
});

test('a trap under FAIL_RELOAD: the connection is closed, a later one gets a fresh VM and the header; none gets a byte through without it', async (t) => {
  const run = await trapRun(t, 'FAIL_RELOAD');
  if (!run) return;
  t.diagnostic(`clients ${JSON.stringify(run.clients)}, backend ${JSON.stringify(run.backend)}`);
  assert.equal(run.clients.trap, '[closed]');
  // Within the reload backoff (1 s base, PluginConfig.reload_config) a
  // connection is closed as under FAIL_CLOSED; after it, the VM is new.
  assert.ok(['ok', '[closed]', '[ECONNRESET]'].includes(run.clients.after), run.clients.after);
  assert.equal(run.clients.later, 'ok');
  for (const bytes of run.backend) assert.ok(bytes === '' || bytes.startsWith('H'), `backend got ${JSON.stringify(bytes)}`);
  assert.ok(run.backend.some((b) => b.startsWith('Hd')), 'the last connection reached the backend after the header');
});
