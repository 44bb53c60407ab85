// Memory per idle connection: open `count` connections through a subject, each making one
// keep-alive request (so every filter has seen its first data and written its header), then
// leave them open and idle, and read Envoy's resident set (/proc) and tcmalloc's allocated
// bytes (admin /memory) against the same readings before. Connections are closed afterwards
// and the bench waits until Envoy has let go of all of them.
import { connect } from 'node:net';
import { HOST, requestHead, smallResponseWatcher } from './http.mjs';
import { rssBytes } from './machine.mjs';

const KEEP_ALIVE = requestHead('GET', '/small', { close: false });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One kept-alive connection that has had its response; resolves with the socket. */
function openIdle(port, timeoutMs) {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: HOST, port });
    const complete = smallResponseWatcher();
    const timer = setTimeout(() => socket.destroy(new Error(`no response within ${timeoutMs} ms`)), timeoutMs);
    socket.on('connect', () => socket.write(KEEP_ALIVE));
    socket.on('data', (chunk) => {
      if (complete(chunk)) {
        clearTimeout(timer);
        resolve(socket);
      }
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

async function until(what, predicate, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`${what} after ${timeoutMs / 1000} s`);
    await sleep(100);
  }
}

/**
 * Opens `count` idle connections to `subject` (`parallel` handshakes at a time), measures, and
 * closes them. Resolves with bytes per connection of RSS and of tcmalloc's allocated memory,
 * and the RSS before.
 */
export async function idleRound(subject, { count, parallel = 200, timeoutMs = 30_000 }) {
  await until(`(${subject.id}) still has connections open`, async () => (await subject.activeConnections()) === 0, timeoutMs);
  const rss0 = rssBytes(subject.pid);
  const heap0 = (await subject.memory()).allocated;
  const sockets = [];
  const errors = [];
  try {
    let next = 0;
    const worker = async () => {
      while (next < count && errors.length === 0) {
        next++;
        try {
          sockets.push(await openIdle(subject.port, timeoutMs));
        } catch (error) {
          errors.push(error);
        }
      }
    };
    await Promise.all(Array.from({ length: parallel }, worker));
    if (errors.length > 0) throw new Error(`(${subject.id}): opening idle connection ${sockets.length + 1} of ${count}: ${errors[0].message}`);
    for (const socket of sockets) socket.on('error', () => {});
    await until(`(${subject.id}) does not show ${count} open connections`, async () => (await subject.activeConnections()) === count, timeoutMs);
    await sleep(500);
    const rss = rssBytes(subject.pid);
    const heap = (await subject.memory()).allocated;
    return { rssPerConnection: (rss - rss0) / count, heapPerConnection: (heap - heap0) / count, rssAtRest: rss0 };
  } finally {
    for (const socket of sockets) socket.destroy();
    await until(`(${subject.id}) kept connections open after the client closed them`, async () => (await subject.activeConnections()) === 0, timeoutMs);
  }
}
