// Byte for byte against Envoy's own PROXY header. Each listener runs the
// filter AND sends upstream through a cluster with Envoy's native
// envoy.transport_sockets.upstream_proxy_protocol transport socket, so one
// connection carries both headers: the native one, written when the upstream
// connects, then the filter's, prepended to the client's first bytes. Same
// connection, same addresses, ports and connection id: where both can express
// a header, the bytes must be identical (TLV order aside, shown explicitly);
// where they cannot, the test records what each sends. A raw recorder keeps
// the bytes, and the strict decoder in src/proxy-protocol splits them.
// docs/envoy.md ("Compared with Envoy's native PROXY support") is this file's table.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { startEnvoy } from '../../dist/deploy/envoy-launcher.js';
import { decodeProxyHeader } from '../../dist/proxy-protocol/index.js';
import { envoyBefore, envoyVersion, findTool, requireEnvoy, requireTool } from '../e2e/tools.mjs';
import { bootstrap, cluster, formatTlv, internalListener, listener, staticTlv, tcpProxy, wasmFilter } from './envoy-config.mjs';
import { headerAt } from './normalise.mjs';
import { dial, startRecorder } from './peers.mjs';
import { REPO, RELEASE_WASM } from './targets.mjs';

const run = promisify(execFile);
const hex = (b) => Buffer.from(b).toString('hex');
const PAYLOAD = Buffer.from('hello\n');

