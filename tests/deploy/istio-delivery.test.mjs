// The path a WasmPlugin takes in Istio, walked with the real pieces and no
// cluster: `npm run image`'s output pushed with skopeo to a real registry
// (Debian's docker-registry), pulled back by Istio's own fetcher, turned into
// an ECDS resource by istiod's own code, rewritten to a local file by the
// agent's own code (tests/istio, ppv2-istio), and served to a real Envoy over
// ECDS from a watched file, which stands in for istiod's ADS stream.
// Then the resource is changed under traffic, as editing the WasmPlugin does.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseDocument, parse } from 'yaml';
import { ROOT, MODULE, requireIstioTool } from './helpers.mjs';
import { startRegistry, pushImage } from './registry.mjs';
import { requireEnvoy, requireTool } from '../e2e/tools.mjs';
import { startHaproxy } from '../e2e/consumers.mjs';

const { runIstioTool } = await import('../../dist/deploy/istio-go.js');
const { ecdsResponse, renderEcdsBootstrap, replaceFile } = await import('../../dist/deploy/ecds.js');
const { startEnvoy } = await import('../../dist/deploy/envoy-launcher.js');
const { buildWasmImage } = await import('../../dist/deploy/oci-image.js');
const { createInspectServer } = await import('../../dist/cli/inspect.js');

const sha256 = (b) => createHash('sha256').update(b).digest('hex');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const ECDS_TEMPLATE = fs.readFileSync(path.join(ROOT, 'deploy', 'ecds', 'envoy.yaml'), 'utf8');
const WASM_NETWORK = 'type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm';
const RBAC_NETWORK = 'type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC';

const cleanups = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

let shared;
/** Envoy, skopeo, docker-registry and Go, or null after failing (CI) / skipping the test. */
async function world(t) {
  const envoy = requireEnvoy(t);
  if (!envoy) return null;
  const tools = {};
  for (const name of ['skopeo', 'docker-registry', 'haproxy']) {
    tools[name] = requireTool(t, name);
    if (!tools[name]) return null;
  }
  if (!fs.existsSync(MODULE)) assert.fail(`${MODULE} is missing (npm run build)`);
  const started = Date.now();
  const tool = await requireIstioTool(t);
  if (!tool) return null;
  const toolMs = Date.now() - started;
  shared ??= (async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ppv2-istio-path-'));
    cleanups.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
    fs.mkdirSync(path.join(dir, 'cache'));
    const registry = await startRegistry(tools['docker-registry']);
    cleanups.push(registry.stop);
    const ref = `${registry.address}/ppv2-wasm:0.1.0`;
    const image = spawnSync(process.execPath, ['dist/deploy/image.js', '--ref', ref, '--out', path.join(dir, 'ppv2-oci.tar')], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    assert.equal(image.status, 0, image.stderr);
    await pushImage(tools.skopeo, path.join(dir, 'ppv2-oci.tar'), ref);
    const pluginFile = path.join(dir, 'istio', 'wasmplugin.yaml');
    return { envoy, tools, tool, toolMs, registry, ref, dir, pluginFile, plugin: parse(fs.readFileSync(pluginFile, 'utf8')), serial: 0 };
  })();
  return shared;
}

/** A copy of the written WasmPlugin with spec fields set (null deletes). */
function pluginVariant(w, spec) {
  const doc = parseDocument(fs.readFileSync(w.pluginFile, 'utf8'));
  for (const [key, value] of Object.entries(spec)) {
    if (value === null) doc.deleteIn(['spec', key]);
    else doc.setIn(['spec', key], doc.createNode(value));
  }
  const file = path.join(w.dir, `wasmplugin-${++w.serial}.yaml`);
  fs.writeFileSync(file, doc.toString());
  return file;
}

/** istiod's output for a WasmPlugin, then the agent's rewrite of its ECDS resource (cache per world). */
async function deliver(w, pluginFile, resourceVersion = '1') {
  const istiod = (await runIstioTool(w.tool, ['istiod', '-f', pluginFile, '-resource-version', resourceVersion])).result;
  const agent = await runIstioTool(w.tool, ['agent', '-cache', path.join(w.dir, 'cache')], JSON.stringify(istiod.extensionConfig));
  return { istiod, extensionConfig: agent.result.extensionConfig, agentLog: agent.log };
}

