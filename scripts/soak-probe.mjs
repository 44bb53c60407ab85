// Preloaded into the `ppv2-wasm proxy` child of `npm run soak` (NODE_OPTIONS
// --import): keeps a handle on the filter's linear memory, and on SIGUSR2
// writes one line to stderr with the figures the soak compares:
//   soak-probe {"wasmBytes":...,"rssBytes":...,"openFds":...,"heapBytes":...}
// Nothing else of the proxy changes. Run with --expose-gc so the figures are
// taken after a full collection.
import { readdirSync } from 'node:fs';

const memories = [];
const instantiate = WebAssembly.instantiate;
WebAssembly.instantiate = async (...args) => {
  const result = await instantiate.apply(WebAssembly, args);
  const instance = result instanceof WebAssembly.Instance ? result : result.instance;
  if (instance.exports.memory instanceof WebAssembly.Memory) memories.push(instance.exports.memory);
  return result;
};

process.on('SIGUSR2', () => {
  globalThis.gc?.();
  const figures = {
    wasmBytes: memories.reduce((n, m) => n + m.buffer.byteLength, 0),
    rssBytes: process.memoryUsage().rss,
    heapBytes: process.memoryUsage().heapUsed,
    openFds: readdirSync('/proc/self/fd').length,
  };
  process.stderr.write(`soak-probe ${JSON.stringify(figures)}\n`);
});