const LISTENER_FILTER = {
  proxyProtocol: { name: 'envoy.filters.listener.proxy_protocol', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol' } },
  tlsInspector: { name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' } },
};
const V2 = { version: 'V2' };
const V2_PASS_ALL = { version: 'V2', pass_through_tlvs: { match_type: 'INCLUDE_ALL' } };
const V1 = { version: 'V1' };

// A downstream PROXY v2 header (what a load balancer in front of Envoy
// sends), TCP6 with IPv4-mapped addresses: ::ffff:1.2.3.4:1000 -> ::ffff:5.6.7.8:2000.
const MAPPED_DOWNSTREAM_HEADER = Buffer.from(
  '0d0a0d0a000d0a515549540a' + '2121' + '0024' +
  '00000000000000000000ffff01020304' + '00000000000000000000ffff05060708' + '03e8' + '07d0', 'hex');

// ---- reading the recorded stream ---------------------------------------------------------

/** The PROXY headers at the start of `bytes`, one after another, and what follows them. */
function splitHeaders(bytes) {
  const headers = [];
  let at = 0;
  for (let h = headerAt(bytes.subarray(at)); h !== null; h = headerAt(bytes.subarray(at))) {
    headers.push({ header: h, bytes: bytes.subarray(at, at + h.length) });
    at += h.length;
  }
  return { headers, rest: bytes.subarray(at) };
}

/** Address block sizes of PROXY v2 (section 2.2). */
const ADDRESS_BLOCK = { TCP4: 12, TCP6: 36, UNIX_STREAM: 216, UNSPEC: 0 };

/** A v2 header's TLV records, raw (type, length, value), in wire order. */
function rawTlvs({ header, bytes }) {
  const out = [];
  for (let at = 16 + ADDRESS_BLOCK[header.family]; at < bytes.length; at += 3 + bytes.readUInt16BE(at + 1)) {
    out.push(bytes.subarray(at, at + 3 + bytes.readUInt16BE(at + 1)));
  }
  return out;
}

/** The same v2 header with its TLV records replaced by `tlvs` (length field recomputed). */
function withTlvs({ header, bytes }, tlvs) {
  const fixed = Buffer.from(bytes.subarray(0, 16 + ADDRESS_BLOCK[header.family]));
  const out = Buffer.concat([fixed, ...tlvs]);
  out.writeUInt16BE(out.length - 16, 14);
  return out;
}

const types = (h) => rawTlvs(h).map((t) => t[0]);
const tlvText = (h, type) => h.header.tlvs.find((t) => t.type === type)?.text;

// ---- the cases ---------------------------------------------------------------------------
// Each case is one listener: `filter` (plugin JSON, or null for none), the
// cluster's native `proxyProtocol` config, tcp_proxy's `proxy_protocol_tlvs`,
// how the client connects, and `check({ native, filter, rest, ctx })`.

/** Both sent a header and the bytes are identical. */
function identical({ native, filter }) {
  assert.ok(native && filter, 'both headers present');
  assert.equal(hex(filter.bytes), hex(native.bytes), 'the filter\'s header is byte for byte the native one');
}

const CASES = [
  { name: 'v2, IPv4', listen: '127.0.0.1', filter: '{}', proxyProtocol: V2, check: identical },
  { name: 'v2, IPv6', listen: '::1', filter: '{}', proxyProtocol: V2, check: identical },
  {
    name: 'v2, IPv4 client on a dual-stack listener (Envoy reports plain IPv4: both send TCP4)',
    listen: '::', ipv4Compat: true, clientHost: '127.0.0.1', filter: '{}', proxyProtocol: V2,
    check: (h) => { identical(h); assert.equal(h.native.header.family, 'TCP4'); },
  },
  { name: 'v2, IPv6 client on a dual-stack listener', listen: '::', ipv4Compat: true, clientHost: '::1', filter: '{}', proxyProtocol: V2, check: identical },
  {
    name: 'v2, static TLVs: the filter\'s value/hex against the transport socket\'s added_tlvs',
    listen: '127.0.0.1',
    filter: JSON.stringify({ tlvs: [{ type: 'authority', value: 'backend.example' }, { type: 0xea, hex: '0176706365' }, { type: 'unique_id', value: 'req-1' }, { type: 'noop', hex: '00' }] }),
    proxyProtocol: { version: 'V2', added_tlvs: [staticTlv(0x02, 'backend.example'), staticTlv(0xea, Buffer.from('0176706365', 'hex')), staticTlv(0x05, 'req-1'), staticTlv(0x04, Buffer.of(0))] },
    check: identical,
  },
  {
    name: 'v2, per-connection TLVs: the filter\'s from/property against tcp_proxy proxy_protocol_tlvs (same values; tcp_proxy puts static TLVs first)',
    listen: '127.0.0.1',
    filter: JSON.stringify({ tlvs: [
      { type: 'unique_id', from: 'connection_id' },
      { type: 0xe0, property: 'source.address' },
      { type: 0xe1, property: 'destination.address' },
      { type: 0xe2, value: 'static' },
    ] }),
    tcpProxyTlvs: [formatTlv(0x05, '%CONNECTION_ID%'), formatTlv(0xe0, '%DOWNSTREAM_REMOTE_ADDRESS%'), formatTlv(0xe1, '%DOWNSTREAM_LOCAL_ADDRESS%'), staticTlv(0xe2, 'static')],
    proxyProtocol: V2_PASS_ALL,
    check: ({ native, filter }) => {
      assert.deepEqual(types(filter), [0x05, 0xe0, 0xe1, 0xe2], 'the filter writes TLVs in configuration order');
      assert.deepEqual(types(native), [0xe2, 0x05, 0xe0, 0xe1], 'tcp_proxy writes its static TLVs first, then the format strings (evaluateDynamicTLVs)');
      const inFilterOrder = [0x05, 0xe0, 0xe1, 0xe2].map((type) => rawTlvs(native).find((t) => t[0] === type));
      assert.equal(hex(filter.bytes), hex(withTlvs(native, inFilterOrder)), 'with the TLVs in the same order, the bytes are identical');
    },
  },
  {
    name: 'v2, tcp_proxy proxy_protocol_tlvs need pass_through_tlvs on the transport socket (without it: none sent)',
    listen: '127.0.0.1',
    filter: '{}',
    tcpProxyTlvs: [staticTlv(0xe2, 'static')],
    proxyProtocol: V2,
    check: identical,
  },
  {
    name: 'v2, SNI: the filter\'s from: sni against %REQUESTED_SERVER_NAME% (tls_inspector, TLS passed through)',
    listen: '127.0.0.1', listenerFilters: [LISTENER_FILTER.tlsInspector], client: 'tls-sni',
    filter: JSON.stringify({ tlvs: [{ type: 'authority', from: 'sni' }] }),
    tcpProxyTlvs: [formatTlv(0x02, '%REQUESTED_SERVER_NAME%')],
    proxyProtocol: V2_PASS_ALL,
    check: (h) => { identical(h); assert.equal(tlvText(h.filter, 0x02), 'demo.ppv2.test'); },
  },
  {
    name: 'v2, no SNI: the filter leaves AUTHORITY out, %REQUESTED_SERVER_NAME% sends "-" (an empty TLV with omit_empty_values)',
    listen: '127.0.0.1', listenerFilters: [LISTENER_FILTER.tlsInspector],
    filter: JSON.stringify({ tlvs: [{ type: 'authority', from: 'sni' }] }),
    tcpProxyTlvs: [formatTlv(0x02, '%REQUESTED_SERVER_NAME%'), formatTlv(0xe0, '%REQUESTED_SERVER_NAME%', { omitEmptyValues: true })],
    proxyProtocol: V2_PASS_ALL,
    check: ({ native, filter }) => {
      assert.deepEqual(filter.header.tlvs, [], 'the filter omits a TLV whose value is empty');
      assert.equal(tlvText(native, 0x02), '-', 'the access-log formatter\'s "-" for a missing value');
      assert.equal(native.header.tlvs.find((t) => t.type === 0xe0)?.hex, '', 'omit_empty_values leaves a zero-length TLV');
      assert.equal(hex(filter.bytes), hex(withTlvs(native, [])), 'otherwise identical');
    },
  },
  {
    name: 'v2, the transport socket\'s added_tlvs format_string: evaluated in this Envoy, but against the upstream connection',
    listen: '127.0.0.1',
    filter: JSON.stringify({ tlvs: [{ type: 0xe0, property: 'source.address' }] }),
    proxyProtocol: { version: 'V2', added_tlvs: [formatTlv(0xe0, '%DOWNSTREAM_REMOTE_ADDRESS%')] },
    check: ({ native, filter, ctx }) => {
      assert.equal(tlvText(filter, 0xe0), `127.0.0.1:${ctx.clientPort}`, 'the filter: the client');
      if (envoyBefore(ctx.envoyVersion, '1.40.0')) {
        // Releases before 1.40.0 ignore format_string in the transport socket: the TLV goes out empty.
        assert.equal(native.header.tlvs.find((t) => t.type === 0xe0)?.hex, '', `native in Envoy ${ctx.envoyVersion}: a zero-length TLV`);
      } else {
        assert.equal(tlvText(native, 0xe0), `127.0.0.1:${ctx.backendPort}`, 'native: the upstream connection\'s peer, i.e. the backend, not the client');
      }
    },
  },
  {
    name: 'v2, CRC32C: only the filter can send it; without it the headers are identical',
    listen: '127.0.0.1', filter: '{"crc32c": true}', proxyProtocol: V2,
    check: ({ native, filter }) => {
      assert.deepEqual(types(filter), [0x03]);
      assert.ok(filter.header.tlvs[0].crc32c, 'the strict decoder verified the checksum');
      assert.deepEqual(types(native), []);
      assert.equal(hex(withTlvs(filter, [])), hex(native.bytes));
    },
  },
  {
    name: 'v2, TLS terminated by Envoy: only the filter sends PP2_TYPE_SSL; without it the headers are identical',
    listen: '127.0.0.1', tls: true, client: 'tls-cert',
    filter: JSON.stringify({ tlvs: [{ from: 'ssl' }] }),
    proxyProtocol: V2,
    check: ({ native, filter }) => {
      assert.deepEqual(types(native), []);
      const ssl = filter.header.tlvs.find((t) => t.type === 0x20)?.ssl;
      assert.ok(ssl, 'the filter sent PP2_TYPE_SSL');
      assert.ok(ssl.clientFlags.includes('PP2_CLIENT_SSL') && ssl.clientFlags.includes('PP2_CLIENT_CERT_SESS'), `client flags ${ssl.clientFlags}`);
      assert.match(ssl.subTlvs.find((t) => t.type === 0x21)?.text ?? '', /^TLSv1\.[23]$/);
      assert.equal(ssl.subTlvs.find((t) => t.type === 0x22)?.text, 'ppv2-test-client');
      assert.equal(hex(withTlvs(filter, [])), hex(native.bytes));
    },
  },
  {
    name: 'v2, a downstream PROXY header with IPv4-mapped addresses: native sends TCP6 as received, the filter TCP4',
    listen: '127.0.0.1', listenerFilters: [LISTENER_FILTER.proxyProtocol], prefix: MAPPED_DOWNSTREAM_HEADER,
    filter: '{}', proxyProtocol: V2,
    check: ({ native, filter }) => {
      assert.equal(hex(native.bytes), hex(MAPPED_DOWNSTREAM_HEADER), 'native: TCP6, ::ffff:1.2.3.4 -> ::ffff:5.6.7.8');
      assert.equal(hex(filter.bytes), '0d0a0d0a000d0a515549540a' + '2111000c' + '01020304' + '05060708' + '03e8' + '07d0', 'the filter: TCP4, 1.2.3.4 -> 5.6.7.8');
    },
  },
  { name: 'v1, IPv4', listen: '127.0.0.1', filter: '{"version": 1}', proxyProtocol: V1, check: identical },
  { name: 'v1, IPv6', listen: '::1', filter: '{"version": 1}', proxyProtocol: V1, check: identical },
  { name: 'v1, IPv4 client on a dual-stack listener', listen: '::', ipv4Compat: true, clientHost: '127.0.0.1', filter: '{"version": 1}', proxyProtocol: V1, check: identical },
  {
    name: 'v1, a downstream PROXY header with IPv4-mapped addresses: native writes TCP6 with a dotted quad (refused by the strict decoder), the filter TCP4',
    listen: '127.0.0.1', listenerFilters: [LISTENER_FILTER.proxyProtocol], prefix: MAPPED_DOWNSTREAM_HEADER,
    filter: '{"version": 1}', proxyProtocol: V1, rawCheck: true,
    check: ({ bytes }) => {
      const nativeLine = 'PROXY TCP6 ::ffff:1.2.3.4 ::ffff:5.6.7.8 1000 2000\r\n';
      assert.equal(bytes.toString('latin1', 0, nativeLine.length), nativeLine);
      assert.match(decodeProxyHeader(bytes).reason ?? '', /"1\.2\.3\.4", not a group of 1 to 4 hex digits/, 'section 2.1 has no embedded dotted quad');
      const { headers, rest } = splitHeaders(bytes.subarray(nativeLine.length));
      assert.equal(headers[0]?.bytes.toString('latin1'), 'PROXY TCP4 1.2.3.4 5.6.7.8 1000 2000\r\n');
      assert.equal(hex(rest), hex(PAYLOAD));
    },
  },
  {
    name: 'v2, a UNIX socket listener: the filter sends UNIX, native sends no header at all (ENVOY_BUG "Missing or incorrect source IP")',
    pipe: 'ppv2.sock', filter: '{}', proxyProtocol: V2,
    check: ({ headers, ctx }) => {
      assert.equal(headers.length, 1, 'one header only');
      assert.equal(headers[0].header.family, 'UNIX_STREAM');
      assert.equal(headers[0].header.source.address, ctx.pipePath);
      assert.equal(headers[0].header.destination.address, ctx.pipePath, 'an unbound client shows as the listener\'s path');
    },
  },
  {
    name: 'v1, a UNIX socket listener: the filter sends PROXY UNKNOWN (native v1 is not run: see docs/envoy.md)',
    pipe: 'ppv2-v1.sock', filter: '{"version": 1}', proxyProtocol: null,
    check: ({ headers }) => {
      assert.equal(headers.length, 1);
      assert.equal(headers[0].bytes.toString('latin1'), 'PROXY UNKNOWN\r\n');
    },
  },
  {
    name: 'v2, an internal listener (envoy:// addresses): the filter sends LOCAL, native sends no header at all',
    internal: true, filter: '{}', proxyProtocol: V2,
    check: ({ headers }) => {
      assert.equal(headers.length, 1, 'one header only');
      assert.equal(hex(headers[0].bytes), '0d0a0d0a000d0a515549540a20000000', 'LOCAL, UNSPEC, length 0');
    },
  },
  {
    name: 'v2, an internal listener with on_unknown_address: close: the filter closes, nothing reaches the backend',
    internal: true, filter: '{"on_unknown_address": "close"}', proxyProtocol: V2, expectNothing: true,
    check: ({ bytes }) => assert.equal(bytes.length, 0),
  },
];

// Envoy's own connections (health checks) carry no downstream addresses:
// that is when the native transport socket sends LOCAL (v2), or the
// connection's own addresses (v1).
const HEALTH_CHECKED = { hc_v2: V2, hc_v1: V1 };

// ---- running them ------------------------------------------------------------------------

function buildBootstrap(cases, { backend, healthBackends, certs, pipeDir }) {
  const listeners = [];
  const clusters = [];
  const endpoint = { host: backend.host, port: backend.port };
  cases.forEach((c, i) => {
    const name = `case${i}`;
    const upstream = `upstream${i}`;
    clusters.push(cluster(upstream, endpoint, c.proxyProtocol ? { proxyProtocol: c.proxyProtocol } : {}));
    const filters = [...(c.filter === null ? [] : [wasmFilter(RELEASE_WASM, c.filter)]), tcpProxy(name, upstream, c.tcpProxyTlvs)];
    if (c.internal) {
      listeners.push(internalListener(`inner${i}`, filters));
      clusters.push(cluster(`to_inner${i}`, `inner${i}`, { internal: true }));
      listeners.push(listener(name, '127.0.0.1', [tcpProxy(`outer${i}`, `to_inner${i}`)]));
      return;
    }
    if (c.tls && !certs) return; // no openssl to make certificates: that case fails (CI) or is skipped
    const l = listener(name, c.pipe ? { pipe: join(pipeDir, c.pipe) } : c.listen, filters, { ipv4Compat: c.ipv4Compat, listenerFilters: c.listenerFilters });
    if (c.tls) l.filter_chains[0].transport_socket = downstreamTls(certs);
    listeners.push(l);
  });
  for (const [name, proxyProtocol] of Object.entries(HEALTH_CHECKED)) {
    clusters.push(cluster(name, { host: '127.0.0.1', port: healthBackends[name].port }, { proxyProtocol, healthCheck: true }));
  }
  return bootstrap({ listeners, clusters });
}

function downstreamTls(certs) {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
      require_client_certificate: true,
      common_tls_context: {
        tls_certificates: [{ certificate_chain: { filename: join(certs, 'server.crt') }, private_key: { filename: join(certs, 'server.key') } }],
        validation_context: { trusted_ca: { filename: join(certs, 'ca.crt') } },
      },
    },
  };
}