/** An image holding `wasm`, pushed as ref; resolves to its manifest digest (hex). */
async function pushModule(w, wasm, tag) {
  const image = await buildWasmImage(wasm, { refName: tag });
  const archive = path.join(w.dir, `${tag}.tar`);
  fs.writeFileSync(archive, image.archive);
  await pushImage(w.tools.skopeo, archive, `${w.registry.address}/ppv2-wasm:${tag}`);
  return image.manifest.digest.slice('sha256:'.length);
}

/** A module V8 compiles but Envoy cannot instantiate: it imports a host function Envoy lacks. */
async function unloadableModule() {
  const { default: initWabt } = await import('wabt');
  const wabt = await initWabt();
  const wat = `(module
    (import "env" "ppv2_host_call_envoy_does_not_have" (func))
    (memory (export "memory") 1)
    (func (export "proxy_abi_version_0_2_1"))
    (func (export "malloc") (param i32) (result i32) (i32.const 0)))`;
  return Buffer.from(wabt.parseWat('unloadable.wat', wat).toBinary({}).buffer);
}

/** The strict `inspect` decoder in this process, echoing what follows the header; stopped after test `t`. */
async function startInspect(t) {
  const records = [];
  const { server, sockets } = createInspectServer({ echo: true, headerTimeoutMs: 3000, onRecord: (r) => records.push(r) });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const stop = async () => {
    sockets.destroyAll();
    await new Promise((resolve) => server.close(() => resolve()));
  };
  t.after(stop);
  return { port: server.address().port, records, stop };
}

/** Envoy on the deploy/ecds/ bootstrap with istiod's filter, the ECDS file and a backend port; stopped after test `t`. */
async function startGateway(t, w, { istiodFilter, extensionConfig, backendPort, version = '1' }) {
  const ecdsPath = path.join(fs.mkdtempSync(path.join(w.dir, 'ecds-')), 'ppv2.ecds.json');
  replaceFile(ecdsPath, ecdsResponse(extensionConfig, version));
  const bootstrap = renderEcdsBootstrap(ECDS_TEMPLATE, {
    ecdsPath,
    istiodFilter,
    listen: { address: '127.0.0.1', port: 0 },
    adminPort: 0,
    backend: { host: '127.0.0.1', port: backendPort },
  });
  const log = [];
  const running = await startEnvoy({
    bootstrap,
    cwd: ROOT,
    env: { ...process.env, PPV2_ENVOY: w.envoy },
    logLevel: 'warning',
    onLine: (line) => log.push(line),
  });
  t.after(running.stop);
  const port = Object.values(running.listenerPorts)[0];
  /** The one counter whose name ends with `suffix` (0 before Envoy creates it). */
  const stat = async (suffix) => {
    const hits = Object.entries(await running.stats(suffix)).filter(([k]) => k.endsWith(suffix));
    assert.ok(hits.length <= 1, `more than one counter ends with ${suffix}: ${hits.map(([k]) => k).join(', ')}`);
    return hits[0]?.[1] ?? 0;
  };
  /** An ECDS counter of the filter's subscription: extension_config_discovery.network_filter.<name>.<counter>. */
  const ecdsStat = (counter) => stat(`.${istiodFilter.name}.${counter}`);
  return { running, port, log, ecdsPath, stat, ecdsStat, stop: running.stop };
}

