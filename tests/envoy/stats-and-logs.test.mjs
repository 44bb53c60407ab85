// What an operator sees in Envoy: the filter's counters at the admin /stats
// endpoint under the names Envoy prints (its `wasmcustom.` prefix), the
// filter's own lines in Envoy's log (per connection at debug, none at the
// default info), and reject_client_proxy_header closing a client that sends
// its own PROXY header.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { envoyFor, inspectBackend, connectOnce, record, counterReaches, statsText } from './harness.mjs';

const V2_SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

test('reject_client_proxy_header: a client that starts with a v1 or v2 header is closed and nothing reaches the backend; others pass', async (t) => {
  const inspect = await inspectBackend(t);
  const envoy = await envoyFor(t, { upstreamPort: inspect.port, config: { reject_client_proxy_header: true } });
  if (!envoy) return;
  const v1 = await connectOnce({ port: envoy.port, send: [Buffer.from('PROXY TCP4 6.6.6.6 127.0.0.1 1 2\r\nGET /')] });
  const v2 = await connectOnce({ port: envoy.port, send: [V2_SIGNATURE.subarray(0, 5), V2_SIGNATURE.subarray(5)] });
  assert.equal(v1.data.length + v2.data.length, 0, 'both were closed without a reply');
  const fine = await connectOnce({ port: envoy.port, localAddress: '127.0.0.2', send: [Buffer.from('PRO'), Buffer.from('TOCOL')] });
  assert.deepEqual(record(fine).header.source, { address: '127.0.0.2', port: fine.local.port });
  await counterReaches(envoy.envoy, 'wasmcustom.ppv2.closed_by_policy', 2);
  // Every connection inspect saw carried our header first, or nothing at all.
  for (const line of inspect.lines.ready) {
    const r = JSON.parse(line);
    if (r.header) assert.equal(r.header.source.address, '127.0.0.2', line);
    else assert.equal(r.receivedHex, '', line);
  }
});

test('counters at /stats under Envoy\'s names, and the filter\'s per-connection lines in Envoy\'s log at debug only', async (t) => {
  const inspect = await inspectBackend(t);
  const config = { tlvs: [{ type: 'authority', from: 'sni' }] }; // no TLS: the SNI TLV is left out
  const debug = await envoyFor(t, { upstreamPort: inspect.port, config, args: ['--component-log-level', 'wasm:debug'] });
  if (!debug) return;
  for (let i = 0; i < 3; i++) record(await connectOnce({ port: debug.port }));
  await counterReaches(debug.envoy, 'wasmcustom.ppv2.headers_written', 3);
  const stats = await statsText(debug.envoy, '^wasmcustom\\.');
  t.diagnostic(`/stats?filter=^wasmcustom\\.: ${JSON.stringify(stats)}`);
  assert.equal(stats['wasmcustom.ppv2.headers_written'], 3);
  assert.equal(stats['wasmcustom.ppv2.tlvs_omitted'], 3);
  assert.equal(stats['wasmcustom.ppv2.local_fallbacks'], 0);
  assert.equal(stats['wasmcustom.ppv2.closed_by_policy'], 0);
  // JSON /stats (the launcher's stats()) shows the same names.
  assert.equal((await debug.stats('wasmcustom'))['wasmcustom.ppv2.headers_written'], 3);

  const lines = debug.stderr().split('\n').filter((l) => /\[debug\]\[wasm\].* wasm log ppv2\b.*: ppv2-wasm: context \d+: /.test(l));
  assert.equal(lines.length, 3, debug.stderr().split('\n').filter((l) => l.includes('wasm log')).join('\n'));
  for (const line of lines) assert.match(line, /: prepended 28 bytes, PROXY v2 family 0x11\b/);
  t.diagnostic(`a per-connection line: ${lines[0]}`);

  // At Envoy's default level (info) the data path logs nothing.
  const quiet = await envoyFor(t, { upstreamPort: inspect.port, config });
  record(await connectOnce({ port: quiet.port }));
  await counterReaches(quiet.envoy, 'wasmcustom.ppv2.headers_written', 1);
  assert.deepEqual(quiet.stderr().split('\n').filter((l) => l.includes('wasm log')), []);
});
