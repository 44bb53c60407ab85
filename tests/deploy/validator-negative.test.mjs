// Each check of the validator fails when it should: one fixture per mistake,
// with the YAML path and line it must name. The fixtures are small variants
// of ok-minimal.yaml (or of the shipped Istio files), which must pass.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ROOT, MODULE, fixture, requirePluginCheck } from './helpers.mjs';

const { validateFile } = await import('../../dist/deploy/validate.js');
const { formatPath } = await import('../../dist/deploy/problem.js');

const WASM = 'static_resources.listeners[0].filter_chains[0].filters[0]';
const TCP = 'static_resources.listeners[0].filter_chains[0].filters[1]';
const ENDPOINT = 'static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address';

// [fixture, path, message pattern, line]
const ENVOY = [
  ['unknown-field.yaml', `${WASM}.typed_config.config.vm_config.runtme`, /unknown field "runtme" in envoy\.extensions\.wasm\.v3\.VmConfig \(did you mean "runtime"\?\)/, 17],
  ['wrong-type.yaml', `${ENDPOINT}.port_value`, /expected an integer \(uint32\), got the string "nine thousand"/, 35],
  ['wrong-enum.yaml', 'static_resources.clusters[0].lb_policy', /unknown value "ROUND_ROBBIN" for enum envoy\.config\.cluster\.v3\.Cluster\.LbPolicy/, 29],
  ['unresolvable-type.yaml', `${TCP}.typed_config.@type`, /cannot resolve "@type" .*TcpProxie/, 23],
  ['deprecated-field.yaml', `${TCP}.typed_config.access_log[0].typed_config.log_format.text_format`, /deprecated field "text_format"/, 30],
  ['duplicate-field.yaml', 'static_resources.clusters[0].connectTimeout', /"connect_timeout" is given twice/, 29],
  ['required-missing.yaml', `${TCP}.typed_config.stat_prefix`, /at least 1 character/, 24],
  ['required-absent.yaml', `${TCP}.typed_config`, /field "stat_prefix" is required in envoy\.extensions\.filters\.network\.tcp_proxy\.v3\.TcpProxy/, 22],
  ['bad-duration.yaml', 'static_resources.clusters[0].connect_timeout', /expected a duration like "1s"/, 28],
  ['oneof-twice.yaml', ENDPOINT, /only one of "port_value", "named_port" may be set/, 35],
  ['wasm-after-tcp-proxy.yaml', 'static_resources.listeners[0].filter_chains[0].filters[1]', /must come before tcp_proxy/, 16],
  ['wasm-after-tcp-proxy.yaml', WASM, /tcp_proxy is a terminal filter and must be the last one/, 11],
  ['wasm-without-tcp-proxy.yaml', WASM, /has no tcp_proxy after it/, 11],
  ['wrong-module.yaml', `${WASM}.typed_config.config.vm_config.code.local.filename`, /"build\/ppv2-debug\.wasm" is not the built module/, 17],
  ['wrong-runtime.yaml', `${WASM}.typed_config.config.vm_config.runtime`, /runtime must be "envoy\.wasm\.runtime\.v8"/, 16],
  ['config-not-text.yaml', `${WASM}.typed_config.config.configuration`, /Int32Value is not passed to the plugin as text/, 18],
  ['unknown-cluster.yaml', `${TCP}.typed_config.cluster`, /cluster "backnd", which static_resources\.clusters does not define/, 25],
  ['native-v1-default.yaml', 'static_resources.clusters[0].transport_socket.typed_config.config', /version is unset, so Envoy sends V1/, 20],
  ['duplicate-key.yaml', '(document)', /YAML: Map keys must be unique/, 29],
];

const options = { pluginCheck: null, moduleFile: MODULE, envoyCwd: ROOT };

for (const name of ['ok-minimal.yaml', 'ok-json-names.yaml']) {
  test(`envoy fixture ${name} passes (snake_case and lowerCamelCase field names)`, async () => {
    const r = await validateFile(fixture('envoy', name), options);
    assert.deepEqual(r.problems, []);
  });
}

