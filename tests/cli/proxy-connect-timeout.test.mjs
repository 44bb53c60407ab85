// `ppv2-wasm proxy --connect-timeout`: an upstream that never connects closes
// the client after the timeout, as Envoy's cluster connect_timeout does
// (tests/differential/ compares the two on the wire); a bad value is one line.
import test from 'node:test';
import assert from 'node:assert/strict';
import { runCli, startCli } from './cli-process.mjs';
import { dial, startUnansweredPort } from '../differential/peers.mjs';

test('proxy --connect-timeout refuses a value that is not a whole number of milliseconds', async () => {
  for (const value of ['0', '-5', '1.5', 'soon', '']) {
    const { code, stderr } = await runCli(['proxy', '--listen', '127.0.0.1:0', '--upstream', '127.0.0.1:9', `--connect-timeout=${value}`]);
    assert.equal(code, 2, `--connect-timeout ${value}: ${stderr}`);
    assert.match(stderr, /^ppv2-wasm proxy: --connect-timeout ".*" is not a whole number of milliseconds from 1 to 999999999 /);
    assert.equal(stderr.trim().split('\n').length, 1, stderr);
  }
});

test('proxy --connect-timeout closes the client when the upstream does not connect in time, and logs why', async (t) => {
  const unanswered = await startUnansweredPort();
  t.after(() => unanswered.stop());
  const proxy = await startCli(['proxy', '--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${unanswered.port}`, '--connect-timeout', '300']);
  t.after(() => proxy.stop());
  const client = await dial({ host: '127.0.0.1', port: proxy.port });
  await client.waitEnd(5000);
  assert.equal(client.fin, true, 'a silent client gets a FIN');
  assert.match(await proxy.lines.next(), /upstream 127\.0\.0\.1:\d+ did not connect within 300 ms$/);
  client.destroy();
});
