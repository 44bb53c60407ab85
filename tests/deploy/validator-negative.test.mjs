// Each fixture holds one mistake and must fail for that reason: Envoy
// bootstraps in `envoy --mode validate` of the real Envoy (or, for what that
// mode accepts, in the checks it lacks), manifests in Kubernetes' and Istio's
// own code (ppv2-istio). The fixtures are small variants of ok-minimal.yaml
// (or of the shipped Istio files), which must pass.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ROOT, MODULE, fixture, requireEnvoyValidator, requireIstioCheck, requirePluginCheck } from './helpers.mjs';

const { validateFile } = await import('../../dist/deploy/validate.js');
const { formatPath } = await import('../../dist/deploy/problem.js');

const WASM = 'static_resources.listeners[0].filter_chains[0].filters[0]';
const TCP = 'static_resources.listeners[0].filter_chains[0].filters[1]';
const ENDPOINT = 'static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address';
const ENVOY_SAYS = /^Envoy \d+\.\d+\.\d+ refuses it: /;

// [fixture, what catches it, path, message pattern, line]
const ENVOY = [
  ['unknown-field.yaml', 'envoy', `${WASM}.typed_config.config.vm_config.runtme`, /no such field: +'runtme'/, 17],
  ['wrong-type.yaml', 'envoy', `${ENDPOINT}.port_value`, /port_value/, 35],
  ['wrong-enum.yaml', 'envoy', '(document)', /unknown enum value: 'ROUND_ROBBIN'/, 1],
  ['unresolvable-type.yaml', 'envoy', '(document)', /could not find @type 'type\.googleapis\.com\/envoy\.extensions\.filters\.network\.tcp_proxy\.v3\.TcpProxie'/, 1],
  ['required-missing.yaml', 'envoy', '(document)', /TcpProxyValidationError\.StatPrefix: value length must be at least 1 characters/, 1],
  ['required-absent.yaml', 'envoy', '(document)', /TcpProxyValidationError\.StatPrefix: value length must be at least 1 characters/, 1],
  ['bad-duration.yaml', 'envoy', 'static_resources.clusters[0].connect_timeout', /google\.protobuf\.Duration/, 28],
  // Envoy names either member of the oneof, from one run to the next.
  ['oneof-twice.yaml', 'envoy', new RegExp(`^${ENDPOINT.replace(/[.[\]]/g, '\\$&')}\\.(named_port|port_value)$`), /oneof|named_port|port_value/, 35],
  ['wasm-after-tcp-proxy.yaml', 'envoy', '(document)', /terminal filter named envoy\.filters\.network\.tcp_proxy .* must be the last filter/, 1],
  ['wasm-without-tcp-proxy.yaml', 'envoy', '(document)', /non-terminal filter named envoy\.filters\.network\.wasm .* is the last filter/, 1],
  ['missing-module.yaml', 'envoy', '(document)', /Invalid path: build\/ppv2-debug\.wasm/, 1],
  ['wrong-runtime.yaml', 'envoy', '(document)', /Unable to create Wasm plugin \(Failed to create Wasm VM using envoy\.wasm\.runtime\.wamr runtime/, 1],
  ['config-not-text.yaml', 'envoy', '(document)', /Unable to create Wasm plugin \(the module: ppv2-wasm: bad plugin configuration: invalid JSON/, 1],
  ['config-rejected.yaml', 'envoy', '(document)', /Unable to create Wasm plugin \(the module: ppv2-wasm: bad plugin configuration: version: expected 1 or 2 \(got 3\)\)/, 1],
  // Envoy accepts these; the checks it lacks do not.
  ['deprecated-field.yaml', 'warning', '(document)', /warns: Using deprecated option 'envoy\.config\.core\.v3\.SubstitutionFormatString\.text_format'/, 1],
  ['unknown-cluster.yaml', 'ppv2', `${TCP}.typed_config.cluster`, /cluster "backnd", which static_resources\.clusters does not define/, 25],
  ['native-v1-default.yaml', 'ppv2', 'static_resources.clusters[0].transport_socket.typed_config.config', /version is unset, so Envoy sends V1/, 20],
  ['duplicate-key.yaml', 'yaml', '(document)', /YAML: Map keys must be unique/, 29],
];

const problemsText = (r) => r.problems.map((p) => `${formatPath(p.path)}: ${p.message}`).join('\n');

for (const name of ['ok-minimal.yaml', 'ok-json-names.yaml']) {
  test(`envoy fixture ${name} passes in Envoy (snake_case and lowerCamelCase field names)`, async (t) => {
    const envoy = await requireEnvoyValidator(t);
    if (!envoy) return;
    const r = await validateFile(fixture('envoy', name), { envoy, istio: null, envoyCwd: ROOT });
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.checkedBy, [`Envoy ${envoy.version}`]);
  });
}

for (const [name, by, where, message, line] of ENVOY) {
  test(`envoy fixture ${name} fails (${by}) at ${where}`, async (t) => {
    const envoy = await requireEnvoyValidator(t);
    if (!envoy) return;
    const r = await validateFile(fixture('envoy', name), { envoy, istio: null, envoyCwd: ROOT });
    const at = (p) => (where instanceof RegExp ? where.test(formatPath(p.path)) : formatPath(p.path) === where);
    const hit = r.problems.find((p) => at(p) && message.test(p.message));
    assert.ok(hit, `expected ${message} at ${where}; got:\n${problemsText(r)}`);
    if (by === 'envoy') assert.match(hit.message, ENVOY_SAYS);
    else assert.doesNotMatch(hit.message, ENVOY_SAYS, 'Envoy accepts this one');
    assert.equal(hit.line, line);
  });
}

test('without Envoy the checks it lacks still run, and a plugin configuration is loaded into the module by the host instead', async (t) => {
  const pluginCheck = await requirePluginCheck(t);
  if (!pluginCheck) return;
  const options = { envoy: null, istio: null, pluginCheck, envoyCwd: ROOT };
  const rejected = await validateFile(fixture('envoy', 'config-rejected.yaml'), options);
  assert.equal(rejected.problems.length, 1, problemsText(rejected));
  assert.equal(formatPath(rejected.problems[0].path), `${WASM}.typed_config.config.configuration.value`);
  assert.match(rejected.problems[0].message, /^the module rejects this plugin configuration: .*version/);
  assert.deepEqual(rejected.checkedBy, ['the module in the project host']);
  // What only Envoy catches goes through unnoticed: the CLI says so.
  const typo = await validateFile(fixture('envoy', 'unknown-field.yaml'), options);
  assert.deepEqual(typo.problems, []);
});

// [fixture, path, message pattern]
const ISTIO = [
  ['wasmplugin-unknown-field.yaml', 'spec.failStratgy', /unknown field/],
  ['wasmplugin-wrong-enum.yaml', 'spec.type', /Unsupported value: "NETWRK": supported values: "UNSPECIFIED_PLUGIN_TYPE", "HTTP", "NETWORK"/],
  ['wasmplugin-bad-sha256.yaml', 'spec.sha256', /should match '\(\^\$\|\^\[a-f0-9\]\{64\}\$\)'/],
  ['wasmplugin-selector-and-targetrefs.yaml', 'spec', /only one of targetRefs or selector can be set/],
  ['wasmplugin-missing-url.yaml', 'spec.url', /Required value/],
  ['wasmplugin-url-scheme.yaml', 'spec.url', /url must have schema one of \[http, https, file, oci\]/],
  ['sidecar-empty.yaml', '(document)', /^istiod webhook: sidecar: empty configuration provided/],
  ['service-unknown-field.yaml', 'spec.ports[0].targetport', /unknown field/],
  ['gateway-wrong-type.yaml', 'spec.servers[0].port.number', /must be of type integer/],
  ['unknown-kind.yaml', '(document)', /no schema for gateway\.networking\.k8s\.io\/v1\/HTTPRoute/],
  // What this filter needs, which Istio does not ask for.
  ['wasmplugin-http-type.yaml', 'spec.type', /set type: NETWORK \(Istio >= 1\.20\); got "HTTP"/],
];

for (const [name, where, message] of ISTIO) {
  test(`istio fixture ${name} fails at ${where}`, async (t) => {
    const istio = await requireIstioCheck(t);
    if (!istio) return;
    const r = await validateFile(fixture('istio', name), { envoy: null, istio, pluginCheck: null });
    assert.equal(r.kind, 'kubernetes');
    const hit = r.problems.find((p) => formatPath(p.path) === where && message.test(p.message));
    assert.ok(hit, `expected ${message} at ${where}; got:\n${problemsText(r)}`);
    assert.equal(typeof hit.line, 'number');
  });
}

test('a WasmPlugin pluginConfig the module rejects in Envoy fails', async (t) => {
  const envoy = await requireEnvoyValidator(t);
  const istio = envoy && (await requireIstioCheck(t));
  if (!istio) return;
  const r = await validateFile(fixture('istio', 'wasmplugin-config-rejected.yaml'), { envoy, istio, moduleFile: MODULE, envoyCwd: ROOT });
  assert.equal(r.problems.length, 1, problemsText(r));
  assert.equal(formatPath(r.problems[0].path), 'spec.pluginConfig');
  assert.match(r.problems[0].message, /^the module rejects this plugin configuration: ppv2-wasm: bad plugin configuration: on_unknown_address/);
});

test('the validate CLI prints file:line: path: message and exits 1 on problems, 0 when clean, 2 on misuse, and notes what did not run', async (t) => {
  const envoy = await requireEnvoyValidator(t);
  if (!envoy) return;
  const cli = path.join(ROOT, 'dist', 'deploy', 'validate.js');
  const run = (...args) => spawnSync(process.execPath, [cli, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000, env: { ...process.env, PPV2_ENVOY: envoy.command } });
  const bad = run('--no-istio', fixture('envoy', 'unknown-field.yaml'));
  assert.equal(bad.status, 1, bad.stderr);
  assert.match(bad.stderr, /unknown-field\.yaml:17: static_resources\.listeners\[0\]\.filter_chains\[0\]\.filters\[0\]\.typed_config\.config\.vm_config\.runtme: Envoy \d+\.\d+\.\d+ refuses it: .*no such field: +'runtme'/);
  const good = run('--no-istio', fixture('envoy', 'ok-minimal.yaml'), 'envoy/plugin-configs/crc32c.json');
  assert.equal(good.status, 0, good.stderr);
  assert.match(good.stdout, /^ok .*ok-minimal\.yaml \(envoy; Envoy \d+\.\d+\.\d+\)$/m);
  assert.match(good.stdout, /^ok envoy\/plugin-configs\/crc32c\.json \(plugin-config; the module in Envoy \d+\.\d+\.\d+\)$/m);
  const noEnvoy = run('--no-envoy', '--no-istio', fixture('envoy', 'ok-minimal.yaml'));
  assert.equal(noEnvoy.status, 0, noEnvoy.stderr);
  assert.match(noEnvoy.stderr, /^note: .*Envoy's own check did not run/m);
  assert.equal(run('--bogus').status, 2);
  assert.equal(run().status, 2);
});
