// Every example in envoy/plugin-configs/ through a real Envoy, each with the
// header (or the close) it must produce, read by the strict `inspect`
// decoder. A new example without an entry here fails the first test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { envoyFor, inspectBackend, connectOnce, record, counterReaches, connectionId, testCertificates, fixture, REPO } from './harness.mjs';

const DIR = path.join(REPO, 'envoy', 'plugin-configs');
const FILES = fs.readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();
const TLS_TEMPLATE = path.join(REPO, 'envoy', 'envoy-tls.yaml');
const hexOf = (text) => Buffer.from(text).toString('hex');

/** Runs one example through Envoy: `config` is the file's text, as Envoy gets it. */
const EXPECTED = {
  'defaults.json': async (t, config, inspect) => {
    const envoy = await envoyFor(t, { upstreamPort: inspect.port, config });
    if (!envoy) return;
    const reply = await connectOnce({ port: envoy.port, localAddress: '127.0.0.2' });
    const r = record(reply);
    assert.deepEqual([r.header.version, r.header.command, r.header.family, r.header.tlvs], [2, 'PROXY', 'TCP4', []]);
    assert.deepEqual(r.header.source, { address: '127.0.0.2', port: reply.local.port });
  },
  'version-1.json': async (t, config, inspect) => {
    const envoy = await envoyFor(t, { upstreamPort: inspect.port, config });
    if (!envoy) return;
    const reply = await connectOnce({ port: envoy.port, localAddress: '127.0.0.2' });
    assert.equal(Buffer.from(record(reply).headerHex, 'hex').toString(), `PROXY TCP4 127.0.0.2 127.0.0.1 ${reply.local.port} ${envoy.port}\r\n`);
  },
  'crc32c.json': async (t, config, inspect) => {
    const envoy = await envoyFor(t, { upstreamPort: inspect.port, config });
    if (!envoy) return;
    const r = record(await connectOnce({ port: envoy.port }));
    assert.deepEqual(r.header.tlvs.map((x) => x.name), ['PP2_TYPE_CRC32C'], 'verified by inspect');
  },
  'on-unknown-address-close.json': async (t, config, inspect) => {
    // Addresses Envoy knows get the header as usual ...
    const tcp = await envoyFor(t, { upstreamPort: inspect.port, config });
    if (!tcp) return;
    assert.equal(record(await connectOnce({ port: tcp.port })).header.family, 'TCP4');
    // ... and an internal listener's (envoy://) close the connection.
    const internal = await envoyFor(t, { upstreamPort: inspect.port, config, listen: 'template', template: fixture('internal-listener.yaml') });
    const closed = await connectOnce({ port: internal.port });
    assert.equal(closed.data.length, 0);
    await counterReaches(internal.envoy, 'wasmcustom.ppv2.closed_by_policy', 1);
  },
  'reject-client-proxy-header.json': async (t, config, inspect) => {
    const envoy = await envoyFor(t, { upstreamPort: inspect.port, config });
    if (!envoy) return;
    const rejected = await connectOnce({ port: envoy.port, send: [Buffer.from('PROXY TCP4 6.6.6.6 127.0.0.1 1 2\r\n')] });
    assert.equal(rejected.data.length, 0);
    assert.equal(record(await connectOnce({ port: envoy.port })).header.family, 'TCP4');
    await counterReaches(envoy.envoy, 'wasmcustom.ppv2.closed_by_policy', 1);
  },
  'tlvs-static.json': async (t, config, inspect) => {
    const envoy = await envoyFor(t, { upstreamPort: inspect.port, config });
    if (!envoy) return;
    const r = record(await connectOnce({ port: envoy.port }));
    assert.deepEqual(r.header.tlvs.map((x) => [x.type, x.hex]), [[2, hexOf('backend.example')], [234, '01767063652d3031323334353637383961626364656630']]);
  },
  'tlvs-from-connection.json': async (t, config, inspect) => {
    // sni and ssl need a TLS listener: envoy-tls.yaml with this configuration.
    const certs = await testCertificates(t);
    if (!certs) return;
    const envoy = await envoyFor(t, { upstreamPort: inspect.port, config, template: TLS_TEMPLATE, cwd: certs.dir });
    if (!envoy) return;
    const r = record(await connectOnce({ port: envoy.port, tls: { servername: 'demo.ppv2.test', ca: certs.ca, ...certs.client } }));
    const id = connectionId(await envoy.lines.next());
    assert.deepEqual(r.header.tlvs.map((x) => x.name), ['PP2_TYPE_AUTHORITY', 'PP2_TYPE_UNIQUE_ID', 'PP2_TYPE_SSL']);
    assert.equal(r.header.tlvs[0].text, 'demo.ppv2.test');
    assert.equal(r.header.tlvs[1].text, String(id));
    assert.equal(r.header.tlvs[2].ssl.subTlvs.find((s) => s.name === 'PP2_SUBTYPE_SSL_CN').text, 'ppv2-test-client');
  },
  'tlvs-property.json': async (t, config, inspect) => {
    // requested_server_name needs TLS (and the TLS inspector): envoy-tls.yaml.
    const certs = await testCertificates(t);
    if (!certs) return;
    const envoy = await envoyFor(t, { upstreamPort: inspect.port, config, template: TLS_TEMPLATE, cwd: certs.dir });
    if (!envoy) return;
    const r = record(await connectOnce({ port: envoy.port, tls: { servername: 'demo.ppv2.test', ca: certs.ca } }));
    assert.deepEqual(r.header.tlvs.map((x) => [x.type, x.text]), [[224, 'backend'], [225, 'demo.ppv2.test']]);
  },
};

test('every example in envoy/plugin-configs/ has an expectation here, and every expectation an example', () => {
  assert.deepEqual(FILES, Object.keys(EXPECTED).sort());
});

for (const file of FILES) {
  test(`envoy/plugin-configs/${file} through Envoy`, async (t) => {
    const run = EXPECTED[file];
    if (!run) return; // reported by the test above
    const inspect = await inspectBackend(t);
    await run(t, fs.readFileSync(path.join(DIR, file), 'utf8'), inspect);
  });
}