for (const [name, where, message, line] of ENVOY) {
  test(`envoy fixture ${name} fails at ${where}`, async () => {
    const r = await validateFile(fixture('envoy', name), options);
    const hit = r.problems.find((p) => formatPath(p.path) === where && message.test(p.message));
    assert.ok(hit, `expected ${message} at ${where}; got:\n${r.problems.map((p) => `${formatPath(p.path)}: ${p.message}`).join('\n')}`);
    assert.equal(hit.line, line);
  });
}

test('a plugin configuration the module rejects fails, naming the configuration value', async (t) => {
  const pluginCheck = await requirePluginCheck(t);
  if (!pluginCheck) return;
  const r = await validateFile(fixture('envoy', 'config-rejected.yaml'), { ...options, pluginCheck });
  assert.equal(r.problems.length, 1, JSON.stringify(r.problems));
  assert.equal(formatPath(r.problems[0].path), `${WASM}.typed_config.config.configuration.value`);
  assert.match(r.problems[0].message, /^the module rejects this plugin configuration: .*version/);
});

const ISTIO = [
  ['wasmplugin-unknown-field.yaml', 'spec.failStratgy', /unknown field "failStratgy" \(did you mean "failStrategy"\?\)/],
  ['wasmplugin-wrong-enum.yaml', 'spec.type', /must be equal to one of the allowed values/],
  ['wasmplugin-http-type.yaml', 'spec.type', /set type: NETWORK \(Istio >= 1\.20\); got "HTTP"/],
  ['wasmplugin-bad-sha256.yaml', 'spec.sha256', /must match pattern/],
  ['wasmplugin-selector-and-targetrefs.yaml', 'spec.targetRefs', /only one of selector, targetRefs can be set/],
  ['wasmplugin-missing-url.yaml', 'spec', /must have required property url/],
  ['service-unknown-field.yaml', 'spec.ports[0].targetport', /unknown field "targetport" \(did you mean "targetPort"\?\)/],
  ['gateway-wrong-type.yaml', 'spec.servers[0].port.number', /must be integer/],
  ['unsupported-kind.yaml', 'kind', /no schema here for networking\.istio\.io\/v1 Sidecar/],
];

for (const [name, where, message] of ISTIO) {
  test(`istio fixture ${name} fails at ${where}`, async () => {
    const r = await validateFile(fixture('istio', name), options);
    assert.equal(r.kind, 'kubernetes');
    const hit = r.problems.find((p) => formatPath(p.path) === where && message.test(p.message));
    assert.ok(hit, `expected ${message} at ${where}; got:\n${r.problems.map((p) => `${formatPath(p.path)}: ${p.message}`).join('\n')}`);
    assert.equal(typeof hit.line, 'number');
  });
}

test('a WasmPlugin pluginConfig the module rejects fails', async (t) => {
  const pluginCheck = await requirePluginCheck(t);
  if (!pluginCheck) return;
  const r = await validateFile(fixture('istio', 'wasmplugin-config-rejected.yaml'), { ...options, pluginCheck });
  assert.equal(r.problems.length, 1, JSON.stringify(r.problems));
  assert.equal(formatPath(r.problems[0].path), 'spec.pluginConfig');
  assert.match(r.problems[0].message, /on_unknown_address/);
});

test('the validate CLI prints file:line: path: message and exits 1 on problems, 0 when clean, 2 on misuse', () => {
  const cli = path.join(ROOT, 'dist', 'deploy', 'validate.js');
  const run = (...args) => spawnSync(process.execPath, [cli, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  const bad = run('--no-module-check', fixture('envoy', 'unknown-field.yaml'));
  assert.equal(bad.status, 1, bad.stderr);
  assert.match(bad.stderr, /unknown-field\.yaml:17: static_resources\.listeners\[0\]\.filter_chains\[0\]\.filters\[0\]\.typed_config\.config\.vm_config\.runtme: unknown field "runtme"/);
  const good = run('--no-module-check', fixture('envoy', 'ok-minimal.yaml'), 'deploy/istio/wasmplugin.yaml');
  assert.equal(good.status, 0, good.stderr);
  assert.match(good.stdout, /^ok .*ok-minimal\.yaml \(envoy\)$/m);
  assert.equal(run('--bogus').status, 2);
  assert.equal(run().status, 2);
});
