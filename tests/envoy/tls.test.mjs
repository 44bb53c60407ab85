// envoy/envoy-tls.yaml in a real Envoy: Envoy terminates TLS, and the filter
// sends what Envoy knows of the client's TLS upstream: AUTHORITY from the SNI,
// the SSL TLV (client bits, VERSION, the client certificate's CN) and, through
// a property TLV, the certificate's URI SAN. Test-only certificates come from
// scripts/make-test-certs.sh. The SSL TLV's `verify` field is the module's
// concern (tests/module.test.mjs), not checked here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { envoyFor, inspectBackend, connectOnce, record, counterReaches, testCertificates, REPO } from './harness.mjs';

const TEMPLATE = path.join(REPO, 'envoy', 'envoy-tls.yaml');

/** The client's TLS options: SNI demo.ppv2.test, trusting the test CA, with or without the client certificate. */
const clientTls = (certs, withCertificate) => ({
  servername: 'demo.ppv2.test',
  ca: certs.ca,
  ...(withCertificate ? certs.client : {}),
});

/** The decoded SSL TLV: client bit names, and sub-TLVs by name → text. */
function sslOf(r) {
  const tlv = r.header.tlvs.find((x) => x.name === 'PP2_TYPE_SSL');
  assert.ok(tlv, `an SSL TLV in ${JSON.stringify(r.header.tlvs)}`);
  return { clientFlags: tlv.ssl.clientFlags, sub: Object.fromEntries(tlv.ssl.subTlvs.map((s) => [s.name, s.text ?? s.hex])) };
}

test('the shipped envoy-tls.yaml: AUTHORITY from the SNI, and the SSL TLV with the client certificate\'s CN and the TLS version', async (t) => {
  const certs = await testCertificates(t);
  if (!certs) return;
  const inspect = await inspectBackend(t);
  const envoy = await envoyFor(t, { upstreamPort: inspect.port, template: TEMPLATE, cwd: certs.dir });
  if (!envoy) return;
  const reply = await connectOnce({ port: envoy.port, localAddress: '127.0.0.2', tls: clientTls(certs, true) });
  const r = record(reply);
  assert.deepEqual(r.header.source, { address: '127.0.0.2', port: reply.local.port });
  assert.deepEqual(r.header.tlvs.map((x) => x.name), ['PP2_TYPE_AUTHORITY', 'PP2_TYPE_SSL']);
  assert.equal(r.header.tlvs[0].text, 'demo.ppv2.test');
  const ssl = sslOf(r);
  // Envoy's connection.mtls cannot tell this connection's certificate from a
  // resumed session's, so the filter claims PP2_CLIENT_CERT_SESS (docs/configuration.md).
  assert.deepEqual(ssl.clientFlags, ['PP2_CLIENT_SSL', 'PP2_CLIENT_CERT_SESS']);
  assert.equal(ssl.sub.PP2_SUBTYPE_SSL_VERSION, 'TLSv1.3');
  assert.equal(ssl.sub.PP2_SUBTYPE_SSL_CN, 'ppv2-test-client');
  assert.match(await envoy.lines.next(), / sni=demo\.ppv2\.test tls=TLSv1\.3 peer=CN=ppv2-test-client /);
});

test('a client without a certificate: the SSL TLV has only PP2_CLIENT_SSL and no CN', async (t) => {
  const certs = await testCertificates(t);
  if (!certs) return;
  const inspect = await inspectBackend(t);
  const envoy = await envoyFor(t, { upstreamPort: inspect.port, template: TEMPLATE, cwd: certs.dir });
  if (!envoy) return;
  const ssl = sslOf(record(await connectOnce({ port: envoy.port, tls: clientTls(certs, false) })));
  assert.deepEqual(ssl.clientFlags, ['PP2_CLIENT_SSL']);
  assert.equal(ssl.sub.PP2_SUBTYPE_SSL_VERSION, 'TLSv1.3');
  assert.equal(ssl.sub.PP2_SUBTYPE_SSL_CN, undefined);
});

test('property connection.uri_san_peer_certificate carries the client certificate\'s URI SAN; without a certificate it is left out and counted', async (t) => {
  const certs = await testCertificates(t);
  if (!certs) return;
  const inspect = await inspectBackend(t);
  const config = { tlvs: [{ type: 'authority', from: 'sni' }, { type: 226, property: 'connection.uri_san_peer_certificate' }, { from: 'ssl' }] };
  const envoy = await envoyFor(t, { upstreamPort: inspect.port, template: TEMPLATE, cwd: certs.dir, config });
  if (!envoy) return;
  const withCert = record(await connectOnce({ port: envoy.port, tls: clientTls(certs, true) }));
  assert.deepEqual(withCert.header.tlvs.map((x) => x.type), [0x02, 226, 0x20]);
  assert.equal(Buffer.from(withCert.header.tlvs[1].hex, 'hex').toString(), 'spiffe://ppv2.test/client');
  const without = record(await connectOnce({ port: envoy.port, tls: clientTls(certs, false) }));
  assert.deepEqual(without.header.tlvs.map((x) => x.type), [0x02, 0x20]);
  await counterReaches(envoy.envoy, 'wasmcustom.ppv2.tlvs_omitted', 1);
});