/** Polls until `check()` is true (bounded). */
async function until(what, check, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function adminGet(running, pathAndQuery) {
  return new Promise((resolve, reject) => {
    http.get(`http://${running.adminAddress}${pathAndQuery}`, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

/**
 * One client connection through the gateway to the echoing inspect backend:
 * `send(bytes)` resolves when the same bytes came back; `end()` half-closes
 * and resolves with how the connection ended.
 */
function echoClient(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let received = Buffer.alloc(0);
    let expected = 0;
    let wake = () => {};
    const state = { error: null, closed: false, hadError: false, ended: false };
    socket.on('data', (d) => {
      received = Buffer.concat([received, d]);
      wake();
    });
    socket.on('end', () => {
      state.ended = true;
      wake();
    });
    socket.on('error', (e) => {
      state.error = e.code ?? e.message;
      wake();
    });
    socket.on('close', (hadError) => {
      state.closed = true;
      state.hadError = hadError;
      wake();
    });
    socket.once('connect', () =>
      resolve({
        localPort: socket.localPort,
        state,
        received: () => received,
        async send(bytes, timeoutMs = 10_000) {
          expected += bytes.length;
          socket.write(bytes);
          const deadline = Date.now() + timeoutMs;
          while (received.length < expected && !state.closed) {
            if (Date.now() > deadline) throw new Error(`echo of ${bytes.length} bytes did not arrive (got ${received.length}/${expected})`);
            await new Promise((r) => {
              wake = r;
              setTimeout(r, 100);
            });
          }
        },
        async end(timeoutMs = 10_000) {
          socket.end();
          const deadline = Date.now() + timeoutMs;
          while (!state.closed) {
            if (Date.now() > deadline) throw new Error('the connection did not close');
            await new Promise((r) => {
              wake = r;
              setTimeout(r, 100);
            });
          }
          return state;
        },
        destroy: () => socket.destroy(),
      }),
    );
    socket.once('error', reject);
  });
}

/** Connects once, sends a line, and reports what came back and how it ended (for gateways that refuse). */
async function probe(port) {
  const client = await echoClient(port);
  await client.send(Buffer.from('probe\n'), 3000).catch(() => {});
  const state = await client.end(5000).catch(() => client.state);
  return { received: client.received(), state };
}

const authorityOf = (record) => record?.header?.tlvs?.find((tlv) => tlv.type === 0x02)?.text;

test("npm run image's output goes through a real registry and comes back byte for byte through Istio's fetcher, with the digest npm run image wrote", async (t) => {
  const w = await world(t);
  if (!w) return;
  t.diagnostic(`Istio: ${fs.readFileSync(path.join(ROOT, 'tests', 'istio', 'go.mod'), 'utf8').match(/istio\.io\/istio (\S+)/)[1]}; ppv2-istio ready in ${w.toolMs} ms`);
  const out = path.join(w.dir, 'fetched.wasm');
  const { result } = await runIstioTool(w.tool, ['fetch', '-url', `oci://${w.ref}`, '-out', out]);
  const wasm = fs.readFileSync(MODULE);
  assert.ok(fs.readFileSync(out).equals(wasm), 'the fetched plugin.wasm is build/ppv2.wasm');
  assert.equal(result.wasmSha256, sha256(wasm));
  assert.equal(result.digest, w.plugin.spec.sha256, 'the digest the fetcher reports is the sha256 in build/istio/wasmplugin.yaml');
  assert.equal(w.plugin.spec.url, `oci://${w.ref}`);
});

test('a wrong sha256 is refused as Istio refuses it: the agent puts a deny-all RBAC filter where the Wasm filter was', async (t) => {
  const w = await world(t);
  if (!w) return;
  const wrong = `${w.plugin.spec.sha256.slice(0, -1)}${w.plugin.spec.sha256.endsWith('0') ? '1' : '0'}`;
  const { extensionConfig, agentLog } = await deliver(w, pluginVariant(w, { sha256: wrong }));
  assert.match(agentLog, new RegExp(`has checksum ${w.plugin.spec.sha256}, which does not match: ${wrong}`));
  assert.match(agentLog, /applying deny RBAC filter/);
  assert.equal(extensionConfig.typedConfig['@type'], RBAC_NETWORK);
  assert.equal(extensionConfig.typedConfig.statPrefix, 'wasm-default-deny');
  assert.deepEqual(extensionConfig.typedConfig.rules, {}, 'an empty rule set denies every connection');
});

test("istiod's ECDS resource, rewritten by the agent, runs the filter in a real Envoy: HAProxy reads the client's address from the header", async (t) => {
  const w = await world(t);
  if (!w) return;
  const { istiod, extensionConfig, agentLog } = await deliver(w, w.pluginFile);

  // What istiod generated (pilot/pkg/networking/core/extension): a listener
  // filter fetching the named resource over ADS, and the resource itself.
  const name = 'extensions.istio.io/trafficextension/istio-system.ppv2~istio-translated-wasmplugin';
  assert.equal(istiod.listenerFilter.name, name);
  assert.deepEqual(istiod.listenerFilter.configDiscovery.typeUrls, [WASM_NETWORK, RBAC_NETWORK]);
  assert.deepEqual(istiod.listenerFilter.configDiscovery.configSource, { ads: {}, initialFetchTimeout: '0s', resourceApiVersion: 'V3' });
  const sent = istiod.extensionConfig.typedConfig.config;
  assert.equal(istiod.extensionConfig.name, name);
  assert.equal(istiod.extensionConfig.typedConfig['@type'], WASM_NETWORK);
  assert.equal(sent.vmConfig.runtime, 'envoy.wasm.runtime.v8');
  assert.deepEqual(sent.vmConfig.code.remote, { httpUri: { uri: w.plugin.spec.url, cluster: '_', timeout: '30s' }, sha256: w.plugin.spec.sha256 });
  assert.equal(sent.failurePolicy, 'FAIL_CLOSED', 'failStrategy FAIL_CLOSE');
  assert.deepEqual(sent.configuration, { '@type': 'type.googleapis.com/google.protobuf.StringValue', value: JSON.stringify(w.plugin.spec.pluginConfig, Object.keys(w.plugin.spec.pluginConfig).sort()) });

  // What the agent forwards: the same, with the module a local file and its own env variables gone.
  const local = extensionConfig.typedConfig.config?.vmConfig;
  assert.ok(local, agentLog);
  assert.ok(fs.readFileSync(local.code.local.filename).equals(fs.readFileSync(MODULE)));
  assert.ok(local.code.local.filename.endsWith(`${w.plugin.spec.sha256}.wasm`));
  assert.equal(local.environmentVariables, undefined);

  const haproxy = await startHaproxy(w.tools.haproxy);
  t.after(haproxy.stop);
  const gw = await startGateway(t, w, { istiodFilter: istiod.listenerFilter, extensionConfig, backendPort: haproxy.port });
  assert.equal(await gw.ecdsStat('update_success'), 1);
  const socket = net.connect({ host: '127.0.0.1', port: gw.port });
  await new Promise((resolve) => socket.once('connect', resolve));
  const clientPort = socket.localPort;
  const chunks = [];
  socket.on('data', (d) => chunks.push(d));
  socket.end('GET / HTTP/1.0\r\nHost: test\r\n\r\n');
  await new Promise((resolve) => socket.once('close', resolve));
  const response = Buffer.concat(chunks).toString('latin1');
  const body = JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4));
  assert.equal(body.src, '127.0.0.1');
  assert.equal(Number(body.src_port), clientPort, 'HAProxy took the client address from the header');
  assert.equal(Number(body.dst_port), gw.port);
  await gw.stop();
});

test('failStrategy as Istio maps it: a module the agent cannot fetch gets a deny-all (FAIL_CLOSE) or allow-all (FAIL_OPEN) filter; a module Envoy cannot load is rejected under both, and no connection passes', async (t) => {
  const w = await world(t);
  if (!w) return;
  const inspect = await startInspect(t);
  const wrong = '0'.repeat(64);
  const brokenDigest = await pushModule(w, await unloadableModule(), 'unloadable');
  const cases = [
    { failStrategy: 'FAIL_CLOSE', sha256: wrong, url: w.plugin.spec.url, expect: 'deny' },
    { failStrategy: 'FAIL_OPEN', sha256: wrong, url: w.plugin.spec.url, expect: 'allow' },
    { failStrategy: 'FAIL_CLOSE', sha256: brokenDigest, url: `oci://${w.registry.address}/ppv2-wasm:unloadable`, expect: 'rejected' },
    { failStrategy: 'FAIL_OPEN', sha256: brokenDigest, url: `oci://${w.registry.address}/ppv2-wasm:unloadable`, expect: 'rejected' },
  ];
  for (const c of cases) {
    const { istiod, extensionConfig } = await deliver(w, pluginVariant(w, { failStrategy: c.failStrategy, sha256: c.sha256, url: c.url }));
    // istiod maps failStrategy onto the Wasm filter's failure_policy (pilot/pkg/model/extensions.go).
    assert.equal(istiod.extensionConfig.typedConfig.config.failurePolicy, c.failStrategy === 'FAIL_OPEN' ? 'FAIL_OPEN' : 'FAIL_CLOSED');
    const before = inspect.records.length;
    const gw = await startGateway(t, w, { istiodFilter: istiod.listenerFilter, extensionConfig, backendPort: inspect.port });
    const result = await probe(gw.port);
    await sleep(200); // the backend's side of a connection Envoy opened and closed
    const reached = inspect.records.slice(before);
    const label = `${c.failStrategy} ${c.expect}`;
    if (c.expect === 'allow') {
      assert.equal(extensionConfig.typedConfig.statPrefix, 'wasm-default-allow', label);
      assert.equal(reached.length, 1, `${label}: the connection reaches the backend`);
      assert.equal(reached[0].receivedHex, Buffer.from('probe\n').toString('hex'), `${label}: the client's bytes, without a header`);
    } else {
      // tcp_proxy may open the upstream connection before the first byte, but no byte crosses.
      assert.deepEqual(reached.filter((r) => r.header || r.receivedHex !== ''), [], `${label}: no byte reaches the backend`);
      assert.equal(result.received.length, 0, label);
      if (c.expect === 'deny') {
        assert.equal(extensionConfig.typedConfig.statPrefix, 'wasm-default-deny', label);
        assert.equal(await gw.stat('wasm-default-deny.rbac.denied'), 1, label);
      } else {
        // The agent fetched it (valid magic, right digest); Envoy refuses the resource.
        assert.equal(extensionConfig.typedConfig['@type'], WASM_NETWORK, label);
        assert.equal(await gw.ecdsStat('update_rejected'), 1, label);
        assert.equal(await gw.stat('network_extension_config_missing'), 1, `${label}: the listener has no filter config and closes the connection`);
        assert.ok(gw.log.some((l) => /Failed to load Wasm module due to a missing import: env\.ppv2_host_call_envoy_does_not_have/.test(l)), gw.log.join('\n'));
        assert.ok(gw.log.some((l) => /config update rejected: Unable to create Wasm plugin/.test(l)), gw.log.join('\n'));
      }
    }
    await gw.stop();
  }
});

test('live reconfiguration: a new pluginConfig, a rejected one, a new module version, a rejected module and a roll back, under traffic, lose no connection and no byte', async (t) => {
  const w = await world(t);
  if (!w) return;
  const inspect = await startInspect(t);
  const recordFor = (port) => inspect.records.find((r) => r.header?.source?.port === port);
  let version = 1;
  const first = await deliver(w, w.pluginFile, String(version));
  const gw = await startGateway(t, w, { istiodFilter: first.istiod.listenerFilter, extensionConfig: first.extensionConfig, backendPort: inspect.port, version: String(version) });
  const update = async (spec) => {
    version++;
    const { extensionConfig } = await deliver(w, pluginVariant(w, spec), String(version));
    replaceFile(gw.ecdsPath, ecdsResponse(extensionConfig, String(version)));
    return extensionConfig;
  };

  // Connections that stay open through every change.
  const old = [];
  for (let i = 0; i < 8; i++) {
    const c = await echoClient(gw.port);
    await c.send(Buffer.from(`old ${i} before\n`));
    old.push(c);
  }

  // New connections, three at a time, until the end: each sends 1 KiB and
  // must get exactly it back, after exactly one header.
  const churn = [];
  let stopping = false;
  const worker = async (id) => {
    for (let n = 0; !stopping; n++) {
      const started = Date.now();
      const payload = Buffer.alloc(1024, `${id}:${n};`);
      let c;
      try {
        c = await echoClient(gw.port);
      } catch (err) {
        churn.push({ started, ok: false, detail: `connect: ${err.message}` });
        continue;
      }
      const entry = { started, port: c.localPort };
      churn.push(entry);
      try {
        await c.send(payload);
        const state = await c.end();
        entry.ok = c.received().equals(payload) && !state.error && !state.hadError;
        entry.detail = { received: c.received().length, ...state };
      } catch (err) {
        entry.ok = false;
        entry.detail = err.message;
        c.destroy();
      }
    }
  };
  const workers = [0, 1, 2].map(worker);
  t.after(async () => {
    stopping = true;
    await Promise.allSettled(workers);
  });
  const completedAfter = async (time, count) => until(`${count} connections after the change`, () => churn.filter((e) => e.started > time && e.ok !== undefined).length >= count);
  const phases = [];
  const phase = async (label, spec, expectAccepted) => {
    const accepted = await gw.ecdsStat('update_success');
    const rejected = await gw.ecdsStat('update_rejected');
    const written = Date.now();
    const extensionConfig = await update(spec);
    if (expectAccepted) await until(`${label} to be applied`, async () => (await gw.ecdsStat('update_success')) === accepted + 1);
    else await until(`${label} to be rejected`, async () => (await gw.ecdsStat('update_rejected')) === rejected + 1);
    const applied = Date.now();
    await completedAfter(applied, 6);
    phases.push({ label, written, applied, extensionConfig });
    return extensionConfig;
  };

  await completedAfter(0, 6);
  const base = { ...w.plugin.spec.pluginConfig };
  await phase('an authority TLV', { pluginConfig: { ...base, tlvs: [{ type: 'authority', value: 'ppv2-live-1' }] } }, true);

  const logBefore = gw.log.length;
  const failBefore = await gw.ecdsStat('config_fail');
  await phase('an invalid pluginConfig', { pluginConfig: { ...base, version: 3 } }, false);
  const rejectionLog = gw.log.slice(logBefore);
  assert.ok(rejectionLog.some((l) => /wasm log: ppv2-wasm: bad plugin configuration: version: expected 1 or 2 \(got 3\)/.test(l)), rejectionLog.join('\n'));
  assert.ok(rejectionLog.some((l) => /Filesystem config update rejected: Unable to create Wasm plugin/.test(l)), rejectionLog.join('\n'));
  assert.equal(await gw.ecdsStat('config_fail'), failBefore + 1);

  // A new module version: the debug build of the same filter, pushed as 0.1.1.
  const debugDigest = await pushModule(w, fs.readFileSync(path.join(ROOT, 'build', 'ppv2.debug.wasm')), '0.1.1');
  await phase('a new module version', {
    url: `oci://${w.registry.address}/ppv2-wasm:0.1.1`,
    sha256: debugDigest,
    pluginConfig: { ...base, tlvs: [{ type: 'authority', value: 'ppv2-live-2' }] },
  }, true);
  const dump = await adminGet(gw.running, '/config_dump');
  assert.ok(dump.includes(`${debugDigest}.wasm`), 'Envoy runs the new module file');

  const brokenDigest = await pushModule(w, await unloadableModule(), 'broken');
  const logBroken = gw.log.length;
  await phase('a module Envoy cannot load', {
    url: `oci://${w.registry.address}/ppv2-wasm:broken`,
    sha256: brokenDigest,
    pluginConfig: { ...base, tlvs: [{ type: 'authority', value: 'never' }] },
  }, false);
  assert.ok(gw.log.slice(logBroken).some((l) => /missing import: env\.ppv2_host_call_envoy_does_not_have/.test(l)));

  // Rolling back is applying the first WasmPlugin again.
  await phase('the first WasmPlugin again', {}, true);

  stopping = true;
  await Promise.all(workers);

  // Every new connection: one header, every byte back, a clean close.
  const failed = churn.filter((e) => !e.ok);
  assert.deepEqual(failed, [], `${failed.length} of ${churn.length} connections failed`);
  // Envoy counts an accepted update on its main thread, then hands the new
  // filter config to the workers; a connection that starts in between may
  // still get the previous one.
  const GRACE_MS = 250;
  const [tlv, , module, , rollback] = phases;
  const expectAuthority = (e) => {
    if (e.started < tlv.written) return undefined;
    if (e.started > tlv.applied + GRACE_MS && e.started < module.written) return 'ppv2-live-1'; // the invalid pluginConfig changed nothing
    if (e.started > module.applied + GRACE_MS && e.started < rollback.written) return 'ppv2-live-2'; // nor did the module Envoy could not load
    if (e.started > rollback.applied + GRACE_MS) return undefined;
    return 'either';
  };
  for (const e of churn) {
    const record = recordFor(e.port);
    assert.ok(record?.header, `connection from port ${e.port} got a header`);
    const want = expectAuthority(e);
    if (want !== 'either') assert.equal(authorityOf(record), want, `connection from port ${e.port} started ${e.started - tlv.applied} ms after the first change`);
    else assert.ok([undefined, 'ppv2-live-1', 'ppv2-live-2'].includes(authorityOf(record)));
  }
  t.diagnostic(`${churn.length} new connections during ${phases.length} changes; update_success ${await gw.ecdsStat('update_success')}, update_rejected ${await gw.ecdsStat('update_rejected')}, config_fail ${await gw.ecdsStat('config_fail')}`);

  // The connections open before the first change: undisturbed, first header kept.
  for (const [i, c] of old.entries()) {
    await c.send(Buffer.from(`old ${i} after\n`));
    const state = await c.end();
    assert.deepEqual([state.error, state.hadError], [null, false], `old connection ${i} closed cleanly`);
    assert.equal(c.received().toString(), `old ${i} before\nold ${i} after\n`, `old connection ${i}: every byte echoed, no second header`);
    assert.equal(authorityOf(recordFor(c.localPort)), undefined, `old connection ${i} kept the header of its time`);
  }
  assert.equal(await gw.stat('network_extension_config_missing'), 0);
  await gw.stop();
});
