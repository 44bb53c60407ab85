// The SSL TLV in a real Envoy (the TLS listener of envoy/envoy-tls.yaml, certificates from
// scripts/make-test-certs.sh in a temporary folder): its `client` and `verify` fields say only
// what Envoy's attributes and the configuration let the filter know.
//   - A verifying listener (trust_chain_verification VERIFY_TRUST_CHAIN, the default) and
//     "listener_verifies_client_cert": true: a client certificate means verify 0.
//   - No client certificate: client PP2_CLIENT_SSL only, verify non-zero, no CN.
//   - A resumed TLS session: the client sends no certificate on the connection, yet Envoy's
//     connection.mtls is true and the CN is the one of the session's certificate. That is why
//     the filter sends PP2_CLIENT_CERT_SESS, never PP2_CLIENT_CERT_CONN.
//   - A listener with ACCEPT_UNTRUSTED takes an untrusted certificate: connection.mtls is true
//     all the same, so without the configuration key verify stays non-zero.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { decodeProxyHeader } from '../../dist/proxy-protocol/index.js';
import { ROOT, startModuleEnvoy } from './module-envoy.mjs';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'ppv2-module-ssl-'));
const certs = join(dir, 'certs');
const cleanups = [];

before(async () => {
  await run('sh', [join(ROOT, 'scripts/make-test-certs.sh'), certs]);
  // A client certificate no CA of the listener vouches for.
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=ppv2-untrusted-client',
    '-addext', 'extendedKeyUsage=clientAuth', '-keyout', join(certs, 'untrusted.key'), '-out', join(certs, 'untrusted.crt')]);
});
after(async () => {
  for (const c of cleanups.reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});

const file = (name) => readFileSync(join(certs, name));

/** A backend that keeps every connection's bytes, resolving each one when the client is done. */
async function startBackend() {
  const received = [];
  const waiting = [];
  const server = createServer((socket) => {
    const chunks = [];
    socket.on('data', (d) => chunks.push(d));
    socket.on('end', () => {
      const bytes = Buffer.concat(chunks);
      const waiter = waiting.shift();
      if (waiter) waiter(bytes);
      else received.push(bytes);
      socket.end();
    });
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return {
    port: server.address().port,
    next: () => (received.length > 0 ? Promise.resolve(received.shift()) : new Promise((resolve) => waiting.push(resolve))),
    /** What arrived and nobody asked for yet. */
    drain: () => received.splice(0),
  };
}

/** envoy/envoy-tls.yaml on a free port, the certificates of this run, the release module with `configuration`. */
function startTlsEnvoy(t, { backendPort, configuration, acceptUntrusted = false }) {
  const context = ['static_resources', 'listeners', 0, 'filter_chains', 0, 'transport_socket', 'typed_config', 'common_tls_context'];
  return startModuleEnvoy(t, {
    template: 'envoy/envoy-tls.yaml',
    backendPort,
    configuration,
    cleanup: (stop) => cleanups.push(stop),
    edit: (doc) => {
      doc.setIn([...context, 'tls_certificates', 0, 'certificate_chain', 'filename'], join(certs, 'server.crt'));
      doc.setIn([...context, 'tls_certificates', 0, 'private_key', 'filename'], join(certs, 'server.key'));
      doc.setIn([...context, 'validation_context', 'trusted_ca', 'filename'], join(certs, 'ca.crt'));
      if (acceptUntrusted) doc.setIn([...context, 'validation_context', 'trust_chain_verification'], 'ACCEPT_UNTRUSTED');
    },
  });
}

/**
 * One TLS connection through Envoy: sends a line and ends. Resolves with the TLS session (for
 * resumption) and whether this connection resumed one; rejects when the handshake fails.
 */
async function tlsClient(port, options) {
  const socket = tls.connect({ host: '127.0.0.1', port, servername: 'demo.ppv2.test', ca: file('ca.crt'), ...options });
  let session;
  socket.on('session', (s) => (session = s));
  const closed = once(socket, 'close');
  await once(socket, 'secureConnect');
  const reused = socket.isSessionReused();
  socket.write('hello\n');
  socket.end();
  await closed;
  return { session, reused };
}

/** The SSL TLV of the header a backend received: client byte, verify, and sub-TLV texts. */
function sslTlv(bytes) {
  const decoded = decodeProxyHeader(bytes);
  assert.equal(decoded.state, 'complete', decoded.reason);
  assert.equal(bytes.subarray(decoded.header.length).toString(), 'hello\n');
  const tlv = decoded.header.tlvs.find((x) => x.type === 0x20);
  assert.ok(tlv, `no SSL TLV in ${JSON.stringify(decoded.header.tlvs)}`);
  return { client: tlv.ssl.client, verify: tlv.ssl.verify, sub: Object.fromEntries(tlv.ssl.subTlvs.map((s) => [s.name, s.text])) };
}

const PP2_CLIENT_SSL = 0x01;
const PP2_CLIENT_CERT_SESS = 0x04;

test('a verifying listener with listener_verifies_client_cert: verify 0 with a certificate, CERT_SESS, the CN; without one, SSL only', async (t) => {
  const backend = await startBackend();
  const started = await startTlsEnvoy(t, { backendPort: backend.port, configuration: '{"tlvs": [{"from": "ssl", "listener_verifies_client_cert": true}]}' });
  if (started === null) return;
  const { port } = started;

  const first = await tlsClient(port, { cert: file('client.crt'), key: file('client.key') });
  assert.equal(first.reused, false);
  assert.deepEqual(sslTlv(await backend.next()), {
    client: PP2_CLIENT_SSL | PP2_CLIENT_CERT_SESS, verify: 0, sub: { PP2_SUBTYPE_SSL_VERSION: 'TLSv1.3', PP2_SUBTYPE_SSL_CN: 'ppv2-test-client' },
  });

  // The same session resumed: no certificate travels on this connection, and Envoy still reports
  // one (connection.mtls is peerCertificatePresented(), answered from the session).
  const resumed = await tlsClient(port, { session: first.session });
  assert.equal(resumed.reused, true, 'Envoy resumed the TLS session');
  assert.deepEqual(sslTlv(await backend.next()), {
    client: PP2_CLIENT_SSL | PP2_CLIENT_CERT_SESS, verify: 0, sub: { PP2_SUBTYPE_SSL_VERSION: 'TLSv1.3', PP2_SUBTYPE_SSL_CN: 'ppv2-test-client' },
  });

  await tlsClient(port, {});
  assert.deepEqual(sslTlv(await backend.next()), { client: PP2_CLIENT_SSL, verify: 1, sub: { PP2_SUBTYPE_SSL_VERSION: 'TLSv1.3' } });

  // An untrusted certificate never gets past this listener's handshake, so any certificate
  // the filter sees here was verified: nothing reaches the backend (tcp_proxy may have dialled
  // it already; that connection stays empty).
  await tlsClient(port, { cert: file('untrusted.crt'), key: file('untrusted.key') }).catch(() => {});
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.deepEqual(backend.drain().map((b) => b.length).filter((n) => n > 0), []);
});

test('a listener that accepts untrusted certificates, without listener_verifies_client_cert: mtls is true, verify stays non-zero', async (t) => {
  const backend = await startBackend();
  const started = await startTlsEnvoy(t, { backendPort: backend.port, configuration: '{"tlvs": [{"from": "ssl"}]}', acceptUntrusted: true });
  if (started === null) return;
  const { port } = started;

  await tlsClient(port, { cert: file('untrusted.crt'), key: file('untrusted.key') });
  assert.deepEqual(sslTlv(await backend.next()), {
    client: PP2_CLIENT_SSL | PP2_CLIENT_CERT_SESS, verify: 1, sub: { PP2_SUBTYPE_SSL_VERSION: 'TLSv1.3', PP2_SUBTYPE_SSL_CN: 'ppv2-untrusted-client' },
  });
  await tlsClient(port, { cert: file('client.crt'), key: file('client.key') });
  assert.deepEqual(sslTlv(await backend.next()), {
    client: PP2_CLIENT_SSL | PP2_CLIENT_CERT_SESS, verify: 1, sub: { PP2_SUBTYPE_SSL_VERSION: 'TLSv1.3', PP2_SUBTYPE_SSL_CN: 'ppv2-test-client' },
  });
  const stats = await started.envoy.stats('wasmcustom.ppv2');
  assert.equal(stats['wasmcustom.ppv2.closed_on_error'] ?? 0, 0);
});
