// A TCP client for tests: connect (optionally from a chosen local address),
// write, optionally half-close, and collect everything until the server
// closes, with a bound on the wait.
import { connect } from 'node:net';

export function exchange({ host = '127.0.0.1', port, localAddress, send = [], end = true, timeoutMs = 15000 }) {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, localAddress, allowHalfOpen: true });
    const chunks = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close from ${host}:${port} within ${timeoutMs} ms (got ${Buffer.concat(chunks).length} bytes)`));
    }, timeoutMs);
    let local = null;
    socket.on('connect', async () => {
      local = { address: socket.localAddress, port: socket.localPort };
      for (const part of send) {
        if (!socket.write(part)) await new Promise((r) => socket.once('drain', r));
      }
      if (end) socket.end();
    });
    socket.on('data', (d) => chunks.push(d));
    // A client that never half-closes still ends its side once the server has.
    socket.on('end', () => { if (!end) socket.end(); });
    let error = null;
    socket.on('error', (e) => { error = e; });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks), error, local });
    });
  });
}
