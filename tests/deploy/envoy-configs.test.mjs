// Every Envoy bootstrap and plugin configuration shipped under envoy/, and
// the ECDS pair under deploy/ecds/, passes `envoy --mode validate` of the
// real Envoy (which loads the module and configures it) and the checks that
// mode lacks; and the shipped files say what the docs promise they say.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { ROOT, MODULE, filesUnder, requireEnvoyValidator } from './helpers.mjs';

const { validateFile } = await import('../../dist/deploy/validate.js');
const { formatProblem } = await import('../../dist/deploy/problem.js');

const yamls = filesUnder('envoy', ['.yaml', '.yml']);
const jsons = filesUnder('envoy', ['.json']);
const ecds = filesUnder(path.join('deploy', 'ecds'), ['.yaml']);
const read = (f) => parse(fs.readFileSync(path.join(ROOT, f), 'utf8'));
const report = (r) => r.problems.map((p) => formatProblem(r.file, p)).join('\n');

/** envoy/envoy-tls.yaml names test certificates under build/test-certs (made here, never committed). */
function ensureTestCerts() {
  if (fs.existsSync(path.join(ROOT, 'build', 'test-certs', 'ca.crt'))) return;
  const made = spawnSync('sh', ['scripts/make-test-certs.sh'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  assert.equal(made.status, 0, made.stderr);
}

test('envoy/ ships the three bootstraps and plugin configurations; deploy/ecds/ the ECDS bootstrap and its resource', () => {
  for (const f of ['envoy/envoy.yaml', 'envoy/envoy-tls.yaml', 'envoy/native-upstream-proxy-protocol.yaml']) assert.ok(yamls.includes(f), f);
  assert.ok(jsons.length >= 5, jsons.join());
  assert.deepEqual(ecds.sort(), ['deploy/ecds/envoy.yaml', 'deploy/ecds/ppv2.ecds.yaml']);
});

for (const file of [...yamls, ...ecds]) {
  test(`${file} passes envoy --mode validate, with the module loaded and configured, and the checks that mode lacks`, async (t) => {
    const envoy = await requireEnvoyValidator(t);
    if (!envoy) return;
    if (file === 'envoy/envoy-tls.yaml') ensureTestCerts();
    const result = await validateFile(path.join(ROOT, file), { envoy, istio: null, moduleFile: MODULE, envoyCwd: ROOT });
    assert.equal(result.kind, file.endsWith('.ecds.yaml') ? 'ecds' : 'envoy');
    assert.deepEqual(result.problems, [], report(result));
    assert.deepEqual(result.checkedBy, [`Envoy ${envoy.version}`]);
  });
}

for (const file of jsons) {
  test(`${file} is accepted by the module in Envoy`, async (t) => {
    const envoy = await requireEnvoyValidator(t);
    if (!envoy) return;
    const result = await validateFile(path.join(ROOT, file), { envoy, istio: null, moduleFile: MODULE, envoyCwd: ROOT });
    assert.equal(result.kind, 'plugin-config');
    assert.deepEqual(result.problems, [], report(result));
  });
}

test('the example plugin configurations use every config key and TLV source between them', () => {
  const keys = new Set();
  const sources = new Set();
  for (const f of jsons) {
    const c = JSON.parse(fs.readFileSync(path.join(ROOT, f), 'utf8'));
    for (const k of Object.keys(c)) keys.add(k);
    for (const tlv of c.tlvs ?? []) for (const k of ['value', 'hex', 'property', 'from']) if (k in tlv) sources.add(k === 'from' ? `from:${tlv.from}` : k);
  }
  assert.deepEqual([...keys].sort(), ['crc32c', 'on_unknown_address', 'reject_client_proxy_header', 'tlvs', 'version']);
  assert.deepEqual([...sources].sort(), ['from:connection_id', 'from:sni', 'from:ssl', 'hex', 'property', 'value']);
});

const wasmFilters = (bootstrap) =>
  bootstrap.static_resources.listeners.flatMap((l) =>
    l.filter_chains.flatMap((c) => c.filters.filter((f) => f.typed_config['@type'].endsWith('network.wasm.v3.Wasm'))),
  );

test('envoy.yaml: IPv4 :10000 and IPv6 [::]:10001 through wasm then tcp_proxy to 127.0.0.1:9000, admin on 127.0.0.1:9901', () => {
  const b = read('envoy/envoy.yaml');
  assert.deepEqual(b.admin.address.socket_address, { address: '127.0.0.1', port_value: 9901 });
  const addrs = b.static_resources.listeners.map((l) => l.address.socket_address);
  assert.deepEqual(addrs, [{ address: '0.0.0.0', port_value: 10000 }, { address: '::', port_value: 10001 }]);
  for (const l of b.static_resources.listeners) {
    const names = l.filter_chains[0].filters.map((f) => f.name);
    assert.deepEqual(names, ['envoy.filters.network.wasm', 'envoy.filters.network.tcp_proxy']);
    const format = l.filter_chains[0].filters[1].typed_config.access_log[0].typed_config.log_format.text_format_source.inline_string;
    assert.match(format, /%DOWNSTREAM_REMOTE_ADDRESS%/);
    assert.match(format, /%UPSTREAM_HOST%/);
  }
  const ep = b.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
  assert.deepEqual(ep, { address: '127.0.0.1', port_value: 9000 });
});

test('every wasm filter: V8, build/ppv2.wasm, configuration as a StringValue, failure policy FAIL_RELOAD (never a byte without the header, and a new VM after a failure)', () => {
  for (const f of ['envoy/envoy.yaml', 'envoy/envoy-tls.yaml', 'envoy/chained-proxy-protocol.yaml']) {
    for (const w of wasmFilters(read(f))) {
      const c = w.typed_config.config;
      assert.equal(c.vm_config.runtime, 'envoy.wasm.runtime.v8');
      assert.equal(c.vm_config.code.local.filename, 'build/ppv2.wasm');
      assert.equal(c.configuration['@type'], 'type.googleapis.com/google.protobuf.StringValue');
      JSON.parse(c.configuration.value);
      assert.ok(!('fail_open' in c), `${f} sets the deprecated fail_open`);
      assert.equal(c.failure_policy, 'FAIL_RELOAD', f);
    }
  }
});

test('envoy-tls.yaml terminates TLS and asks for AUTHORITY from SNI and the SSL TLV', () => {
  const b = read('envoy/envoy-tls.yaml');
  const chain = b.static_resources.listeners[0].filter_chains[0];
  assert.match(chain.transport_socket.typed_config['@type'], /DownstreamTlsContext$/);
  const config = JSON.parse(wasmFilters(b)[0].typed_config.config.configuration.value);
  assert.deepEqual(config.tlvs, [{ type: 'authority', from: 'sni' }, { from: 'ssl' }]);
  const certs = chain.transport_socket.typed_config.common_tls_context.tls_certificates[0];
  assert.match(certs.private_key.filename, /^build\/test-certs\//, 'test keys live in build/ (never committed)');
});

test('native-upstream-proxy-protocol.yaml uses Envoy\'s own transport socket with version V2 and no wasm', () => {
  const b = read('envoy/native-upstream-proxy-protocol.yaml');
  assert.equal(wasmFilters(b).length, 0);
  const ts = b.static_resources.clusters[0].transport_socket;
  assert.equal(ts.name, 'envoy.transport_sockets.upstream_proxy_protocol');
  assert.equal(ts.typed_config.config.version, 'V2');
});

test('deploy/ecds/: the listener takes the filter named ppv2 over ECDS from ppv2.ecds.yaml, which holds a fail-closed Wasm filter on build/ppv2.wasm', () => {
  const b = read('deploy/ecds/envoy.yaml');
  const [filter, tcp] = b.static_resources.listeners[0].filter_chains[0].filters;
  assert.equal(filter.name, 'ppv2');
  assert.deepEqual(filter.config_discovery.config_source.path_config_source, { path: 'deploy/ecds/ppv2.ecds.yaml' });
  assert.equal(filter.config_discovery.config_source.initial_fetch_timeout, '0s');
  assert.ok(tcp.typed_config['@type'].endsWith('TcpProxy'));
  const r = read('deploy/ecds/ppv2.ecds.yaml');
  assert.equal(r.resources.length, 1);
  assert.equal(r.resources[0].name, 'ppv2');
  const config = r.resources[0].typed_config.config;
  assert.equal(config.vm_config.code.local.filename, 'build/ppv2.wasm');
  assert.equal(config.failure_policy, 'FAIL_CLOSED');
  JSON.parse(config.configuration.value);
});

test('.envoy-version pins a version func-e accepts (MAJOR.MINOR or MAJOR.MINOR.PATCH)', () => {
  const v = fs.readFileSync(path.join(ROOT, '.envoy-version'), 'utf8').trim();
  assert.match(v, /^[1-9]\d*\.\d+(\.\d+)?$/);
});
