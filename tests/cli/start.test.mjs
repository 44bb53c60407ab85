// `npm start` (scripts/start.mjs): both servers come up, a connection through
// the proxy shows its decoded header, and SIGTERM stops everything.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { freePort } from '../e2e/consumers.mjs';
import { exchange } from './net-client.mjs';

const START = fileURLToPath(new URL('../../scripts/start.mjs', import.meta.url));

async function waitFor(read, pattern, what, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(read())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; output so far:\n${read()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return pattern.exec(read());
}

test('npm start serves the demo, shows each decoded header, and stops both servers on SIGTERM', async () => {
  const proxyPort = await freePort();
  const backendPort = await freePort();
  const child = spawn(process.execPath, [START], {
    env: { ...process.env, PPV2_DEMO_PROXY: `127.0.0.1:${proxyPort}`, PPV2_DEMO_BACKEND: `127.0.0.1:${backendPort}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  try {
    await waitFor(() => output, /Ctrl-C stops both/, 'the demo banner');
    assert.match(output, new RegExp(`curl --http0\\.9 -s http://127\\.0\\.0\\.1:${proxyPort}/`));
    const client = await exchange({ port: proxyPort, localAddress: '127.0.0.2', send: [Buffer.from('hi')] });
    const reply = JSON.parse(client.data.toString());
    assert.deepEqual(reply.header.source, { address: '127.0.0.2', port: client.local.port });
    await waitFor(() => output, new RegExp(`backend  v2 PROXY TCP4 127\\.0\\.0\\.2:${client.local.port} -> 127\\.0\\.0\\.1:${proxyPort}`), 'the decoded header line');
    await waitFor(() => output, /proxy    127\.0\.0\.2:\d+ -> .*filter added 28/, 'the proxy\'s line');
  } finally {
    const closed = once(child, 'close');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
    const [code] = await closed;
    clearTimeout(timer);
    assert.equal(code, 0, output);
  }
  // Both children are gone: their ports refuse connections.
  for (const port of [proxyPort, backendPort]) {
    const attempt = await exchange({ port, send: [], timeoutMs: 5000 });
    assert.equal(attempt.error?.code, 'ECONNREFUSED', `port ${port} still open`);
  }
});
