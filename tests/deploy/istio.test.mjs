// The Istio files under deploy/istio/ checked by the code a cluster runs
// (ppv2-istio validate: the API server's CRD checks with istio.io/api's CRDs,
// istiod's webhook, strict decoding of built-in kinds) and by the module in
// Envoy; and the worked example's wiring.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ROOT, MODULE, filesUnder, requireEnvoyValidator, requireIstioCheck } from './helpers.mjs';

const { validateFile } = await import('../../dist/deploy/validate.js');
const { formatProblem } = await import('../../dist/deploy/problem.js');

const manifests = filesUnder(path.join('deploy', 'istio'), ['.yaml', '.yml']);
const docs = (f) => parseAllDocuments(fs.readFileSync(path.join(ROOT, f), 'utf8')).map((d) => d.toJS());
const byKind = (kind) => manifests.flatMap(docs).filter((d) => d.kind === kind);

test('tests/istio pins an Istio release and istio.io/api at the same commit (v1.31.0)', () => {
  const gomod = fs.readFileSync(path.join(ROOT, 'tests', 'istio', 'go.mod'), 'utf8');
  assert.match(gomod, /^\tistio\.io\/api v1\.31\.0$/m);
  // The Go module proxy serves istio.io/istio only as pseudo-versions: this
  // one is the release-1.31 commit whose go.mod requires istio.io/api at the
  // v1.31.0 commit (b943409680a7).
  assert.match(gomod, /^\tistio\.io\/istio v0\.0\.0-20260827124520-eed52ebb66ad$/m);
});

for (const file of manifests) {
  test(`${file} passes Kubernetes' and Istio's own checks, and the module in Envoy accepts its pluginConfig`, async (t) => {
    const istio = await requireIstioCheck(t);
    const envoy = istio && (await requireEnvoyValidator(t));
    if (!envoy) return;
    const r = await validateFile(path.join(ROOT, file), { envoy, istio, moduleFile: MODULE, envoyCwd: ROOT });
    assert.equal(r.kind, 'kubernetes');
    assert.deepEqual(r.problems, [], r.problems.map((p) => formatProblem(file, p)).join('\n'));
    assert.ok(r.checkedBy.includes("Kubernetes' and Istio's own checks (ppv2-istio)"));
  });
}

test('the WasmPlugin: NETWORK, FAIL_CLOSE, the gateway selected, port 57002 matched, an oci:// url, a pluginConfig', () => {
  const [plugin] = byKind('WasmPlugin');
  const s = plugin.spec;
  assert.equal(s.type, 'NETWORK');
  assert.equal(s.failStrategy, 'FAIL_CLOSE');
  assert.deepEqual(s.selector, { matchLabels: { istio: 'ingressgateway' } });
  assert.deepEqual(s.match, [{ mode: 'CLIENT', ports: [{ number: 57002 }] }]);
  assert.match(s.url, /^oci:\/\//);
  assert.equal(typeof s.pluginConfig, 'object');
});

test('the worked example: LoadBalancer 57002 → gateway → VirtualService tcp 57002 → ppv2-backend:80 → nginx listening with proxy_protocol', () => {
  const lb = byKind('Service').find((s) => s.spec.type === 'LoadBalancer');
  assert.deepEqual(lb.spec.ports.map((p) => [p.port, p.targetPort, p.protocol]), [[57002, 57002, 'TCP']]);
  assert.equal(lb.spec.externalTrafficPolicy, 'Local', 'keeps the client address');
  assert.deepEqual(lb.spec.selector, { istio: 'ingressgateway' });

  const [gw] = byKind('Gateway');
  assert.deepEqual(gw.spec.servers.map((s) => [s.port.number, s.port.protocol]), [[57002, 'TCP']]);

  const [vs] = byKind('VirtualService');
  assert.deepEqual(vs.spec.gateways, [gw.metadata.name]);
  const route = vs.spec.tcp[0];
  assert.deepEqual(route.match, [{ port: 57002 }]);
  assert.deepEqual(route.route[0].destination, { host: 'ppv2-backend.ppv2-demo.svc.cluster.local', port: { number: 80 } });

  const backend = byKind('Service').find((s) => s.metadata.name === 'ppv2-backend');
  assert.deepEqual(backend.spec.ports.map((p) => [p.port, p.targetPort, p.appProtocol]), [[80, 80, 'tcp']]);
  const conf = byKind('ConfigMap')[0].data['nginx.conf'];
  assert.match(conf, /listen 80 proxy_protocol;/);
  assert.match(conf, /\$proxy_protocol_addr/);
});

test('the native alternative is a DestinationRule with trafficPolicy.proxyProtocol V2 for the same backend', () => {
  const [dr] = byKind('DestinationRule');
  assert.equal(dr.spec.host, 'ppv2-backend.ppv2-demo.svc.cluster.local');
  assert.deepEqual(dr.spec.trafficPolicy.proxyProtocol, { version: 'V2' });
});
