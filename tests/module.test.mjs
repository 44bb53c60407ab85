// The filter module itself, release and debug: what it exports and imports, its
// size, and connection lifecycles driven through the Envoy-faithful host
// (dist/host, startPlugin). Every expected header is written out as literal
// bytes and also decoded by the independent decoder in dist/proxy-protocol.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startPlugin, PluginStartError, FilterStatus } from '../dist/host/index.js';
import { HOST_FUNCTIONS } from '../dist/host/abi.js';
import { decodeProxyHeader } from '../dist/proxy-protocol/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const MODULES = [
  { name: 'release', path: `${root}build/ppv2.wasm` },
  { name: 'debug', path: `${root}build/ppv2.debug.wasm` },
];
const SIG = '0d0a0d0a000d0a515549540a';
const hex = (bytes) => Buffer.from(bytes).toString('hex');
const bytes = (text) => new Uint8Array(Buffer.from(text));
const fromHex = (h) => new Uint8Array(Buffer.from(h.replace(/\s+/g, ''), 'hex'));
const IPV4 = { source: '1.2.3.4:5678', destination: '5.6.7.8:80' };
const IPV4_HEADER = `${SIG}2111000c 01020304 05060708 162e 0050`.replace(/ /g, '');
const LOCAL_HEADER = `${SIG}20000000`;

const REQUIRED_EXPORTS = [
  'proxy_abi_version_0_2_1', 'proxy_on_memory_allocate', 'malloc', 'proxy_on_context_create',
  'proxy_on_vm_start', 'proxy_on_configure', 'proxy_on_tick', 'proxy_on_new_connection',
  'proxy_on_downstream_data', 'proxy_on_upstream_data', 'proxy_on_downstream_connection_close',
  'proxy_on_upstream_connection_close', 'proxy_on_done', 'proxy_on_log', 'proxy_on_delete',
  '_initialize', 'memory',
];

/** Section ids of a wasm binary, to check there is no start section (id 8). */
function sectionIds(buf) {
  const ids = [];
  let i = 8;
  while (i < buf.length) {
    const id = buf[i++];
    let n = 0, shift = 0, b;
    do { b = buf[i++]; n |= (b & 0x7f) << shift; shift += 7; } while (b & 0x80);
    ids.push(id);
    i += n >>> 0;
  }
  return ids;
}

/** The decoded header at the start of `forwarded`, asserting that decoding succeeds. */
function decoded(forwarded) {
  const r = decodeProxyHeader(forwarded);
  assert.equal(r.state, 'complete', `decoder: ${r.reason}`);
  return r.header;
}

