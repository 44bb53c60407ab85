// Before anything is timed, each subject's exact bootstrap runs once against a capture server
// instead of nginx, and what reaches the upstream is decoded by the project's independent
// decoder (src/proxy-protocol/): the addresses of the real connection, the TLVs the subject
// promises, then the client's bytes untouched. A subject that sends a wrong header, or none,
// fails the bench instead of measuring well.
import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import { decodeProxyHeader } from '../../dist/proxy-protocol/index.js';
import { HOST } from './http.mjs';
import { startSubject } from './subjects.mjs';

const PAYLOAD = Buffer.from('GET /guard HTTP/1.1\r\nHost: backend.example\r\n\r\n');

/** A server that keeps everything each connection sends and ends its side after the client's end. */
async function startCapture() {
  const received = [];
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    const chunks = [];
    socket.on('data', (c) => chunks.push(c));
    socket.on('end', () => {
      received.push(Buffer.concat(chunks));
      socket.end();
    });
    socket.on('error', () => {});
  });
  server.listen(0, HOST);
  await once(server, 'listening');
  return { port: server.address().port, received, close: () => new Promise((r) => server.close(r)) };
}

function exchange(port) {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: HOST, port });
    let localPort;
    socket.setTimeout(5000, () => socket.destroy(new Error('no close within 5 s')));
    socket.on('connect', () => {
      localPort = socket.localPort;
      socket.end(PAYLOAD);
    });
    socket.on('data', () => {});
    socket.on('error', reject);
    socket.on('close', () => resolve(localPort));
  });
}

function check(subject, bytes, { clientPort, listenerPort }) {
  const fail = (why) => {
    throw new Error(`guard: (${subject.id}) ${why}`);
  };
  if (subject.tlvs === undefined) {
    if (!bytes.equals(PAYLOAD)) fail(`forwarded ${bytes.length} bytes, expected the ${PAYLOAD.length}-byte request untouched`);
    return;
  }
  const result = decodeProxyHeader(bytes);
  if (result.state !== 'complete') fail(`sent no valid PROXY header (${result.state}: ${result.reason})`);
  const h = result.header;
  if (h.version !== 2 || h.command !== 'PROXY' || h.family !== 'TCP4') fail(`sent v${h.version} ${h.command} ${h.family}, expected v2 PROXY TCP4`);
  const want = subject.addresses ?? { source: { address: HOST, port: clientPort }, destination: { address: HOST, port: listenerPort } };
  for (const side of ['source', 'destination']) {
    if (h[side]?.address !== want[side].address || h[side]?.port !== want[side].port) {
      fail(`${side} ${JSON.stringify(h[side])}, expected ${JSON.stringify(want[side])}`);
    }
  }
  const got = h.tlvs.map((t) => [t.type, t.hex]);
  const matches = got.length === subject.tlvs.length &&
    subject.tlvs.every(([type, value], i) => got[i][0] === type && (value instanceof RegExp ? value.test(got[i][1]) : value === got[i][1]));
  if (!matches) fail(`TLVs ${JSON.stringify(got)}, expected ${JSON.stringify(subject.tlvs.map(([t, v]) => [t, String(v)]))}`);
  if (!bytes.subarray(h.length).equals(PAYLOAD)) fail('the request after the header is not the one sent');
}

/** Runs every subject once against a capture server; throws on the first wrong upstream stream. */
export async function guardSubjects(subjects, { files, startEnvoy }) {
  const capture = await startCapture();
  try {
    for (const subject of subjects) {
      const running = await startSubject(subject, { backend: { proxyPort: capture.port, plainPort: capture.port }, files, startEnvoy });
      try {
        capture.received.length = 0;
        const clientPort = await exchange(running.port);
        if (capture.received.length !== 1) throw new Error(`guard: (${subject.id}) the upstream saw ${capture.received.length} connections, expected 1`);
        check(subject, capture.received[0], { clientPort, listenerPort: running.port });
      } finally {
        await running.stop();
      }
    }
  } finally {
    await capture.close();
  }
}
