// Correctness guards run before anything is timed, so that a broken build cannot produce a
// flattering number: every header a measured module writes is decoded by the independent
// decoder in dist/proxy-protocol/ and compared with what the connection should give.
import { decodeProxyHeader } from '../dist/proxy-protocol/index.js';

export class GuardError extends Error {
  name = 'GuardError';
}

function endpoint(text) {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text);
  if (m === null) throw new GuardError(`guard: cannot read the address ${JSON.stringify(text)}`);
  return { address: m[1] ?? m[2], port: Number(m[3]) };
}

/**
 * Checks that `bytes` is a complete PROXY v2 header for `source` -> `destination` (Envoy address
 * strings), carrying exactly the TLVs `tlvs` ([type, text] pairs, in order; CRC32C is checked by
 * the decoder when present), followed by exactly `payload`. Throws a one-line GuardError.
 */
export function expectHeader(label, bytes, { source, destination, family = 'TCP4', tlvs = [], payload }) {
  const fail = (why) => {
    throw new GuardError(`guard: ${label}: ${why}`);
  };
  const result = decodeProxyHeader(bytes);
  if (result.state !== 'complete') fail(`no valid PROXY header (${result.state}: ${result.reason})`);
  const h = result.header;
  if (h.version !== 2 || h.command !== 'PROXY') fail(`expected PROXY v2, got v${h.version} ${h.command}`);
  if (h.family !== family) fail(`expected family ${family}, got ${h.family}`);
  for (const [side, want] of [['source', endpoint(source)], ['destination', endpoint(destination)]]) {
    const got = h[side];
    if (got === null || got.address !== want.address || got.port !== want.port) {
      fail(`${side} is ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
    }
  }
  const got = h.tlvs.filter((t) => t.name !== 'PP2_TYPE_CRC32C').map((t) => [t.type, t.text]);
  if (JSON.stringify(got) !== JSON.stringify(tlvs)) fail(`TLVs ${JSON.stringify(got)}, expected ${JSON.stringify(tlvs)}`);
  const rest = Buffer.from(bytes.subarray(h.length));
  if (payload !== undefined && !rest.equals(Buffer.from(payload))) fail(`${rest.length} bytes after the header differ from the ${payload.length} sent`);
  return h;
}

/** Checks that two modules wrote byte-identical output for the same connection. */
export function expectSame(label, a, b) {
  if (!Buffer.from(a).equals(Buffer.from(b))) {
    throw new GuardError(`guard: ${label}: outputs differ (${Buffer.from(a).toString('hex')} vs ${Buffer.from(b).toString('hex')})`);
  }
}

/** Checks that a module passed the payload through untouched. */
export function expectUntouched(label, bytes, payload) {
  if (!Buffer.from(bytes).equals(Buffer.from(payload))) {
    throw new GuardError(`guard: ${label}: ${bytes.length} bytes forwarded, expected the ${payload.length}-byte payload untouched`);
  }
}

/** Checks a counter the filter keeps (flushed on tick) against the number of connections driven. */
export function expectCounter(label, plugin, name, expected) {
  plugin.tick();
  const got = plugin.counter(name);
  if (got !== expected) throw new GuardError(`guard: ${label}: ${name} is ${got}, expected ${expected}`);
}