for (const mod of MODULES) {
  describe(`${mod.name} module (${mod.path.slice(root.length)})`, () => {
    const wasm = readFileSync(mod.path);
    const start = (opts = {}) => startPlugin({ wasm, ...opts });

    test('exports the ABI v0.2.1 callbacks, _initialize and memory; no start section', () => {
      const m = new WebAssembly.Module(wasm);
      const names = WebAssembly.Module.exports(m).map((e) => e.name);
      for (const name of REQUIRED_EXPORTS) assert.ok(names.includes(name), `missing export ${name}`);
      assert.ok(!sectionIds(wasm).includes(8), 'a start section would run code before the host is ready');
    });

    test('imports only env.proxy_* functions that Envoy provides (no abort, no WASI)', () => {
      const imports = WebAssembly.Module.imports(new WebAssembly.Module(wasm));
      assert.ok(imports.length > 0);
      for (const imp of imports) {
        assert.equal(imp.module, 'env', `${imp.module}.${imp.name}`);
        assert.match(imp.name, /^proxy_/, `${imp.module}.${imp.name}`);
        assert.equal(imp.kind, 'function');
        assert.ok(Object.hasOwn(HOST_FUNCTIONS, imp.name), `Envoy does not provide env.${imp.name}`);
      }
    });

    if (mod.name === 'release') {
      test('is at most 32 KiB', () => {
        assert.ok(wasm.length <= 32 * 1024, `${wasm.length} bytes`);
      });
    }

    test('IPv4: the first data gets the 28-byte header, in exactly 3 host calls', async () => {
      const plugin = await start();
      const conn = plugin.newConnection(IPV4);
      plugin.stats.reset();
      const r = conn.downstreamData(bytes('hello'));
      assert.equal(plugin.stats.total, 3, JSON.stringify(plugin.stats.calls));
      assert.equal(plugin.stats.calls.proxy_get_property, 2);
      assert.equal(plugin.stats.calls.proxy_set_buffer_bytes, 1);
      assert.equal(r.status, FilterStatus.Continue);
      assert.equal(hex(r.forwarded), IPV4_HEADER + hex(bytes('hello')));
      const h = decoded(r.forwarded);
      assert.deepEqual([h.family, h.source, h.destination], ['TCP4', { address: '1.2.3.4', port: 5678 }, { address: '5.6.7.8', port: 80 }]);
      plugin.shutdown();
    });

    test('later data in both directions: forwarded as is with zero host calls, never StopIteration', async () => {
      const plugin = await start();
      const conn = plugin.newConnection(IPV4);
      conn.downstreamData(bytes('first'));
      plugin.stats.reset();
      for (let i = 0; i < 20; i++) {
        const d = conn.downstreamData(bytes(`chunk${i}`));
        assert.equal(hex(d.forwarded), hex(bytes(`chunk${i}`)));
        assert.equal(d.status, FilterStatus.Continue);
        const u = conn.upstreamData(bytes(`reply${i}`));
        assert.equal(hex(u.forwarded), hex(bytes(`reply${i}`)));
        assert.equal(u.status, FilterStatus.Continue);
      }
      const end = conn.downstreamData(new Uint8Array(0), true);
      assert.equal(end.endOfStream, true);
      assert.equal(plugin.stats.total, 0, JSON.stringify(plugin.stats.calls));
      plugin.shutdown();
    });

    test('prepends exactly once per connection, across many connections', async () => {
      const plugin = await start();
      for (let c = 0; c < 50; c++) {
        const conn = plugin.newConnection(IPV4);
        let all = '';
        for (let i = 0; i < 5; i++) all += hex(conn.downstreamData(bytes('ab')).forwarded);
        assert.equal(all, IPV4_HEADER + hex(bytes('ababababab')));
        conn.close('remote');
      }
      plugin.tick();
      assert.equal(plugin.counter('ppv2.headers_written'), 50);
      plugin.shutdown();
    });

    test('a first call with no data and end_of_stream still gets the header', async () => {
      const plugin = await start();
      const conn = plugin.newConnection(IPV4);
      const r = conn.downstreamData(new Uint8Array(0), true);
      assert.equal(hex(r.forwarded), IPV4_HEADER);
      assert.equal(r.endOfStream, true);
      plugin.shutdown();
    });

    test('upstream data first (server speaks first): passed through, header still goes before the client bytes', async () => {
      const plugin = await start();
      const conn = plugin.newConnection(IPV4);
      plugin.stats.reset();
      const u = conn.upstreamData(bytes('220 ready\r\n'));
      assert.equal(hex(u.forwarded), hex(bytes('220 ready\r\n')));
      assert.equal(plugin.stats.total, 0);
      const d = conn.downstreamData(bytes('EHLO x\r\n'));
      assert.equal(hex(d.forwarded), IPV4_HEADER + hex(bytes('EHLO x\r\n')));
      plugin.shutdown();
    });

    test('IPv6, mixed, both-mapped and UNIX pairs', async () => {
      const plugin = await start();
      const cases = [
        [{ source: '[2001:db8::1]:443', destination: '[2001:db8::2]:8443' },
          `${SIG}21210024 20010db8000000000000000000000001 20010db8000000000000000000000002 01bb 20fb`],
        [{ source: '1.2.3.4:1000', destination: '[2001:db8::2]:443' },
          `${SIG}21210024 00000000000000000000ffff01020304 20010db8000000000000000000000002 03e8 01bb`],
        [{ source: '[::ffff:192.0.2.10]:40000', destination: '[::ffff:192.0.2.1]:443' }, `${SIG}2111000c c000020a c0000201 9c40 01bb`],
        [{ source: '/run/a.sock', destination: '/run/a.sock' },
          `${SIG}213100d8 ${hex(Buffer.concat([Buffer.from('/run/a.sock'), Buffer.alloc(97)])).repeat(2)}`],
      ];
      for (const [props, want] of cases) {
        const r = plugin.newConnection(props).downstreamData(bytes('x'));
        assert.equal(hex(r.forwarded), want.replace(/ /g, '') + '78', JSON.stringify(props));
        decoded(r.forwarded);
      }
      // An abstract socket: a leading NUL in sun_path, read back as Envoy prints it.
      const abstract = decoded(plugin.newConnection({ source: '@envoy.admin', destination: '/run/a.sock' }).downstreamData(bytes('x')).forwarded);
      assert.deepEqual([abstract.source.address, abstract.destination.address], ['@envoy.admin', '/run/a.sock']);
      plugin.shutdown();
    });

    test('missing or malformed addresses: LOCAL header, counted, never a trap', async () => {
      const plugin = await start();
      const bad = [null, '', '1.2.3.4', '[::1', '256.1.1.1:80', '1.2.3.4:65536', 'envoy://internal', 'x'.repeat(10240),
        new Uint8Array([0xff, 0xfe, 0x3a, 0x38, 0x30])];
      for (const source of bad) {
        const r = plugin.newConnection({ destination: '5.6.7.8:80', properties: { 'source.address': source } }).downstreamData(bytes('q'));
        assert.equal(hex(r.forwarded), LOCAL_HEADER + '71', String(source).slice(0, 40));
        assert.equal(decoded(r.forwarded).command, 'LOCAL');
      }
      assert.equal(plugin.failed, false);
      assert.equal(plugin.counter('ppv2.local_fallbacks'), 0, 'counters reach Envoy only on a tick');
      plugin.tick();
      assert.equal(plugin.counter('ppv2.local_fallbacks'), bad.length);
      assert.equal(plugin.counter('ppv2.headers_written'), bad.length);
      plugin.shutdown();
    });

    test('on_unknown_address "close": nothing reaches the upstream, the connection closes, counted', async () => {
      const plugin = await start({ configuration: '{"on_unknown_address": "close"}' });
      const conn = plugin.newConnection({ source: 'envoy://internal', destination: '5.6.7.8:80' });
      const r = conn.downstreamData(bytes('secret'));
      assert.equal(r.forwarded.length, 0);
      assert.equal(r.closed, true);
      assert.equal(r.status, FilterStatus.StopIteration);
      plugin.tick();
      assert.equal(plugin.counter('ppv2.closed_by_policy'), 1);
      assert.equal(plugin.counter('ppv2.local_fallbacks'), 1, 'the addresses could not be sent: a fallback, whatever the policy did');
      const ok = plugin.newConnection(IPV4).downstreamData(bytes('fine'));
      assert.equal(hex(ok.forwarded), IPV4_HEADER + hex(bytes('fine')));
      plugin.shutdown();
    });

    test('version 1: text line, and PROXY UNKNOWN for unknown addresses', async () => {
      const plugin = await start({ configuration: '{"version": 1}' });
      const a = plugin.newConnection(IPV4).downstreamData(bytes('GET'));
      assert.equal(Buffer.from(a.forwarded).toString(), 'PROXY TCP4 1.2.3.4 5.6.7.8 5678 80\r\nGET');
      const b = plugin.newConnection({ source: '1.2.3.4:1', destination: '[2001:db8::2]:2' }).downstreamData(bytes('GET'));
      assert.equal(Buffer.from(b.forwarded).toString(), 'PROXY TCP6 ::ffff:102:304 2001:db8::2 1 2\r\nGET');
      const c = plugin.newConnection({ destination: '5.6.7.8:80', properties: { 'source.address': null } }).downstreamData(bytes('GET'));
      assert.equal(Buffer.from(c.forwarded).toString(), 'PROXY UNKNOWN\r\nGET');
      assert.equal(decoded(a.forwarded).version, 1);
      plugin.shutdown();
    });

    test('TLVs: static, SNI, connection id, property paths, SSL and CRC32C in one header', async () => {
      const configuration = JSON.stringify({
        crc32c: true,
        tlvs: [
          { type: 'authority', from: 'sni' },
          { type: 'unique_id', from: 'connection_id' },
          { from: 'ssl', listener_verifies_client_cert: true },
          { type: 0xea, hex: '0176706365' },
          { type: 'netns', value: 'blue' },
          { type: 0xe1, property: 'connection.uri_san_peer_certificate' },
          { type: 0xe2, property: ['metadata', 'filter_metadata', 'envoy.lb', 'canary'] },
        ],
      });
      const plugin = await start({ configuration });
      const conn = plugin.newConnection({
        ...IPV4,
        sni: 'example.com',
        connectionId: 42n,
        properties: {
          'connection.tls_version': 'TLSv1.3',
          'connection.mtls': true,
          'connection.subject_peer_certificate': 'CN=client,O=Example',
          'connection.uri_san_peer_certificate': 'spiffe://x/y',
          'metadata\0filter_metadata\0envoy.lb\0canary': 'yes',
        },
      });
      const r = conn.downstreamData(bytes('!'));
      // client: SSL | CERT_SESS; verify 0, as the configuration says the listener verifies.
      const ssl = '200018 05 00000000 210007' + hex(bytes('TLSv1.3')) + '220006' + hex(bytes('client'));
      const body = '0102030405060708162e0050' +
        '02000b' + hex(bytes('example.com')) +
        '050002' + hex(bytes('42')) +
        ssl +
        'ea0005 0176706365' +
        '300004' + hex(bytes('blue')) +
        'e1000c' + hex(bytes('spiffe://x/y')) +
        'e20003' + hex(bytes('yes')) +
        '030004';
      const got = hex(r.forwarded);
      const want = (SIG + '2111' + (body.replace(/ /g, '').length / 2 + 4).toString(16).padStart(4, '0') + body).replace(/ /g, '');
      assert.equal(got.slice(0, want.length), want);
      const h = decoded(r.forwarded);
      assert.equal(got.slice(2 * h.length), hex(bytes('!')));
      const crc = h.tlvs.find((t) => t.type === 3);
      assert.ok(crc && crc.crc32c, 'the decoder verified the CRC32C');
      assert.deepEqual(h.tlvs.find((t) => t.type === 0x20).ssl.subTlvs.map((t) => t.text), ['TLSv1.3', 'client']);
      plugin.shutdown();
    });

    test('a dynamic TLV whose value is missing or empty is left out and counted; static ones stay', async () => {
      const configuration = JSON.stringify({
        tlvs: [{ type: 'authority', from: 'sni' }, { from: 'ssl' }, { type: 0xe0, property: 'no.such.attribute' }, { type: 'noop', value: '' }],
      });
      const plugin = await start({ configuration });
      const r = plugin.newConnection({ ...IPV4, sni: '' }).downstreamData(bytes('z'));
      assert.equal(hex(r.forwarded), `${SIG}2111000f` + '0102030405060708162e0050' + '040000' + '7a');
      plugin.tick();
      assert.equal(plugin.counter('ppv2.tlvs_omitted'), 3);
      plugin.shutdown();
    });

    test('a dynamic text TLV whose bytes break its type (AUTHORITY UTF-8, NETNS ASCII) is left out and counted', async () => {
      const configuration = JSON.stringify({ tlvs: [{ type: 'authority', property: 'custom.a' }, { type: 'netns', property: 'custom.n' }, { type: 0xe0, property: 'custom.a' }] });
      const plugin = await start({ configuration });
      const props = { 'custom.a': Uint8Array.of(0xff, 0xfe), 'custom.n': 'caf\u00e9' };
      const r = plugin.newConnection({ ...IPV4, properties: props }).downstreamData(bytes('.'));
      // Only the opaque custom TLV carries the bytes.
      assert.equal(hex(r.forwarded), `${SIG}21110011` + '0102030405060708162e0050' + 'e00002fffe' + '2e');
      plugin.tick();
      assert.equal(plugin.counter('ppv2.tlvs_omitted'), 2);
      plugin.shutdown();
    });

    test('the SSL TLV: client and verify bits follow connection.mtls and listener_verifies_client_cert', async () => {
      const tls = { 'connection.tls_version': 'TLSv1.3', 'connection.subject_peer_certificate': 'CN=client,O=Example' };
      const cases = [
        // [listener_verifies_client_cert, connection.mtls, client byte, verify, CN sent]
        [false, false, '01', '00000001', false],
        [false, true, '05', '00000001', true],
        [true, false, '01', '00000001', false],
        [true, true, '05', '00000000', true],
      ];
      for (const [verifies, mtls, client, verify, cn] of cases) {
        const plugin = await start({ configuration: JSON.stringify({ tlvs: [{ from: 'ssl', listener_verifies_client_cert: verifies }] }) });
        const r = plugin.newConnection({ ...IPV4, properties: { ...tls, 'connection.mtls': mtls } }).downstreamData(bytes('.'));
        const ssl = decoded(r.forwarded).tlvs.find((t) => t.type === 0x20);
        const subTlvs = '210007' + hex(bytes('TLSv1.3')) + (cn ? '220006' + hex(bytes('client')) : '');
        assert.equal(ssl.hex, client + verify + subTlvs, JSON.stringify({ verifies, mtls }));
        plugin.tick();
        assert.equal(plugin.counter('ppv2.tlvs_omitted'), 0);
        plugin.shutdown();
      }
    });

    test('SSL values that do not fit are left out and counted, never cut', async () => {
      const plugin = await start({ configuration: '{"tlvs": [{"from": "ssl"}]}' });
      const cases = [
        // [properties, the SSL TLV's sub-TLV texts or null when the TLV is left out, TLVs counted as left out]
        [{ 'connection.tls_version': 'T'.repeat(65), 'connection.mtls': false }, null, 1],
        [{ 'connection.tls_version': 'T'.repeat(64), 'connection.mtls': false }, ['T'.repeat(64)], 0],
        [{ 'connection.tls_version': 'TLSv1.3', 'connection.mtls': true, 'connection.subject_peer_certificate': `CN=${'c'.repeat(193)}` }, ['TLSv1.3'], 1],
        [{ 'connection.tls_version': 'TLSv1.3', 'connection.mtls': true, 'connection.subject_peer_certificate': `CN=${'c'.repeat(192)}` }, ['TLSv1.3', 'c'.repeat(192)], 0],
        [{ 'connection.tls_version': 'TLSv1.3', 'connection.mtls': true, 'connection.subject_peer_certificate': 'CN=\\ff' }, ['TLSv1.3'], 1],
        [{ 'connection.tls_version': 'TLSv1.3', 'connection.mtls': true, 'connection.subject_peer_certificate': 'CN=#04036162' }, ['TLSv1.3'], 1],
        [{ 'connection.tls_version': 'TLSv1.3', 'connection.mtls': true, 'connection.subject_peer_certificate': 'O=no common name' }, ['TLSv1.3'], 0],
        [{ 'connection.tls_version': null }, null, 1],
      ];
      let omitted = 0;
      for (const [properties, texts, left] of cases) {
        const h = decoded(plugin.newConnection({ ...IPV4, properties }).downstreamData(bytes('.')).forwarded);
        const ssl = h.tlvs.find((t) => t.type === 0x20);
        assert.deepEqual(ssl === undefined ? null : ssl.ssl.subTlvs.map((t) => t.text), texts, JSON.stringify(properties).slice(0, 80));
        plugin.tick();
        omitted += left;
        assert.equal(plugin.counter('ppv2.tlvs_omitted'), omitted, JSON.stringify(properties).slice(0, 80));
      }
      plugin.shutdown();
    });

    test('a dynamic value too long for the header is left out; the length always matches', async () => {
      const configuration = JSON.stringify({ tlvs: [{ type: 0xe0, property: 'big' }, { type: 'unique_id', property: 'id' }] });
      const plugin = await start({ configuration });
      const conn = plugin.newConnection({ ...IPV4, properties: { big: 'b'.repeat(70000), id: 'i'.repeat(129) } });
      const r = conn.downstreamData(bytes('.'));
      assert.equal(hex(r.forwarded), IPV4_HEADER + '2e');
      plugin.tick();
      assert.equal(plugin.counter('ppv2.tlvs_omitted'), 2);
      const fits = plugin.newConnection({ ...IPV4, properties: { big: 'b'.repeat(65535 - 12 - 3), id: null } }).downstreamData(bytes('.'));
      const h = decoded(fits.forwarded);
      assert.equal(h.length, 16 + 65535);
      assert.equal(fits.forwarded.length, 65551 + 1);
      plugin.shutdown();
    });

    test('bad configurations are refused with one error line naming the key and quoting the value', async () => {
      const cases = [
        ['{"versoin": 2}', 'unknown key "versoin"'],
        ['{"version": 3}', 'version: expected 1 or 2 (got 3)'],
        ['{"on_unknown_address": "drop"}', 'on_unknown_address: expected "local" or "close" (got "drop")'],
        ['{"tlvs": [{"type": 3, "value": "x"}]}', 'tlvs[0].type: 3 is CRC32C'],
        ['{"tlvs": [{"type": 32, "value": "x"}]}', 'tlvs[0].type: 0x20 is SSL'],
        ['{"tlvs": [{"type": 2, "hex": "xyz"}]}', 'tlvs[0].hex'],
        ['{"tlvs": [{"type": "unique_id", "value": "' + 'u'.repeat(129) + '"}]}', 'UNIQUE_ID is at most 128 bytes'],
        ['{"tlvs": [{"type": "authority", "hex": "ff"}]}', 'tlvs[0]: AUTHORITY must be UTF-8'],
        ['{"tlvs": [{"type": "netns", "value": "caf\\u00e9"}]}', 'tlvs[0]: NETNS must be US-ASCII'],
        [JSON.stringify({ tlvs: Array.from({ length: 65536 }, () => ({ type: 'noop', property: 'x' })) }), 'tlvs: more than 64 TLVs; the limit is 64'],
        [JSON.stringify({ tlvs: Array.from({ length: 65 }, () => ({ type: 'noop', value: '' })) }), 'tlvs: more than 64 TLVs; the limit is 64'],
        ['{"version": 2', 'invalid JSON at byte 13'],
      ];
      for (const [configuration, text] of cases) {
        await assert.rejects(start({ configuration }), (e) => {
          assert.ok(e instanceof PluginStartError, String(e));
          const errors = e.logs.filter((l) => l.level === 4 && l.origin === 'plugin');
          assert.equal(errors.length, 1, JSON.stringify(e.logs));
          assert.ok(!errors[0].message.includes('\n'));
          assert.ok(errors[0].message.includes(text), `${errors[0].message} should include ${text}`);
          return true;
        });
      }
    });

    test('empty configuration, {} and an explicit root id all mean the defaults', async () => {
      for (const opts of [{}, { configuration: '' }, { configuration: '{}' }, { rootId: '' }, { rootId: 'ppv2' }]) {
        const plugin = await start(opts);
        assert.equal(hex(plugin.newConnection(IPV4).downstreamData(bytes('a')).forwarded), IPV4_HEADER + '61');
        assert.ok(plugin.tickPeriodMs > 0 && plugin.tickPeriodMs <= 1000, `tick ${plugin.tickPeriodMs}`);
        plugin.shutdown();
      }
    });

    test('debug logging costs no host call unless the host logs at debug', async () => {
      const quiet = await start({ logLevel: 'info' });
      quiet.stats.reset();
      quiet.newConnection(IPV4).downstreamData(bytes('a'));
      assert.equal(quiet.stats.calls.proxy_log, 0);
      quiet.shutdown();
      const loud = await start({ logLevel: 'debug' });
      loud.newConnection(IPV4).downstreamData(bytes('a'));
      assert.ok(loud.logs.some((l) => l.level === 1 && /prepended 28 bytes/.test(l.message)), JSON.stringify(loud.logs));
      loud.shutdown();
    });

    test('reject_client_proxy_header: a client-sent header closes; a partial one of 5 bytes or more waits; anything else passes', async () => {
      const plugin = await start({ configuration: '{"reject_client_proxy_header": true}' });
      const a = plugin.newConnection(IPV4).downstreamData(bytes('PROXY TCP4 6.6.6.6 5.6.7.8 1 80\r\nGET'));
      assert.deepEqual([a.forwarded.length, a.closed], [0, true]);
      const b = plugin.newConnection(IPV4).downstreamData(fromHex(SIG + '2111'));
      assert.deepEqual([b.forwarded.length, b.closed], [0, true]);
      const conn = plugin.newConnection(IPV4);
      const c1 = conn.downstreamData(bytes('PROXY'));
      assert.equal(c1.status, FilterStatus.StopIteration);
      assert.equal(c1.forwarded.length, 0);
      const c2 = conn.downstreamData(bytes(' x'));
      assert.deepEqual([c2.forwarded.length, c2.closed], [0, true]);
      const d = plugin.newConnection(IPV4);
      assert.equal(d.downstreamData(bytes('PROXi')).status, FilterStatus.Continue, 'five bytes that are no signature');
      const e = plugin.newConnection(IPV4);
      assert.equal(e.downstreamData(fromHex('0d0a0d0a00')).status, FilterStatus.StopIteration);
      const e2 = e.downstreamData(new Uint8Array(0), true);
      assert.equal(hex(e2.forwarded), IPV4_HEADER + '0d0a0d0a00', 'a partial signature at end of stream is just data');
      plugin.tick();
      assert.equal(plugin.counter('ppv2.closed_by_policy'), 3);
      plugin.shutdown();
    });

    test('reject_client_proxy_header: a bare CRLF or CRLFCRLF (SIP keep-alives) and other short starts never wait', async () => {
      const plugin = await start({ configuration: '{"reject_client_proxy_header": true}' });
      for (const start of ['0d0a', '0d0a0d0a', '0d', hex(bytes('PROX')), hex(bytes('P'))]) {
        const r = plugin.newConnection(IPV4).downstreamData(fromHex(start));
        assert.equal(r.status, FilterStatus.Continue, start);
        assert.equal(hex(r.forwarded), IPV4_HEADER + start, start);
      }
      plugin.shutdown();
    });

    test('reject_client_proxy_header: a client that stops after a signature prefix is closed at the second tick', async () => {
      const plugin = await start({ configuration: '{"reject_client_proxy_header": true}' });
      const closes = [];
      const conn = plugin.newConnection(IPV4, { close: () => closes.push('closed') });
      assert.equal(conn.downstreamData(fromHex('0d0a0d0a000d0a')).status, FilterStatus.StopIteration);
      assert.equal(conn.upstreamData(bytes('banner')).forwarded.length, 6, 'the server may still speak');
      plugin.tick();
      assert.deepEqual(closes, [], 'one tick is not enough');
      assert.equal(conn.downstreamData(bytes('Q')).status, FilterStatus.StopIteration, 'still a prefix: still waiting');
      plugin.tick();
      assert.deepEqual(closes, ['closed']);
      assert.equal(conn.closed, true);
      plugin.tick();
      assert.equal(plugin.counter('ppv2.closed_by_policy'), 1);
      assert.equal(plugin.counter('ppv2.headers_written'), 0);
      plugin.shutdown();
    });

    test('without reject_client_proxy_header a client-sent header is inert payload after ours', async () => {
      const plugin = await start();
      const r = plugin.newConnection(IPV4).downstreamData(bytes('PROXY TCP4 6.6.6.6 5.6.7.8 1 80\r\n'));
      assert.equal(hex(r.forwarded), IPV4_HEADER + hex(bytes('PROXY TCP4 6.6.6.6 5.6.7.8 1 80\r\n')));
      plugin.shutdown();
    });

    test('counters still pending when the plugin goes away are flushed by the root context\'s proxy_on_done', async () => {
      const plugin = await start();
      for (let i = 0; i < 3; i++) plugin.newConnection(IPV4).downstreamData(bytes('a'));
      plugin.newConnection({ destination: '5.6.7.8:80' }).downstreamData(bytes('b'));
      plugin.shutdown(); // no tick in between
      assert.equal(plugin.counter('ppv2.headers_written'), 4);
      assert.equal(plugin.counter('ppv2.local_fallbacks'), 1);
    });

    test('version 1 with UNIX sockets: PROXY UNKNOWN, counted as a fallback; with on_unknown_address "close", closed', async () => {
      const unix = { source: '/run/a.sock', destination: '/run/a.sock' };
      const local = await start({ configuration: '{"version": 1}' });
      const a = local.newConnection(unix).downstreamData(bytes('GET'));
      assert.equal(Buffer.from(a.forwarded).toString(), 'PROXY UNKNOWN\r\nGET');
      local.tick();
      assert.deepEqual([local.counter('ppv2.local_fallbacks'), local.counter('ppv2.headers_written')], [1, 1]);
      local.shutdown();
      const close = await start({ configuration: '{"version": 1, "on_unknown_address": "close"}' });
      const b = close.newConnection(unix).downstreamData(bytes('GET'));
      assert.deepEqual([b.forwarded.length, b.closed], [0, true]);
      const ok = close.newConnection(IPV4).downstreamData(bytes('GET'));
      assert.equal(Buffer.from(ok.forwarded).toString(), 'PROXY TCP4 1.2.3.4 5.6.7.8 5678 80\r\nGET');
      close.tick();
      assert.deepEqual([close.counter('ppv2.closed_by_policy'), close.counter('ppv2.local_fallbacks'), close.counter('ppv2.headers_written')], [1, 1, 1]);
      close.shutdown();
    });

    test('memory stays flat over many connections, open and closed in any order', async () => {
      const plugin = await start({ configuration: '{"tlvs": [{"type": "authority", "from": "sni"}]}' });
      const churn = (n) => {
        const open = [];
        for (let i = 0; i < n; i++) {
          const c = plugin.newConnection({ ...IPV4, sni: 'h'.repeat(i % 300) });
          if (i % 3 === 0) c.downstreamData(bytes('x'));
          open.push(c);
          if (open.length > 40) open.splice(i % open.length, 1)[0].close('remote');
        }
        for (const c of open) c.close('local');
      };
      churn(500);
      const after500 = plugin.memoryBytes;
      churn(5000);
      assert.equal(plugin.memoryBytes, after500);
      assert.equal(plugin.failed, false);
      plugin.shutdown();
    });
  });
}

