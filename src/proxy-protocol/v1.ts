// PROXY protocol v1, the text line (doc/proxy-protocol.txt section 2.1),
// decoded strictly: single spaces, canonical addresses of the announced
// family, ports without leading zeros, CRLF within 107 bytes.

import type { DecodeResult, Endpoint } from './header.js';
import { formatIPv4, formatIPv6, parseIPv4Text, parseIPv6Text } from './ip.js';

/** "If the CRLF sequence is not found in the first 107 characters, the receiver should declare the line invalid." */
export const V1_MAX_LENGTH = 107;

const CR = 0x0d;
const LF = 0x0a;

/** `bytes` starts with "PROXY". */
export function decodeV1(bytes: Uint8Array): DecodeResult {
  const limit = Math.min(bytes.length, V1_MAX_LENGTH);
  let end = -1;
  for (let i = 0; i < limit; i++) {
    const b = bytes[i]!;
    if (b === CR) {
      if (i + 2 > V1_MAX_LENGTH) break; // the CRLF would end past byte 107
      if (i + 1 >= bytes.length) break; // the LF may still come
      if (bytes[i + 1] !== LF) return malformed(`CR at offset ${i} is not followed by LF`);
      end = i;
      break;
    }
    if (b === LF) return malformed(`LF at offset ${i} without CR before it`);
    if (b < 0x20 || b > 0x7e) return malformed(`byte 0x${b.toString(16).padStart(2, '0')} at offset ${i} is not printable US-ASCII`);
  }
  if (end < 0) {
    if (bytes.length >= V1_MAX_LENGTH) return malformed(`no CRLF within the first ${V1_MAX_LENGTH} bytes`);
    return { state: 'incomplete', reason: `v1 header: no CRLF yet in ${bytes.length} bytes` };
  }
  const line = Buffer.from(bytes.subarray(0, end)).toString('latin1');
  const length = end + 2;
  const fields = line.split(' ');
  if (fields[0] !== 'PROXY') return malformed(`line does not start with "PROXY "`);
  const protocol = fields[1];
  if (protocol === 'UNKNOWN') {
    // "the rest of the line before the CRLF may be omitted by the sender, and
    // the receiver must ignore anything presented before the CRLF is found."
    return {
      state: 'complete',
      header: { version: 1, command: 'PROXY', family: 'UNKNOWN', source: null, destination: null, tlvs: [], length },
    };
  }
  if (protocol !== 'TCP4' && protocol !== 'TCP6') {
    return malformed(`protocol ${JSON.stringify(protocol ?? '')} is not TCP4, TCP6 or UNKNOWN`);
  }
  if (fields.length !== 6 || fields.some((f) => f === '')) {
    return malformed(`"${line}" is not "PROXY ${protocol} <src> <dst> <sport> <dport>" with single spaces`);
  }
  const [, , srcText, dstText, sportText, dportText] = fields as [string, string, string, string, string, string];
  const parse = protocol === 'TCP4' ? parseIPv4Text : parseIPv6Text;
  const format = protocol === 'TCP4' ? formatIPv4 : formatIPv6;
  const src = parse(srcText);
  if (typeof src === 'string') return malformed(`source: ${src} (family ${protocol})`);
  const dst = parse(dstText);
  if (typeof dst === 'string') return malformed(`destination: ${dst} (family ${protocol})`);
  const sport = parsePort(sportText);
  if (typeof sport === 'string') return malformed(`source port: ${sport}`);
  const dport = parsePort(dportText);
  if (typeof dport === 'string') return malformed(`destination port: ${dport}`);
  const source: Endpoint = { address: format(src), port: sport };
  const destination: Endpoint = { address: format(dst), port: dport };
  return {
    state: 'complete',
    header: { version: 1, command: 'PROXY', family: protocol, source, destination, tlvs: [], length },
  };
}

function parsePort(text: string): number | string {
  if (!/^(0|[1-9][0-9]{0,4})$/.test(text)) return `"${text}" is not a decimal number without leading zeros`;
  const n = Number(text);
  if (n > 65535) return `${n} is more than 65535`;
  return n;
}

function malformed(reason: string): DecodeResult {
  return { state: 'malformed', reason: `v1 header: ${reason}` };
}