/** Connects as the case asks and sends the payload; resolves to { clientPort, close() }. */
async function connectClient(c, port, { certs, pipePath }) {
  if (c.client === 'tls-sni' || c.client === 'tls-cert') {
    const options = c.client === 'tls-cert'
      ? { ca: readFileSync(join(certs, 'ca.crt')), cert: readFileSync(join(certs, 'client.crt')), key: readFileSync(join(certs, 'client.key')), servername: 'demo.ppv2.test' }
      : { servername: 'demo.ppv2.test', rejectUnauthorized: false };
    const socket = tls.connect({ host: '127.0.0.1', port, ...options });
    socket.on('error', () => {}); // tls-sni: the recorder never answers the handshake
    await new Promise((resolve) => socket.once(c.client === 'tls-cert' ? 'secureConnect' : 'connect', resolve));
    if (c.client === 'tls-cert') socket.write(PAYLOAD);
    return { clientPort: socket.localPort, end: () => socket.end(), close: () => socket.destroy() };
  }
  const client = c.pipe ? await dial({ path: pipePath }) : await dial({ host: c.clientHost ?? c.listen, port });
  assert.equal(client.error, null, `could not connect: ${client.error}`);
  await client.write(Buffer.concat([c.prefix ?? Buffer.alloc(0), PAYLOAD]));
  // The FIN goes once the bytes are through: Envoy's proxy_protocol listener
  // filter may drop a connection whose FIN arrives with the header.
  return { clientPort: client.socket.localPort, end: () => client.end(), close: () => client.destroy() };
}

