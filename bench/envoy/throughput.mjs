// Bulk throughput, both directions, one connection each: download a large file from nginx
// (sendfile on nginx's side), and upload a large body that nginx reads and drops. The client
// is this process, streaming with backpressure; a transfer is timed from connect() to the
// connection's close, so the bytes still in flight when the client stops writing are counted.
import { connect } from 'node:net';
import { HOST, requestHead } from './http.mjs';

const CHUNK = Buffer.alloc(1024 * 1024, 0x61);
// Reads land in one reused buffer (net.connect's `onread`): a new Buffer per read would make
// this client, not Envoy, the slowest stage of a download.
const READ_BUFFER = Buffer.alloc(1024 * 1024);

function timed(port, start, timeoutMs) {
  return new Promise((resolve, reject) => {
    const began = process.hrtime.bigint();
    let received = 0;
    let head = '';
    const onread = {
      buffer: READ_BUFFER,
      callback: (n, buffer) => {
        if (received === 0) head = buffer.subarray(0, Math.min(n, 12)).toString('latin1');
        received += n;
      },
    };
    const socket = connect({ host: HOST, port, onread });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`transfer on port ${port} idle for ${timeoutMs} ms`)));
    socket.on('connect', () => start(socket));
    socket.on('error', reject);
    socket.on('close', () => resolve({ ns: Number(process.hrtime.bigint() - began), received, head }));
  });
}

/** GET /large; resolves with MB/s of body received. */
export async function download(port, bytes, timeoutMs = 30_000) {
  const { ns, received, head } = await timed(port, (socket) => socket.write(requestHead('GET', '/large')), timeoutMs);
  if (head !== 'HTTP/1.1 200' || received < bytes) throw new Error(`download on port ${port}: ${JSON.stringify(head)}, ${received} bytes, expected HTTP/1.1 200 and more than ${bytes}`);
  return bytes / 1e6 / (ns / 1e9);
}

/** POST /upload with `bytes` of body; resolves with MB/s of body sent. */
export async function upload(port, bytes, timeoutMs = 30_000) {
  const { ns, head } = await timed(port, (socket) => {
    socket.write(requestHead('POST', '/upload', { contentLength: bytes }));
    let sent = 0;
    const pump = () => {
      while (sent < bytes) {
        const n = Math.min(CHUNK.length, bytes - sent);
        sent += n;
        if (!socket.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
          socket.once('drain', pump);
          return;
        }
      }
      socket.end();
    };
    pump();
  }, timeoutMs);
  if (head !== 'HTTP/1.1 204') throw new Error(`upload on port ${port}: nginx answered ${JSON.stringify(head)}, expected HTTP/1.1 204`);
  return bytes / 1e6 / (ns / 1e9);
}