// Two plugin configurations (two root contexts) in one VM: the host API runs one
// root context per plugin, so this drives the exports directly, the way Envoy
// does when two filters share a vm_id.
for (const mod of MODULES) {
  test(`${mod.name}: two root contexts with different configurations share one VM`, async () => {
    // Envoy runs plugins with the same vm_config in one VM, a root context each;
    // every stream names its root, and the filter must use that root's config.
    const v1 = await startPlugin({ wasm: mod.path, rootId: 'one', configuration: '{"version": 1}' });
    const v2 = v1.addRoot({ rootId: 'two', configuration: '{"tlvs": [{"type": "noop", "value": ""}]}' });
    const props = { source: '1.2.3.4:5678', destination: '5.6.7.8:80' };
    const V1_LINE = 'PROXY TCP4 1.2.3.4 5.6.7.8 5678 80\r\n';
    const V2_NOOP = `${SIG}2111000f0102030405060708162e0050040000`;
    // Interleave connections of both plugins.
    const conns = [v1, v2, v1, v2].map((plugin) => [plugin, plugin.newConnection(props)]);
    for (const [plugin, conn] of conns) {
      const { forwarded } = conn.downstreamData(bytes('D'));
      if (plugin === v1) assert.equal(Buffer.from(forwarded).toString(), `${V1_LINE}D`);
      else assert.equal(hex(forwarded), `${V2_NOOP}44`);
      conn.close('remote');
    }
    // Removing one plugin leaves the other working.
    v1.shutdown();
    assert.equal(hex(v2.newConnection(props).downstreamData(bytes('E')).forwarded), `${V2_NOOP}45`);
    assert.equal(v2.failed, false);
    v2.shutdown();
  });
}
