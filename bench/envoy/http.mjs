// The requests every load generator sends, and a one-shot request for the guard. Everything
// runs on loopback; HTTP/1.1 with `Connection: close` makes one request one connection.
import { connect } from 'node:net';

export const HOST = '127.0.0.1';

/** An HTTP/1.1 request head; `close` asks for one request per connection. */
export function requestHead(method, path, { close = true, contentLength } = {}) {
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: backend.example'];
  if (contentLength !== undefined) lines.push(`Content-Length: ${contentLength}`);
  if (close) lines.push('Connection: close');
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}

// nginx's /small answer ends with an empty line and its 3-byte body.
const SMALL_RESPONSE_END = Buffer.from('\r\n\r\nok\n');

/** Watches a connection's bytes for the end of the /small response: true once it has arrived. */
export function smallResponseWatcher() {
  let tail = Buffer.alloc(0);
  return (chunk) => {
    tail = Buffer.concat([tail, chunk]).subarray(-SMALL_RESPONSE_END.length);
    return tail.equals(SMALL_RESPONSE_END);
  };
}

/** One request on its own connection; resolves with the status and body once the server closes. */
export function fetchOnce(port, path, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: HOST, port });
    const chunks = [];
    let localPort;
    const timer = setTimeout(() => socket.destroy(new Error(`GET ${path} on port ${port}: no answer within ${timeoutMs} ms`)), timeoutMs);
    socket.on('connect', () => {
      localPort = socket.localPort;
      socket.write(requestHead('GET', path));
    });
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})[^\r]*\r\n[\s\S]*?\r\n\r\n([\s\S]*)$/.exec(text);
      if (m === null) reject(new Error(`GET ${path} on port ${port}: not an HTTP response (${JSON.stringify(text.slice(0, 80))})`));
      else resolve({ status: Number(m[1]), body: m[2], localPort });
    });
  });
}
