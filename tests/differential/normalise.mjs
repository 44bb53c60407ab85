// What must differ between two runs of the same scripted connection is the
// client's ephemeral port and the listener's port; nothing else. These
// helpers check that those ports are where the header says they are, and
// only then blank them, so that two streams can be compared byte for byte.
// Headers are found with the strict decoder in src/proxy-protocol (written
// independently of the filter), never with the filter's own encoder.
import { decodeProxyHeader } from '../../dist/proxy-protocol/index.js';

/** The header at the start of `bytes` (decoded), or null when the stream does not start with one. */
export function headerAt(bytes) {
  const result = decodeProxyHeader(bytes);
  return result.state === 'complete' ? result.header : null;
}

/**
 * A copy of `bytes` in which the PROXY header's port fields, and any
 * ":<port>" text inside its TLVs, are blanked, after checking that the
 * source port is `ports.client` and the destination port `ports.listener`.
 * Throws (naming the field) when a port is not the expected one. A stream
 * without a header is returned unchanged.
 */
export function blankPorts(bytes, ports) {
  const header = headerAt(bytes);
  if (header === null) return Buffer.from(bytes);
  const out = Buffer.from(bytes);
  const check = (what, actual, expected) => {
    if (actual !== expected) throw new Error(`header ${what} port is ${actual}, expected ${expected}`);
  };
  if (header.source?.port != null) check('source', header.source.port, ports.client);
  if (header.destination?.port != null) check('destination', header.destination.port, ports.listener);
  if (header.version === 2) {
    // Section 2.2: the ports end the address block (IPv4 at 24, IPv6 at 48).
    const at = header.family === 'TCP4' ? 24 : header.family === 'TCP6' ? 48 : -1;
    if (at >= 0) out.fill(0, at, at + 4);
    blankText(out, at >= 0 ? at + 4 : 16, header.length, ports);
  } else {
    blankText(out, 0, header.length, ports);
  }
  return out;
}

/** Replaces the digits of " <port>" / ":<port>" (ports only, whole numbers) with 'p' in out[from, to). */
function blankText(out, from, to, ports) {
  const text = out.toString('latin1', from, to);
  const blanked = text.replace(/([ :])(\d{1,5})(?!\d)/g, (match, sep, digits) =>
    Number(digits) === ports.client || Number(digits) === ports.listener ? sep + 'p'.repeat(digits.length) : match);
  out.write(blanked, from, 'latin1');
}
