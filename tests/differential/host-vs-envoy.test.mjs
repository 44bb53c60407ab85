// Differential: the same scripted connections through a real Envoy and
// through `ppv2-wasm proxy`, both running the release module. For each case
// the backend's bytes (header included, ports blanked after they are
// checked) and how each socket ended (FIN, RST, still open) must be the same.
// The cases also answer, with Envoy itself, what a silent client that
// half-closes and a server-first backend get (docs/host.md).
import test from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { envoyBefore, envoyVersion, requireEnvoy } from '../e2e/tools.mjs';
import { blankPorts, headerAt } from './normalise.mjs';
import { dial, sha256, sleep } from './peers.mjs';
import { startEnvoyTarget, startHostTarget } from './targets.mjs';

// Two TLVs that carry Envoy's own address strings, so that the properties
// the host gives the filter are compared with Envoy's too.
const CONFIGURATION = JSON.stringify({
  tlvs: [{ type: 0xe0, property: 'source.address' }, { type: 0xe1, property: 'destination.address' }],
});

const CLIENT_HOST = { v4: '127.0.0.1', v6: '::1', dual: '127.0.0.1', refused: '127.0.0.1', unanswered: '127.0.0.1' };
const SETTLE_MS = 3000;
const LARGE = 8 * 1024 * 1024;

/** A short, comparable account of what a peer received and how it ended. */
function account(peer, ports) {
  const bytes = ports ? blankPorts(peer.bytes, ports) : peer.bytes;
  const header = ports ? headerAt(peer.bytes) : null;
  const received = bytes.length <= 512
    ? bytes.toString('hex')
    : { header: header === null ? null : bytes.subarray(0, header.length).toString('hex'), rest: bytes.length - (header?.length ?? 0), sha256: sha256(bytes.subarray(header?.length ?? 0)) };
  return { received, fin: peer.fin, error: peer.error, closed: peer.closed };
}

/** Waits (bounded) for the socket to close; a socket still open after that is part of the account. */
async function settle(...peers) {
  await Promise.all(peers.filter(Boolean).map((p) => p.waitClose(SETTLE_MS).catch(() => {})));
}

const until = (peer, text) => peer.until((p) => p.bytes.toString('latin1').endsWith(text) || p.closed, `"${text}"`);

// Each script drives one connection through `target` and returns what is compared.
// ctx: { client, accept(), ports, target }.

async function requestReply({ client, accept, ports }) {
  await client.write(Buffer.from('hello\n'));
  client.end();
  const backend = await accept();
  await backend.waitEnd();
  await backend.write(Buffer.from('bye\n'));
  backend.end();
  await client.waitEnd();
  await settle(client, backend);
  return { client: account(client), backend: account(backend, ports) };
}

function chunked(chunks, { waitEach }) {
  return async ({ client, accept, ports }) => {
    const backendPromise = accept();
    let backend = null;
    for (const chunk of chunks) {
      const before = backend?.length ?? 0;
      await client.write(chunk);
      if (waitEach) {
        backend ??= await backendPromise;
        await backend.until((p) => p.length > before, 'the chunk at the backend');
      }
    }
    client.end();
    backend ??= await backendPromise;
    await backend.waitEnd();
    backend.end();
    await settle(client, backend);
    const header = headerAt(backend.bytes);
    assert.ok(header, 'the backend stream starts with a PROXY header');
    assert.equal(sha256(backend.bytes.subarray(header.length)), sha256(Buffer.concat(chunks)), 'the payload arrives whole, once, after one header');
    return { client: account(client), backend: account(backend, ports) };
  };
}

async function silentHalfClose({ client, accept, ports }) {
  client.end();
  const backend = await accept();
  await backend.waitEnd();
  // The answer, from Envoy itself: the client's FIN alone reaches the filter
  // (proxy_on_downstream_data with 0 bytes and end_of_stream), which writes
  // the header; the backend gets the header, then the FIN.
  const header = headerAt(backend.bytes);
  assert.ok(header, 'the backend received a PROXY header');
  assert.equal(backend.bytes.length, header.length, 'and nothing else');
  assert.ok(backend.fin, 'then the FIN');
  await backend.write(Buffer.from('reply to a silent client\n'));
  backend.end();
  await client.waitEnd();
  await settle(client, backend);
  return { client: account(client), backend: account(backend, ports) };
}

const GREETING = '220 backend ready\r\n';

