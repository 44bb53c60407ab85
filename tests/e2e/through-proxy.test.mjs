// End to end: clients -> the proxy under test -> real PROXY consumers
// (HAProxy 2.6, nginx 1.22, tshark 4.0 from Debian) and our strict `inspect`
// backend. Every assertion runs twice: through `ppv2-wasm proxy` running the
// release module, and through a real Envoy running the same module
// (proxies.mjs). Clients connect from 127.0.0.2/127.0.0.3 so that a
// consumer reporting that address proves the header carried the client's
// address and not the proxy's (which connects from 127.0.0.1).
import { test, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { request } from 'node:http';
import { freePort, startHaproxy, startNginx, tsharkDecode } from './consumers.mjs';
import { requireTool, requireEnvoy } from './tools.mjs';
import { startProxyUnderTest, startEnvoyUnderTest, PROXY_KINDS } from './proxies.mjs';
import { runCli, startCli } from '../cli/cli-process.mjs';
import { exchange } from '../cli/net-client.mjs';
import { decodeProxyHeader } from '../../dist/proxy-protocol/index.js';

const cleanups = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** GET / through the proxy from `localAddress`; resolves to { body, localPort }. */
function httpGet({ host = '127.0.0.1', port, localAddress, timeoutMs = 15000 }) {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, localAddress, path: '/', agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode}: ${body}`));
        else resolve({ body: JSON.parse(body), localPort });
      });
    });
    let localPort;
    req.on('socket', (socket) => socket.on('connect', () => { localPort = socket.localPort; }));
    req.on('timeout', () => req.destroy(new Error(`no response within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** A backend that records what it receives and answers with `reply`, then ends. */
async function recordingBackend({ host = '127.0.0.1', reply = Buffer.alloc(0) } = {}) {
  const received = [];
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    const chunks = [];
    socket.on('data', (d) => chunks.push(d));
    socket.on('end', () => {
      received.push(Buffer.concat(chunks));
      socket.end(reply);
    });
    socket.on('error', () => {});
  });
  server.listen(0, host);
  await once(server, 'listening');
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return { port: server.address().port, received };
}

function sha256(bytes) {
  return createHash('sha256').update(bytes).digest('hex');
}

