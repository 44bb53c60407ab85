// Envoy behind another PROXY sender (envoy/chained-proxy-protocol.yaml):
// Envoy's proxy_protocol listener filter reads the incoming header, so the
// header the filter sends upstream names the original client; TLVs of the
// incoming header travel on through the listener filter's `rules` (into the
// connection's dynamic metadata) and a `property` TLV of the wasm filter.
// Senders: HAProxy 2.6 (`send-proxy-v2` with its UNIQUE_ID TLV), and a
// scripted load balancer sending a 0xEA endpoint-id TLV as AWS does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { envoyFor, inspectBackend, connectOnce, record, counterReaches, REPO } from './harness.mjs';
import { requireTool } from '../e2e/tools.mjs';
import { startHaproxySender } from '../e2e/consumers.mjs';

const TEMPLATE = path.join(REPO, 'envoy', 'chained-proxy-protocol.yaml');

/** A v2 PROXY header as a load balancer would send it: TCP4 with these TLVs ([type, Buffer]). */
function lbHeader(src, sport, dst, dport, tlvs) {
  const addresses = Buffer.from([...src.split('.').map(Number), ...dst.split('.').map(Number), sport >> 8, sport & 0xff, dport >> 8, dport & 0xff]);
  const body = Buffer.concat([addresses, ...tlvs.map(([type, value]) => Buffer.concat([Buffer.from([type, value.length >> 8, value.length & 0xff]), value]))]);
  return Buffer.concat([Buffer.from('0d0a0d0a000d0a515549540a2111', 'hex'), Buffer.from([body.length >> 8, body.length & 0xff]), body]);
}

/** AWS's 0xEA TLV value: subtype 0x01 (PP2_SUBTYPE_AWS_VPCE_ID), then the id. */
const VPCE = Buffer.concat([Buffer.from([0x01]), Buffer.from('vpce-0123456789abcdef0')]);

test('HAProxy send-proxy-v2 in front: the header upstream carries the original client, not HAProxy, and HAProxy\'s UNIQUE_ID', async (t) => {
  const haproxyBinary = requireTool(t, 'haproxy');
  if (!haproxyBinary) return;
  const inspect = await inspectBackend(t);
  const envoy = await envoyFor(t, { upstreamPort: inspect.port, template: TEMPLATE });
  if (!envoy) return;
  const haproxy = await startHaproxySender(haproxyBinary, envoy.port);
  t.after(() => haproxy.stop());
  // The client keeps its side open until the reply. A FIN that reaches Envoy
  // together with HAProxy's header and the data (one read-and-closed socket
  // event) makes Envoy 1.40 close the connection before its proxy_protocol
  // listener filter reads the header (HAProxy logs "SD"): see docs/envoy.md.
  const reply = await connectOnce({ port: haproxy.port, localAddress: '127.0.0.2', halfClose: false });
  const r = record(reply);
  assert.deepEqual(r.header.source, { address: '127.0.0.2', port: reply.local.port }, 'the client, not HAProxy (127.0.0.1)');
  assert.deepEqual(r.header.destination, { address: '127.0.0.1', port: haproxy.port }, 'the address the client connected to');
  assert.deepEqual(r.header.tlvs.map((x) => x.name), ['PP2_TYPE_UNIQUE_ID'], 'no 0xEA: HAProxy sent none, so it is left out');
  assert.match(r.header.tlvs[0].text, /^lb-[0-9a-f-]{36}$/, 'HAProxy\'s unique id, forwarded');
  // The access log names both: the client from HAProxy's header, and HAProxy.
  // (HAProxy's readiness probe, a connection from 127.0.0.1, may come first.)
  const client = ` downstream=127.0.0.2:${reply.local.port} local=127.0.0.1:${haproxy.port} lb=127.0.0.1:`;
  let line;
  do line = await envoy.lines.next(); while (!line.includes(client));
});

test('a load balancer\'s 0xEA endpoint-id TLV is forwarded upstream byte for byte, with its client and destination', async (t) => {
  const inspect = await inspectBackend(t);
  const envoy = await envoyFor(t, { upstreamPort: inspect.port, template: TEMPLATE });
  if (!envoy) return;
  const header = lbHeader('192.0.2.10', 4000, '198.51.100.20', 443, [[0xea, VPCE], [0x05, Buffer.from('request-42')]]);
  const r = record(await connectOnce({ port: envoy.port, send: [header, Buffer.from('hello')], halfClose: false }));
  assert.deepEqual([r.header.source, r.header.destination], [{ address: '192.0.2.10', port: 4000 }, { address: '198.51.100.20', port: 443 }]);
  assert.deepEqual(r.header.tlvs.map((x) => [x.type, x.hex]), [[0xea, VPCE.toString('hex')], [0x05, Buffer.from('request-42').toString('hex')]]);
});

test('a TLV value that is not UTF-8 reaches the metadata with its invalid bytes replaced by "!"; the raw bytes in filter state are not readable', async (t) => {
  // The listener filter's pass_through_tlvs keeps the raw TLVs in the filter
  // state object envoy.network.proxy_protocol_options, for Envoy's own
  // upstream_proxy_protocol transport socket. Asked for it as a property, the
  // filter gets nothing.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ppv2-chained-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const b = parse(fs.readFileSync(TEMPLATE, 'utf8'));
  const listener = b.static_resources.listeners[0];
  listener.listener_filters[0].typed_config.pass_through_tlvs = { match_type: 'INCLUDE', tlv_type: [0xea] };
  const template = path.join(dir, 'chained.yaml');
  fs.writeFileSync(template, stringify(b));
  const config = {
    tlvs: [
      { type: 0xea, property: ['metadata', 'filter_metadata', 'envoy.filters.listener.proxy_protocol', 'aws_vpce'] },
      { type: 0xeb, property: ['filter_state', 'envoy.network.proxy_protocol_options'] },
    ],
  };
  const inspect = await inspectBackend(t);
  const envoy = await envoyFor(t, { upstreamPort: inspect.port, template, config });
  if (!envoy) return;
  const value = Buffer.from([0x01, 0xff, 0xfe, 0x00, 0x41, 0xc3, 0xa9]); // 0xff and 0xfe are never UTF-8; NUL and "é" are
  const header = lbHeader('192.0.2.10', 4000, '198.51.100.20', 443, [[0xea, value]]);
  const r = record(await connectOnce({ port: envoy.port, send: [header, Buffer.from('hello')], halfClose: false }));
  assert.deepEqual(r.header.tlvs.map((x) => [x.type, x.hex]), [[0xea, '0121210041c3a9']]);
  await counterReaches(envoy.envoy, 'wasmcustom.ppv2.tlvs_omitted', 1);
});

test('a connection without a PROXY header is closed by the listener filter before it reaches the wasm filter', async (t) => {
  const inspect = await inspectBackend(t);
  const envoy = await envoyFor(t, { upstreamPort: inspect.port, template: TEMPLATE });
  if (!envoy) return;
  const reply = await connectOnce({ port: envoy.port, send: [Buffer.from('GET / HTTP/1.0\r\n\r\n')], halfClose: false });
  assert.equal(reply.data.length, 0);
  const deadline = Date.now() + 10000;
  let stats = {};
  while (Date.now() < deadline && !(stats.downstream_cx_proxy_proto_error >= 1)) {
    stats = await envoy.stats('proxy_proto');
    await new Promise((r) => setTimeout(r, 100));
  }
  t.diagnostic(JSON.stringify(stats));
  assert.equal(stats.downstream_cx_proxy_proto_error, 1, JSON.stringify(stats));
  assert.deepEqual(inspect.lines.ready, [], 'the backend saw no connection');
});