async function serverFirst({ client, accept, ports }) {
  const backend = await accept();
  await until(client, GREETING);
  await sleep(200); // give a header time to arrive, if anything were to send one now
  const beforeClientSpoke = backend.bytes.toString('hex');
  // The answer, from Envoy itself: the greeting reaches the client, and the
  // backend gets nothing, no header either, until the client speaks; then
  // the header and the client's first bytes together.
  assert.equal(beforeClientSpoke, '', 'nothing reaches a server-first backend before the client speaks');
  await client.write(Buffer.from('EHLO client\r\n'));
  await until(backend, 'EHLO client\r\n');
  const header = headerAt(backend.bytes);
  assert.ok(header, 'the client\'s first bytes come after a header');
  assert.equal(backend.bytes.subarray(header.length).toString('latin1'), 'EHLO client\r\n');
  client.end();
  await backend.waitEnd();
  await backend.write(Buffer.from('221 bye\r\n'));
  backend.end();
  await client.waitEnd();
  await settle(client, backend);
  return { beforeClientSpoke, client: account(client), backend: account(backend, ports) };
}

function upstreamFails({ speak }) {
  return async ({ client, target }) => {
    if (speak) await client.write(Buffer.from('hello\n'));
    await client.waitEnd();
    client.end();
    await settle(client);
    return { client: account(client), backendConnections: target.backend.unclaimed };
  };
}

/**
 * Envoy before `until` closed the other side of a reset with a FIN, where
 * later releases pass the reset on (observed: 1.36.2 and 1.37.0 for both
 * directions, 1.38.2 to 1.39.3 for a client's reset). The host follows the
 * newer behaviour; against an older Envoy the case checks that Envoy did what
 * those releases do, and everything else the same.
 */
function resetBecameFin(until, other) {
  return {
    until,
    why: `a reset reached the ${other} as a FIN`,
    expect: (fromHost) => ({
      ...fromHost,
      otherSaw: { fin: true, error: null },
      [other]: { ...fromHost[other], fin: true, error: null },
    }),
  };
}

/** Once the backend has the client's bytes, `who` ('client' or 'backend') resets; what does the other side see? */
function resetMidStream(who) {
  return async ({ client, accept, ports }) => {
    await client.write(Buffer.from('hello'));
    const backend = await accept();
    await until(backend, 'hello');
    const [resets, other] = who === 'client' ? [client, backend] : [backend, client];
    resets.reset();
    await other.waitEnd();
    const otherSaw = { fin: other.fin, error: other.error };
    other.end();
    await settle(other);
    return { otherSaw, client: account(client), backend: account(backend, ports) };
  };
}

async function backendClosesFirst({ client, accept, ports }) {
  await client.write(Buffer.from('ping'));
  const backend = await accept();
  await until(backend, 'ping');
  await backend.write(Buffer.from('pong'));
  backend.end();
  await client.waitEnd();
  const clientSaw = { bytes: client.bytes.toString('latin1'), fin: client.fin, error: client.error };
  // Half-close: the client may still talk after the backend's FIN.
  await client.write(Buffer.from('after'));
  client.end();
  await settle(client, backend);
  return { clientSaw, client: account(client), backend: account(backend, ports) };
}

async function backendTalksAfterClientFin({ client, accept, ports }) {
  await client.write(Buffer.from('request'));
  client.end();
  const backend = await accept();
  await backend.waitEnd();
  for (const part of ['part 1;', 'part 2;', 'part 3.']) {
    await backend.write(Buffer.from(part));
    await sleep(30);
  }
  backend.end();
  await client.waitEnd();
  await settle(client, backend);
  return { client: account(client), backend: account(backend, ports) };
}

// Both sides send at once; the backend ends only after the client's FIN. (A
// backend that ends first while the client is still sending a lot is where
// Envoy 1.40 sometimes drops the client's last bytes: docs/host.md.)
function largeBothWays(upload, download) {
  return async ({ client, accept, ports }) => {
    const backend = await accept();
    const sent = backend.write(download);
    await client.write(upload);
    client.end();
    await backend.waitEnd(30000);
    await sent;
    backend.end();
    await client.waitEnd(30000);
    await settle(client, backend);
    const header = headerAt(backend.bytes);
    const state = `client: ${client.describe()}; backend: ${backend.describe()}`;
    assert.equal(sha256(client.bytes), sha256(download), `the client received the backend's bytes whole (${state})`);
    assert.equal(sha256(backend.bytes.subarray(header?.length ?? 0)), sha256(upload), `the backend received the client's bytes whole (${state})`);
    return { client: account(client), backend: account(backend, ports) };
  };
}

const bytes = (n, seed) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