for (const { kind, name } of PROXY_KINDS) {
  /** The proxy under test in front of `upstreamPort`; null when test `t` was skipped (no Envoy). */
  const proxyTo = async (t, upstreamPort, options = {}) => {
    const proxy = await startProxyUnderTest(t, { kind, upstreamPort, ...options });
    if (proxy) cleanups.push(proxy.stop);
    return proxy;
  };

  describe(`HAProxy (accept-proxy) behind ${name}`, () => {
    test('reports the client address 127.0.0.2, its port, and the address the client connected to', async (t) => {
      const binary = requireTool(t, 'haproxy');
      if (!binary) return;
      const haproxy = await startHaproxy(binary);
      cleanups.push(haproxy.stop);
      const proxy = await proxyTo(t, haproxy.port);
      if (!proxy) return;
      const { body, localPort } = await httpGet({ port: proxy.port, localAddress: '127.0.0.2' });
      assert.deepEqual(body, {
        src: '127.0.0.2', src_port: String(localPort), dst: '127.0.0.1', dst_port: String(proxy.port), authority: '', unique_id: '',
      });
    });

    test('reads the AUTHORITY and UNIQUE_ID TLVs, and accepts the CRC32C', async (t) => {
      const binary = requireTool(t, 'haproxy');
      if (!binary) return;
      const haproxy = await startHaproxy(binary);
      cleanups.push(haproxy.stop);
      const proxy = await proxyTo(t, haproxy.port, {
        config: { crc32c: true, tlvs: [{ type: 'authority', value: 'app.example' }, { type: 'unique_id', from: 'connection_id' }] },
      });
      if (!proxy) return;
      const { body, localPort } = await httpGet({ port: proxy.port, localAddress: '127.0.0.3' });
      assert.equal(body.src, '127.0.0.3');
      assert.equal(body.src_port, String(localPort));
      assert.equal(body.authority, 'app.example');
      // The connection id as decimal ASCII, which HAProxy shows in hex.
      assert.match(Buffer.from(body.unique_id, 'hex').toString('latin1'), /^[0-9]+$/, 'a decimal UNIQUE_ID');
    });

    test('reports ::1 for an IPv6 client on an IPv6 listener', async (t) => {
      const binary = requireTool(t, 'haproxy');
      if (!binary) return;
      const haproxy = await startHaproxy(binary);
      cleanups.push(haproxy.stop);
      const proxy = await proxyTo(t, haproxy.port, { listenHost: '::1' });
      if (!proxy) return;
      const { body, localPort } = await httpGet({ host: '::1', port: proxy.port });
      assert.deepEqual(body, {
        src: '::1', src_port: String(localPort), dst: '::1', dst_port: String(proxy.port), authority: '', unique_id: '',
      });
    });
  });

  describe(`nginx (listen ... proxy_protocol) behind ${name}`, () => {
    test('reports $proxy_protocol_addr/port as the client 127.0.0.2, and the server address and port', async (t) => {
      const binary = requireTool(t, 'nginx');
      if (!binary) return;
      const nginx = await startNginx(binary);
      cleanups.push(nginx.stop);
      const proxy = await proxyTo(t, nginx.port);
      if (!proxy) return;
      const { body, localPort } = await httpGet({ port: proxy.port, localAddress: '127.0.0.2' });
      assert.deepEqual(body, {
        addr: '127.0.0.2', port: String(localPort), server_addr: '127.0.0.1', server_port: String(proxy.port), remote_addr: '127.0.0.1',
      });
    });

    test('reports ::1 over IPv6, and a v1 header when the config asks for version 1', async (t) => {
      const binary = requireTool(t, 'nginx');
      if (!binary) return;
      const nginx = await startNginx(binary);
      cleanups.push(nginx.stop);
      const v6 = await proxyTo(t, nginx.port, { listenHost: '::1' });
      if (!v6) return;
      const six = await httpGet({ host: '::1', port: v6.port });
      assert.deepEqual(six.body, { addr: '::1', port: String(six.localPort), server_addr: '::1', server_port: String(v6.port), remote_addr: '127.0.0.1' });
      const v1 = await proxyTo(t, nginx.port, { config: { version: 1 } });
      const one = await httpGet({ port: v1.port, localAddress: '127.0.0.3' });
      assert.equal(one.body.addr, '127.0.0.3');
      assert.equal(one.body.port, String(one.localPort));
    });
  });

  describe(`tshark dissects what ${name} sends upstream`, () => {
    async function upstreamBytes(t, { listenHost = '127.0.0.1', localAddress, config } = {}) {
      const backend = await recordingBackend();
      const proxy = await proxyTo(t, backend.port, { listenHost, config });
      const client = await exchange({ host: listenHost, port: proxy.port, localAddress, send: [Buffer.from('ping')] });
      await proxy.lines.next(); // its log line: the connection is over
      return { bytes: backend.received.at(-1), client: client.local, proxyPort: proxy.port };
    }

    /**
     * A header for a client whose address is not an IP. Through Envoy: an
     * internal listener, whose connections come from
     * envoy://internal_client_address/. `ppv2-wasm proxy` only listens on TCP,
     * where both addresses are always known, so there the release module is
     * given such an address through `encode`.
     */
    async function unknownAddressBytes(t) {
      if (kind === 'cli') {
        const encoded = await runCli(['encode', '--src', 'envoy://internal_client_address/', '--dst', '10.0.0.1:80']);
        assert.equal(encoded.code, 0, encoded.stderr);
        return Buffer.from(encoded.stdout.split('\n')[0], 'hex');
      }
      const binary = requireEnvoy(t);
      const backend = await recordingBackend();
      const proxy = await startEnvoyUnderTest({ binary, upstreamPort: backend.port, listen: 'template', template: 'tests/envoy/fixtures/internal-listener.yaml' });
      cleanups.push(proxy.stop);
      await exchange({ port: proxy.port, send: [Buffer.from('ping')] });
      assert.match(await proxy.lines.next(), /downstream=envoy:\/\/internal_client_address\//);
      return backend.received.at(-1);
    }

    test('v2 over IPv4 from 127.0.0.2, v2 over IPv6, v1, and LOCAL', async (t) => {
      const tools = { tshark: requireTool(t, 'tshark'), text2pcap: requireTool(t, 'text2pcap') };
      if (!tools.tshark || !tools.text2pcap) return;
      if (kind === 'envoy' && !requireEnvoy(t)) return;

      const v4 = await upstreamBytes(t, { localAddress: '127.0.0.2' });
      assert.equal(v4.bytes.subarray(-4).toString(), 'ping');
      const f4 = await tsharkDecode(tools, v4.bytes);
      assert.deepEqual(
        [f4['proxy.version'], f4['proxy.v2.cmd'], f4['proxy.v2.addr_family_protocol'], f4['proxy.src.ipv4'], f4['proxy.dst.ipv4'], f4['proxy.srcport'], f4['proxy.dstport']],
        ['2', '1', '0x11', '127.0.0.2', '127.0.0.1', String(v4.client.port), String(v4.proxyPort)],
      );

      const v6 = await upstreamBytes(t, { listenHost: '::1' });
      const f6 = await tsharkDecode(tools, v6.bytes);
      assert.deepEqual(
        [f6['proxy.v2.cmd'], f6['proxy.v2.addr_family_protocol'], f6['proxy.src.ipv6'], f6['proxy.dst.ipv6'], f6['proxy.srcport'], f6['proxy.dstport']],
        ['1', '0x21', '::1', '::1', String(v6.client.port), String(v6.proxyPort)],
      );

      const v1 = await upstreamBytes(t, { localAddress: '127.0.0.3', config: { version: 1 } });
      const f1 = await tsharkDecode(tools, v1.bytes);
      assert.deepEqual(
        [f1['proxy.v1.proto'], f1['proxy.src.ipv4'], f1['proxy.dst.ipv4'], f1['proxy.srcport'], f1['proxy.dstport']],
        ['TCP4', '127.0.0.3', '127.0.0.1', String(v1.client.port), String(v1.proxyPort)],
      );

      const local = await unknownAddressBytes(t);
      const fl = await tsharkDecode(tools, local);
      assert.deepEqual([fl['proxy.version'], fl['proxy.v2.cmd'], fl['proxy.v2.addr_family_protocol'], fl['proxy.v2.length']], ['2', '0', '0x00', '0']);
    });
  });

  describe(`streams through ${name}`, () => {
    test('multi-megabyte payloads arrive intact in both directions, after exactly one header', async (t) => {
      const down = randomBytes(5 * 1024 * 1024);
      const up = randomBytes(7 * 1024 * 1024 + 13);
      const backend = await recordingBackend({ reply: down });
      const proxy = await proxyTo(t, backend.port);
      if (!proxy) return;
      const parts = [];
      for (let at = 0; at < up.length; at += 256 * 1024) parts.push(up.subarray(at, at + 256 * 1024));
      const client = await exchange({ port: proxy.port, localAddress: '127.0.0.2', send: parts, timeoutMs: 60000 });
      assert.equal(client.data.length, down.length);
      assert.equal(sha256(client.data), sha256(down));
      const received = backend.received.at(-1);
      const decoded = decodeProxyHeader(received);
      assert.equal(decoded.state, 'complete', decoded.reason);
      assert.deepEqual(decoded.header.source, { address: '127.0.0.2', port: client.local.port });
      const payload = received.subarray(decoded.header.length);
      assert.equal(payload.length, up.length);
      assert.equal(sha256(payload), sha256(up));
    });

    test('a client that sends nothing and half-closes still delivers a header, and gets the reply', async (t) => {
      const inspect = await startCli(['inspect', '--listen', '127.0.0.1:0']);
      cleanups.push(inspect.stop);
      const proxy = await proxyTo(t, inspect.port);
      if (!proxy) return;
      const client = await exchange({ port: proxy.port, localAddress: '127.0.0.2', send: [] });
      const record = await inspect.lines.nextJson();
      assert.deepEqual(record.header.source, { address: '127.0.0.2', port: client.local.port });
      assert.deepEqual(JSON.parse(client.data.toString()), record, 'the backend\'s reply reached the half-closed client');
    });

    test('250 concurrent connections each carry their own client port', async (t) => {
      const inspect = await startCli(['inspect', '--listen', '127.0.0.1:0']);
      cleanups.push(inspect.stop);
      const proxy = await proxyTo(t, inspect.port);
      if (!proxy) return;
      const clients = await Promise.all(Array.from({ length: 250 }, (_, i) =>
        exchange({ port: proxy.port, localAddress: `127.0.0.${2 + (i % 3)}`, send: [Buffer.from(`client ${i}`)], timeoutMs: 60000 })));
      for (const client of clients) {
        const reply = JSON.parse(client.data.toString());
        assert.deepEqual(reply.header.source, { address: client.local.address, port: client.local.port });
      }
      assert.equal(new Set(clients.map((c) => `${c.local.address}:${c.local.port}`)).size, 250);
    });

    test('a refused upstream closes the client cleanly, and the proxy keeps serving', async (t) => {
      const deadPort = await freePort();
      const proxy = await proxyTo(t, deadPort);
      if (!proxy) return;
      for (let i = 0; i < 3; i++) {
        const client = await exchange({ port: proxy.port, send: [Buffer.from('hello')], end: false });
        assert.equal(client.data.length, 0);
        // Envoy's access log (envoy/envoy.yaml's format) flags UF: upstream connection failure.
        assert.match(await proxy.lines.next(), kind === 'envoy' ? /flags=\S*UF/ : /refused \(ECONNREFUSED\)/);
      }
    });
  });
}
