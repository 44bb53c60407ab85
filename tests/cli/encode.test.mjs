// `ppv2-wasm encode` with the release module: the header for one synthetic
// connection, as literal bytes written from the spec, then decoded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from './cli-process.mjs';

const SIG = '0d0a0d0a000d0a515549540a';

async function encode(...args) {
  const result = await runCli(['encode', ...args]);
  assert.equal(result.code, 0, result.stderr);
  const [hexLine, ...rest] = result.stdout.split('\n');
  return { hex: hexLine, decoded: JSON.parse(rest.join('\n')) };
}

test('IPv4 client and destination: the 28-byte v2 header, then its decoding', async () => {
  const { hex, decoded } = await encode('--src', '127.0.0.2:5555', '--dst', '127.0.0.1:80');
  assert.equal(hex, `${SIG}2111000c7f0000027f00000115b30050`);
  assert.deepEqual(decoded, {
    version: 2, command: 'PROXY', family: 'TCP4', length: 28, tlvs: [],
    source: { address: '127.0.0.2', port: 5555 }, destination: { address: '127.0.0.1', port: 80 },
  });
});

test('IPv6 with --sni feeding AUTHORITY, and a CRC32C the decoder verifies', async () => {
  const { hex, decoded } = await encode('--src', '[2001:db8::1]:443', '--dst', '[2001:db8::2]:8443', '--sni', 'app.example',
    '--config-json', '{"crc32c":true,"tlvs":[{"type":"authority","from":"sni"}]}');
  assert.ok(hex.startsWith(`${SIG}2121003920010db8000000000000000000000001 20010db8000000000000000000000002 01bb 20fb 02000b6170702e6578616d706c65 030004`.replace(/ /g, '')), hex);
  assert.deepEqual(decoded.tlvs.map((t) => [t.name, t.text ?? t.crc32c]), [
    ['PP2_TYPE_AUTHORITY', 'app.example'], ['PP2_TYPE_CRC32C', hex.slice(-8)],
  ]);
});

test('--property feeds a TLV read from an Envoy attribute', async () => {
  const { decoded } = await encode('--src', '10.0.0.1:1000', '--dst', '10.0.0.2:2000',
    '--property', 'connection.uri_san_peer_certificate=spiffe://cluster.local/ns/a/sa/b',
    '--config-json', '{"tlvs":[{"type":234,"property":"connection.uri_san_peer_certificate"}]}');
  assert.deepEqual(decoded.tlvs, [{
    type: 0xea, name: 'PP2_TYPE_CUSTOM(0xea)',
    hex: Buffer.from('spiffe://cluster.local/ns/a/sa/b').toString('hex'), text: 'spiffe://cluster.local/ns/a/sa/b',
  }]);
});

test('an address Envoy could not give as IP falls back to LOCAL; version 1 gives the text line', async () => {
  const local = await encode('--src', 'envoy://internal_client_address/', '--dst', '10.0.0.2:2000');
  assert.equal(local.hex, `${SIG}20000000`);
  const v1 = await encode('--src', '192.0.2.1:56324', '--dst', '192.0.2.11:443', '--config-json', '{"version":1}');
  assert.equal(Buffer.from(v1.hex, 'hex').toString(), 'PROXY TCP4 192.0.2.1 192.0.2.11 56324 443\r\n');
  assert.equal(v1.decoded.version, 1);
});

test('a rejected configuration exits 1 with one line quoting the filter\'s reason', async () => {
  const { code, stdout, stderr } = await runCli(['encode', '--src', '1.2.3.4:1', '--dst', '5.6.7.8:2', '--config-json', '{"verison":2}']);
  assert.equal(code, 1);
  assert.equal(stdout, '');
  assert.equal(stderr.trim().split('\n').length, 1, stderr);
  assert.match(stderr, /^ppv2-wasm encode: the filter refused to start: .*unknown key "verison"/);
  assert.equal(stderr.match(/ppv2-wasm/g).length, 1, `one "ppv2-wasm" prefix: ${stderr}`);
});