const CASES = [
  { name: 'IPv4 client, request and reply', listener: 'v4', script: requestReply },
  { name: 'IPv6 client, request and reply', listener: 'v6', script: requestReply },
  { name: 'IPv4 client on a dual-stack listener', listener: 'dual', script: requestReply },
  { name: 'IPv6 client on a dual-stack listener', listener: 'dual', clientHost: '::1', script: requestReply },
  { name: 'one byte per write, each forwarded before the next', listener: 'v4', script: chunked(Array.from(bytes(64, 1), (b) => Buffer.of(b)), { waitEach: true }) },
  { name: 'many small writes', listener: 'v4', script: chunked(Array.from({ length: 1000 }, (_, i) => bytes(16, i)), { waitEach: false }) },
  { name: 'one big write (1 MiB)', listener: 'v4', script: chunked([randomBytes(1024 * 1024)], { waitEach: false }) },
  { name: 'a silent client that half-closes', listener: 'v4', script: silentHalfClose },
  { name: 'a server-first backend', listener: 'v4', onAccept: (peer) => peer.socket.write(GREETING), script: serverFirst },
  // Loopback refuses at once, so whether a client's bytes are already waiting
  // when the proxy closes is a race; the unanswered upstream removes it.
  { name: 'upstream refused, silent client', listener: 'refused', script: upstreamFails({ speak: false }) },
  { name: 'upstream never answers (connect timeout), client already sent bytes', listener: 'unanswered', script: upstreamFails({ speak: true }) },
  { name: 'client resets mid-stream', listener: 'v4', script: resetMidStream('client'), olderEnvoy: resetBecameFin('1.40.0', 'backend') },
  { name: 'backend resets mid-stream', listener: 'v4', script: resetMidStream('backend'), olderEnvoy: resetBecameFin('1.38.0', 'client') },
  { name: 'backend closes first, client talks after its FIN', listener: 'v4', script: backendClosesFirst },
  { name: 'client half-closes first, backend keeps talking', listener: 'v4', script: backendTalksAfterClientFin },
  largeCase(randomBytes(LARGE), randomBytes(LARGE)),
];

function largeCase(upload, download) {
  return {
    name: `large transfers both ways (${LARGE / 1024 / 1024} MiB each, hashed)`,
    listener: 'v4',
    script: largeBothWays(upload, download),
  };
}

async function runCase(target, kase) {
  // Set before the client connects: both proxies connect upstream as soon as a client arrives.
  target.backend.forget();
  target.backend.onAccept = kase.onAccept ?? null;
  const port = target.listeners[kase.listener];
  const client = await dial({ host: kase.clientHost ?? CLIENT_HOST[kase.listener], port });
  assert.equal(client.error, null, `${target.name}: could not connect to the ${kase.listener} listener: ${client.error}`);
  const ports = { client: client.socket.localPort, listener: port };
  let backend = null;
  const accept = async () => (backend = await target.backend.accept());
  try {
    return await kase.script({ client, accept, ports, target });
  } catch (error) {
    error.message = `${target.name}: ${error.message}`;
    if (target.log.length > 0) error.message += `\n${target.name}'s last log lines:\n${target.log.slice(-5).join('\n')}`;
    throw error;
  } finally {
    target.backend.onAccept = null;
    client.destroy();
    backend?.destroy();
  }
}

test('differential: ppv2-wasm proxy against Envoy, connection by connection', async (t) => {
  const envoyBinary = requireEnvoy(t);
  if (!envoyBinary) return;
  const version = envoyVersion(envoyBinary);
  const [envoy, host] = await Promise.all([startEnvoyTarget(envoyBinary, CONFIGURATION), startHostTarget(CONFIGURATION)]);
  t.after(() => Promise.all([envoy.stop(), host.stop()]));
  for (const kase of CASES) {
    await t.test(kase.name, async (tc) => {
      const fromEnvoy = await runCase(envoy, kase);
      const fromHost = await runCase(host, kase);
      tc.diagnostic(`envoy ${version}: ${JSON.stringify(fromEnvoy)}`);
      const older = kase.olderEnvoy && envoyBefore(version, kase.olderEnvoy.until) ? kase.olderEnvoy : null;
      if (older) {
        tc.diagnostic(`Envoy ${version} is older than ${older.until}: ${older.why}; the host follows ${older.until}`);
        assert.deepEqual(fromEnvoy, older.expect(fromHost), `${kase.name}: Envoy ${version} differs from what releases before ${older.until} do`);
      } else {
        assert.deepEqual(fromHost, fromEnvoy, `${kase.name}: the host differs from Envoy`);
      }
    });
  }
});