test('byte for byte against Envoy\'s native upstream PROXY header (the same connection carries both)', async (t) => {
  const envoyBinary = requireEnvoy(t);
  if (!envoyBinary) return;
  const version = envoyVersion(envoyBinary);
  const dir = mkdtempSync(join(tmpdir(), 'ppv2-native-'));
  const backend = await startRecorder();
  const healthBackends = {};
  const stops = [() => rmSync(dir, { recursive: true, force: true }), () => backend.close()];
  t.after(async () => { for (const stop of stops.reverse()) await stop(); });
  for (const name of Object.keys(HEALTH_CHECKED)) {
    // Answers the health check's "ping" with "pong", after recording the header before it.
    const hc = await startRecorder();
    hc.onAccept = (peer) => peer.until((p) => p.bytes.toString('latin1').endsWith('ping'), 'ping').then(() => peer.socket.write('pong'), () => {});
    healthBackends[name] = hc;
    stops.push(() => hc.close());
  }
  // Test-only certificates for the TLS case (scripts/make-test-certs.sh needs openssl).
  let certs = null;
  if (findTool('openssl')) {
    certs = join(dir, 'certs');
    await run('sh', [join(REPO, 'scripts/make-test-certs.sh'), certs]);
  }
  const envoy = await startEnvoy({
    bootstrap: buildBootstrap(CASES, { backend, healthBackends, certs, pipeDir: dir }),
    cwd: REPO,
    env: { ...process.env, PPV2_ENVOY: envoyBinary },
    logLevel: 'warning',
  });
  stops.push(() => envoy.stop());

  for (const [i, c] of CASES.entries()) {
    await t.test(c.name, async (tc) => {
      if (c.tls && !certs && !requireTool(tc, 'openssl')) return;
      const pipePath = c.pipe ? join(dir, c.pipe) : undefined;
      backend.forget();
      const client = await connectClient(c, envoy.listenerPorts[`case${i}`], { certs, pipePath });
      try {
        const peer = await backend.accept();
        if (c.client === 'tls-sni') {
          await peer.until((p) => p.length > 200, 'the TLS client hello'); // the recorder never answers it
        } else {
          await peer.until((p) => p.bytes.toString('latin1').endsWith(PAYLOAD.toString('latin1')) || p.fin, 'the client\'s bytes');
          client.end();
          await peer.waitEnd();
        }
        peer.end();
        const { headers, rest } = splitHeaders(peer.bytes);
        const [native, filter] = c.proxyProtocol && headers.length === 2 ? headers : [undefined, headers[0]];
        const ctx = { clientPort: client.clientPort, backendPort: backend.port, pipePath, envoyVersion: version };
        t.diagnostic(`${c.name}: ${headers.map((h) => hex(h.bytes)).join(' + ')}`);
        c.check({ native, filter, headers, rest, bytes: peer.bytes, ctx });
        if (!c.expectNothing && !c.rawCheck && c.client !== 'tls-sni') assert.equal(hex(rest), hex(PAYLOAD), 'the client\'s bytes follow the headers, once');
      } finally {
        client.close();
      }
    });
  }

  // When each header leaves: the native one as the upstream connects, the
  // filter's only with the client's first bytes (or its FIN).
  const plainV2 = envoy.listenerPorts[`case${CASES.findIndex((c) => c.name === 'v2, IPv4')}`];
  await t.test('a server-first backend gets the native header at once, the filter\'s only when the client speaks', async () => {
    backend.forget();
    const client = await dial({ host: '127.0.0.1', port: plainV2 });
    try {
      const peer = await backend.accept();
      await peer.waitBytes(28);
      const before = splitHeaders(peer.bytes);
      assert.equal(before.headers.length, 1, 'the native header, before the client sent anything');
      assert.equal(before.rest.length, 0);
      await client.write(PAYLOAD);
      await peer.until((p) => p.bytes.toString('latin1').endsWith(PAYLOAD.toString('latin1')), 'the client\'s bytes');
      const after = splitHeaders(peer.bytes);
      assert.equal(after.headers.length, 2, 'the filter\'s header arrives with the client\'s first bytes');
      assert.equal(hex(after.headers[1].bytes), hex(after.headers[0].bytes));
    } finally {
      client.destroy();
    }
  });

  await t.test('a silent client that half-closes: both headers, then the FIN', async () => {
    backend.forget();
    const client = await dial({ host: '127.0.0.1', port: plainV2 });
    try {
      client.end();
      const peer = await backend.accept();
      await peer.waitEnd();
      const { headers, rest } = splitHeaders(peer.bytes);
      assert.equal(headers.length, 2);
      assert.equal(hex(headers[1].bytes), hex(headers[0].bytes));
      assert.equal(rest.length, 0);
      assert.ok(peer.fin);
      peer.end();
    } finally {
      client.destroy();
    }
  });

  await t.test('LOCAL: native sends it for Envoy\'s own connections (a health check), byte for byte the filter\'s LOCAL', async () => {
    const v2 = await healthBackends.hc_v2.accept();
    await v2.until((p) => p.bytes.toString('latin1').endsWith('ping'), 'the health check');
    const { headers } = splitHeaders(v2.bytes);
    assert.equal(headers.length, 1);
    assert.equal(hex(headers[0].bytes), '0d0a0d0a000d0a515549540a20000000', 'the same 16 bytes as the filter\'s LOCAL (internal listener case)');
    const v1 = await healthBackends.hc_v1.accept();
    await v1.until((p) => p.bytes.toString('latin1').endsWith('ping'), 'the health check');
    const line = splitHeaders(v1.bytes).headers[0].bytes.toString('latin1');
    assert.equal(line, `PROXY TCP4 127.0.0.1 127.0.0.1 ${v1.socket.remotePort} ${healthBackends.hc_v1.port}\r\n`, 'v1 has no LOCAL: the health check connection\'s own addresses');
  });
});
