// The Istio files under deploy/ against Istio 1.29's CRD schemas
// (@kubernetes-models/istio), Kubernetes' (kubernetes-models), our
// unknown-field check and the module; and the worked example's wiring.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ROOT, MODULE, filesUnder, requirePluginCheck } from './helpers.mjs';

const { validateFile } = await import('../../dist/deploy/validate.js');
const { formatProblem } = await import('../../dist/deploy/problem.js');

const manifests = filesUnder('deploy', ['.yaml', '.yml']);
const docs = (f) => parseAllDocuments(fs.readFileSync(path.join(ROOT, f), 'utf8')).map((d) => d.toJS());
const byKind = (kind) => manifests.flatMap(docs).filter((d) => d.kind === kind);

test('the installed @kubernetes-models/istio knows WasmPlugin type NETWORK and rejects other values', async () => {
  const { WasmPlugin } = await import('@kubernetes-models/istio/extensions.istio.io/v1alpha1');
  const spec = { url: 'oci://registry.example.com/x:1', type: 'NETWORK' };
  new WasmPlugin({ metadata: { name: 'x' }, spec }).validate();
  assert.throws(() => new WasmPlugin({ metadata: { name: 'x' }, spec: { ...spec, type: 'TCP' } }).validate(), /allowed values/);
});

for (const file of manifests) {
  test(`${file} passes the schemas, the unknown-field check and the module`, async (t) => {
    const needsModule = docs(file).some((d) => d.kind === 'WasmPlugin');
    const pluginCheck = needsModule ? await requirePluginCheck(t) : null;
    if (needsModule && !pluginCheck) return;
    const r = await validateFile(path.join(ROOT, file), { pluginCheck, moduleFile: MODULE });
    assert.equal(r.kind, 'kubernetes');
    assert.deepEqual(r.problems, [], r.problems.map((p) => formatProblem(file, p)).join('\n'));
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
