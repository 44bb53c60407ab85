// The fuzz engine shared by `npm run fuzz` (scripts/fuzz.mjs, minutes) and the
// bounded run inside `npm test` (tests/reliability/fuzz.test.mjs): one case is
// one configuration started in the host, then a few connections driven through
// it, and every invariant checked against the oracle (oracle.mjs).
//
// Invariants, on every case:
//   - the VM never traps (plugin.failed stays false);
//   - a configuration is accepted exactly when the oracle accepts it; a refused
//     one leaves exactly one plugin error line, naming the key;
//   - an accepted one prepends, per connection, exactly the header the oracle
//     computes, once, in front of the first byte; the header decodes strictly
//     with our decoder and with proxy-protocol-js (and @balena/proxy-protocol-parser
//     for IP families) to the expected addresses and TLVs; the length field equals
//     the bytes after the first 16;
//   - the payload follows unchanged, both ways; a connection the policy closes
//     forwards nothing;
//   - the counters (after a tick) equal the oracle's.
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import { PluginStartError, startPlugin } from '../../dist/host/index.js';
import { decodeProxyHeader } from '../../dist/proxy-protocol/index.js';
import { clientHeaderVerdict, expectHeader, ipv6Bytes, predictConfig } from './oracle.mjs';
import * as gen from './generate.mjs';

const require = createRequire(import.meta.url);
const ppjs = require('proxy-protocol-js');
const balena = require('@balena/proxy-protocol-parser');

export const COUNTERS = ['headers_written', 'local_fallbacks', 'closed_by_policy', 'tlvs_omitted', 'closed_on_error'];

/** A failed invariant, with what is needed to replay it. */
export class Finding extends Error {
  constructor(message, details) {
    super(message);
    this.name = 'Finding';
    this.details = details;
  }
}

// ------------------------------------------------------------------ the host, as the oracle sees it

/** Encodes a property value as the host does (docs/host.md: Envoy's serializeValue). */
function encode(value) {
  if (value === null) return null;
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (typeof value === 'boolean') return Buffer.from([value ? 1 : 0]);
  if (typeof value === 'bigint') {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(value);
    return b;
  }
  return Buffer.from(value);
}

/** The port Envoy reports for an IP address string (source.port), or null. */
function portOf(text) {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(text) ?? /^\[([0-9A-Fa-f:.]+(?:%[^\]]+)?)\]:(\d{1,5})$/.exec(text);
  if (m === null || isIP(m[1].split('%')[0]) === 0 || Number(m[2]) > 65535) return null;
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(BigInt(m[2]));
  return b;
}

/** What proxy_get_property answers for `props` (paths joined by NUL; null is NotFound). */
export function propertyLookup(props, connectionId) {
  const overrides = new Map();
  for (const [key, value] of Object.entries(props.properties ?? {})) {
    overrides.set(key.includes('\0') ? key : key.split('.').join('\0'), encode(value));
  }
  return (key) => {
    if (overrides.has(key)) return overrides.get(key);
    switch (key) {
      case 'source\0address':
        return props.source === undefined ? null : Buffer.from(props.source);
      case 'destination\0address':
        return props.destination === undefined ? null : Buffer.from(props.destination);
      case 'source\0port':
        return props.source === undefined ? null : portOf(props.source);
      case 'destination\0port':
        return props.destination === undefined ? null : portOf(props.destination);
      case 'connection\0requested_server_name':
        return Buffer.from(props.sni ?? '');
      case 'connection\0mtls':
        return Buffer.from([0]);
      case 'connection\0id':
      case 'connection_id':
        return encode(connectionId);
      case 'plugin_name':
      case 'plugin_root_id':
      case 'plugin_vm_id':
        return Buffer.alloc(0);
      default:
        return null;
    }
  };
}

// ------------------------------------------------------------------ one connection

const same = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
const hex = (b, max = 96) => `${Buffer.from(b).subarray(0, max).toString('hex')}${b.length > max ? `... (${b.length} bytes)` : ''}`;

/**
 * Drives one connection and checks it. Returns the counter increments the
 * oracle expects. Throws a Finding on the first broken invariant.
 */
export function runConnection(plugin, config, spec, counters) {
  let nextId = spec.props.connectionId;
  const conn = plugin.newConnection(spec.props);
  // The host numbers connections itself when none is given; read it back the way the filter does.
  if (nextId === undefined) nextId = readConnectionId(conn);
  const lookup = propertyLookup(spec.props, nextId);
  const fail = (message, extra = {}) => {
    throw new Finding(message, { connection: describeConnection(spec), ...extra });
  };

  let decided = false;
  let expected = null; // { header, family, ... } once the filter decided
  let closed = false;
  const pending = [];
  const downOut = [];
  const downIn = [];
  let downEosOut = 0;
  let downEosIn = false;
  for (const step of spec.events) {
    if (step.dir === 'up') {
      const r = conn.upstreamData(step.bytes, step.eos);
      if (plugin.failed) fail(`trap on upstream data: ${plugin.failure}`);
      if (closed) {
        if (r.forwarded.length !== 0) fail('a closed connection passed upstream bytes to the client');
        continue;
      }
      if (!same(r.forwarded, step.bytes) || r.endOfStream !== step.eos || r.closed) {
        fail(`upstream bytes changed: sent ${hex(step.bytes)} eos=${step.eos}, client got ${hex(r.forwarded)} eos=${r.endOfStream} closed=${r.closed}`);
      }
      continue;
    }
    const r = conn.downstreamData(step.bytes, step.eos);
    if (plugin.failed) fail(`trap on downstream data: ${plugin.failure}`);
    if (closed) {
      if (r.forwarded.length !== 0) fail('a closed connection forwarded bytes upstream');
      continue;
    }
    downIn.push(step.bytes);
    downOut.push(r.forwarded);
    if (r.endOfStream) downEosOut++;
    if (step.eos) downEosIn = true;
    if (!decided) {
      pending.push(step.bytes);
      const data = Buffer.concat(pending);
      if (data.length === 0 && !step.eos) continue; // Envoy does not call the filter for nothing
      const verdict = config.rejectClientHeader ? clientHeaderVerdict(data) : 'none';
      if (verdict === 'prefix' && !step.eos) {
        if (r.forwarded.length !== 0) fail(`bytes forwarded while the filter must still wait: ${hex(r.forwarded)}`);
        continue;
      }
      decided = true;
      if (verdict === 'header') {
        counters.closed_by_policy++;
        expected = { close: true };
      } else expected = expectHeader(config, lookup, counters);
      if (expected.close) {
        closed = true;
        if (!r.closed) fail('the connection should have been closed by policy');
        if (r.forwarded.length !== 0) fail(`a connection closed by policy forwarded ${hex(r.forwarded)}`);
      }
    }
  }
  conn.close(spec.closeKind);
  if (plugin.failed) fail(`trap on close: ${plugin.failure}`);
  if (closed || !decided) {
    if (!decided && Buffer.concat(downOut).length !== 0) fail('bytes forwarded without a decision');
    return { outcome: closed ? 'closed by policy' : 'no data' };
  }
  const out = Buffer.concat(downOut);
  const payload = Buffer.concat(downIn);
  const want = Buffer.concat([expected.header, payload]);
  if (!same(out, want)) {
    fail('upstream bytes differ from header + payload', { expectedHeader: hex(expected.header, 400), got: hex(out, 400), payloadLength: payload.length });
  }
  if (downEosIn !== (downEosOut === 1) || downEosOut > 1) fail(`end_of_stream sent ${downEosIn}, forwarded ${downEosOut} times`);
  checkDecoders(expected, out, fail);
  const outcome = expected.header[0] === 0x50 ? `v1 ${expected.family ?? 'UNKNOWN'}` : `v2 ${expected.family ?? 'LOCAL'}${expected.tlvs.length > 0 ? ' with TLVs' : ''}`;
  return { outcome };
}

/** The id the host gave the connection (its own answer, not a `connection_id` override). */
function readConnectionId(conn) {
  return Buffer.from(conn.property('connection\0id')).readBigUInt64LE();
}

/** The header decodes strictly, the same way, with our decoder and the npm ones. */
function checkDecoders(expected, out, fail) {
  const headerLength = expected.header.length;
  const ours = decodeProxyHeader(out);
  if (ours.state !== 'complete') fail(`our decoder: ${ours.state}: ${ours.reason}`);
  const h = ours.header;
  if (h !== null && h.length !== headerLength) fail(`our decoder reads a ${h.length}-byte header, expected ${headerLength}`);
  if (expected.header[0] === 0x50) {
    // v1 text.
    if (expected.family === null || expected.family === 'UNIX_STREAM') {
      if (h?.version !== 1 || h.family !== 'UNKNOWN') fail(`expected a v1 UNKNOWN line, our decoder reads ${JSON.stringify(h)}`);
      return;
    }
    if (h !== null) {
      if (h.version !== 1) fail('expected a v1 header');
      checkEndpoints(h, expected, fail);
    }
    const theirs = ppjs.V1ProxyProtocol.parse(out.subarray(0, headerLength).toString('latin1'));
    if (theirs.source.port !== expected.src.port || theirs.destination.port !== expected.dst.port) fail('proxy-protocol-js reads other v1 ports');
    if (!sameIp(theirs.source.ipAddress, expected.src.ip) || !sameIp(theirs.destination.ipAddress, expected.dst.ip)) fail('proxy-protocol-js reads other v1 addresses');
    const other = balena.decode(out.subarray(0, headerLength), true);
    if (other.remotePort !== expected.src.port || !sameIp(other.remoteAddress, expected.src.ip) || !sameIp(other.localAddress, expected.dst.ip)) {
      fail(`@balena/proxy-protocol-parser reads ${JSON.stringify(other)}`);
    }
    return;
  }
  // v2 binary: the length field counts exactly the bytes after the first 16.
  const lengthField = out.readUInt16BE(14);
  if (lengthField !== headerLength - 16) fail(`length field ${lengthField}, but ${headerLength - 16} bytes follow the first 16`);
  if (h !== null) {
    if (expected.family === null) {
      if (h.command !== 'LOCAL' || h.family !== 'UNSPEC') fail(`expected LOCAL/UNSPEC, got ${h.command}/${h.family}`);
    } else {
      if (h.command !== 'PROXY' || h.family !== expected.family) fail(`expected PROXY/${expected.family}, got ${h.command}/${h.family}`);
      checkEndpoints(h, expected, fail);
    }
    // TLVs: same types and values, in order (our decoder has already verified the CRC32C).
    const tlvs = h.tlvs.map((t) => [t.type, t.hex]);
    const want = expected.tlvs.map((t) => [t.type, t.value.toString('hex')]);
    if (JSON.stringify(tlvs) !== JSON.stringify(want)) fail(`our decoder's TLVs ${JSON.stringify(tlvs).slice(0, 300)}, expected ${JSON.stringify(want).slice(0, 300)}`);
  }
  // proxy-protocol-js: command, family, raw address bytes, and the TLV bytes it leaves after the address block.
  const theirs = ppjs.V2ProxyProtocol.parse(out);
  const addr = theirs.proxyAddress;
  const addrLength = { null: 0, TCP4: 12, TCP6: 36, UNIX_STREAM: 216 }[expected.family];
  if (theirs.command !== (expected.family === null ? ppjs.Command.LOCAL : ppjs.Command.PROXY)) fail('proxy-protocol-js reads another command');
  if (expected.family === 'TCP4' || expected.family === 'TCP6') {
    const width = expected.family === 'TCP4' ? 4 : 16;
    const ip = (a) => (width === 4 ? a.slice(12) : a);
    if (!same(addr.sourceAddress.address, ip(expected.src.ip)) || !same(addr.destinationAddress.address, ip(expected.dst.ip))) fail('proxy-protocol-js reads other addresses');
    if (addr.sourcePort !== expected.src.port || addr.destinationPort !== expected.dst.port) fail('proxy-protocol-js reads other ports');
    const other = balena.decode(out, true);
    if (other.remotePort !== expected.src.port || other.localPort !== expected.dst.port || !sameIp(other.remoteAddress, expected.src.ip) || !sameIp(other.localAddress, expected.dst.ip)) {
      fail(`@balena/proxy-protocol-parser reads ${JSON.stringify(other)}`);
    }
  } else if (expected.family === 'UNIX_STREAM') {
    const pad = (p) => Buffer.concat([p, Buffer.alloc(108 - p.length)]);
    if (!same(addr.sourceAddress.address, pad(expected.src.path)) || !same(addr.destinationAddress.address, pad(expected.dst.path))) fail('proxy-protocol-js reads other UNIX paths');
  }
  const tlvBytes = Buffer.from(theirs.data).subarray(0, lengthField - addrLength);
  const wantTlvBytes = Buffer.concat(expected.tlvs.map((t) => Buffer.concat([Buffer.from([t.type, t.value.length >> 8, t.value.length & 0xff]), t.value])));
  if (!same(tlvBytes, wantTlvBytes)) fail('proxy-protocol-js: the TLV bytes after the address block differ');
}

function sameIp(text, ip16) {
  const t = text.includes(':') ? ipv6Bytes(text) : [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...text.split('.').map(Number)];
  return t !== null && same(t, ip16);
}

function checkEndpoints(h, expected, fail) {
  if (expected.family === 'UNIX_STREAM') {
    // A sun_path as text: up to its first NUL; an abstract socket (a leading NUL) as "@name".
    const path = (p) => {
      const abstract = p[0] === 0;
      const name = abstract ? p.subarray(1) : p;
      const end = name.indexOf(0);
      const text = name.subarray(0, end < 0 ? name.length : end).toString('utf8');
      return abstract && text !== '' ? `@${text}` : text;
    };
    if (h.source.address !== path(expected.src.path) || h.destination.address !== path(expected.dst.path)) fail('our decoder reads other UNIX paths');
    return;
  }
  if (!sameIp(h.source.address, expected.src.ip) || !sameIp(h.destination.address, expected.dst.ip)) {
    fail(`our decoder reads ${h.source.address} -> ${h.destination.address}`);
  }
  if (h.source.port !== expected.src.port || h.destination.port !== expected.dst.port) fail('our decoder reads other ports');
}

function describeConnection(spec) {
  const show = (v) => (v === null || v === undefined ? v : typeof v === 'bigint' ? `${v}n` : typeof v === 'string' ? (v.length > 80 ? `${JSON.stringify(v.slice(0, 80))}... (${v.length})` : v) : v instanceof Uint8Array ? `bytes:${hex(v, 40)}` : v);
  return {
    source: show(spec.props.source),
    destination: show(spec.props.destination),
    sni: show(spec.props.sni),
    connectionId: show(spec.props.connectionId),
    properties: Object.fromEntries(Object.entries(spec.props.properties ?? {}).map(([k, v]) => [k, show(v)])),
    events: spec.events.map((e) => `${e.dir}:${e.bytes.length}${e.eos ? '+eos' : ''}`).join(' '),
  };
}

// ------------------------------------------------------------------ one case

/** Builds case `index` of run `seed` (deterministic). */
export function buildCase(seed, index, { kinds, hugeCounts } = {}) {
  const r = gen.rng(gen.caseSeed(seed, index));
  const cfg = gen.config(r, kinds, hugeCounts ? { counts: hugeCounts } : {});
  const connections = Array.from({ length: r.int(1, 4) }, () => ({
    props: gen.connectionProps(r),
    events: gen.events(r, gen.payload(r)),
    closeKind: r.chance(0.5) ? 'remote' : 'local',
  }));
  return { seed, index, config: cfg, connections };
}

const plugErrors = (logs) => logs.filter((e) => e.origin === 'plugin' && e.level >= 3);

/**
 * Runs one case against `wasm` (path, bytes or WebAssembly.Module). Returns
 * { accepted, connections, bytes } for the tallies; throws a Finding.
 */
export async function runCase(wasm, c) {
  const where = { seed: c.seed, case: c.index, kind: c.config.kind, config: preview(c.config.text) };
  const prediction = predictConfig(c.config.text);
  let plugin;
  try {
    plugin = await startPlugin({ wasm, configuration: c.config.text });
  } catch (error) {
    if (!(error instanceof PluginStartError)) throw new Finding(`startPlugin threw ${error.name}: ${error.message}`, where);
    const lines = plugErrors(error.logs);
    if (error.message.includes('failed:')) throw new Finding(`the VM trapped while configuring: ${error.message}`, where);
    if (prediction.ok) throw new Finding(`a valid configuration was refused: ${lines.map((e) => e.message).join(' | ')}`, where);
    if (lines.length !== 1) throw new Finding(`a refused configuration logged ${lines.length} error lines: ${JSON.stringify(lines.map((e) => e.message))}`, where);
    const line = lines[0].message;
    if (!/^ppv2-wasm: bad plugin configuration: \S/.test(line)) throw new Finding(`the refusal line does not say what is wrong: ${JSON.stringify(line)}`, where);
    const mustName = prediction.key === 'unknown key' ? (/^[\x20-\x7e]{1,40}$/.test(prediction.unknown) ? `unknown key ${JSON.stringify(prediction.unknown)}` : 'unknown key') : prediction.key;
    if (!line.includes(mustName)) throw new Finding(`the refusal line should name ${JSON.stringify(mustName)}: ${JSON.stringify(line)}`, where);
    return { accepted: false, connections: 0, bytes: 0 };
  }
  try {
    if (!prediction.ok) throw new Finding(`a configuration the oracle refuses (${prediction.key}) was accepted`, where);
    if (plugin.failed) throw new Finding(`trap while starting: ${plugin.failure}`, where);
    const counters = Object.fromEntries(COUNTERS.map((k) => [k, 0]));
    let bytes = 0;
    const outcomes = [];
    for (const spec of c.connections) {
      try {
        const r = runConnection(plugin, prediction.config, spec, counters);
        outcomes.push(r.outcome);
      } catch (error) {
        if (error instanceof Finding) throw new Finding(error.message, { ...where, ...error.details });
        throw new Finding(`the host threw ${error.name}: ${error.message}`, { ...where, connection: describeConnection(spec), stack: error.stack });
      }
      for (const e of spec.events) bytes += e.bytes.length;
    }
    plugin.tick();
    for (const name of COUNTERS) {
      const got = plugin.counter(`ppv2.${name}`);
      if (got !== counters[name]) throw new Finding(`counter ppv2.${name} is ${got}, expected ${counters[name]}`, where);
    }
    const noisy = plugErrors(plugin.logs);
    if (noisy.length > 0) throw new Finding(`the filter logged at warn or above: ${noisy[0].message}`, where);
    if (plugin.failed) throw new Finding(`trap: ${plugin.failure}`, where);
    return { accepted: true, connections: c.connections.length, bytes, outcomes };
  } finally {
    plugin.shutdown();
  }
}

function preview(text) {
  const s = typeof text === 'string' ? text : `bytes:${Buffer.from(text).toString('hex')}`;
  return s.length > 300 ? `${s.slice(0, 300)}... (${s.length} chars)` : s;
}

/**
 * Runs cases from `first` until `count` cases or `deadline` (ms since epoch).
 * Returns the tallies and every finding (deduplicated by message).
 */
export async function fuzz({ wasm, seed, count = Infinity, deadline = Infinity, first = 0, kinds, hugeCounts, onFinding, onProgress }) {
  const module = wasm instanceof WebAssembly.Module ? wasm : await WebAssembly.compile(typeof wasm === 'string' ? (await import('node:fs')).readFileSync(wasm) : wasm);
  const tally = { cases: 0, accepted: 0, refused: 0, connections: 0, bytes: 0, byKind: {}, outcomes: {} };
  const findings = new Map();
  for (let index = first; index < first + count && Date.now() < deadline; index++) {
    const c = buildCase(seed, index, { kinds, hugeCounts });
    tally.cases++;
    tally.byKind[c.config.kind] = (tally.byKind[c.config.kind] ?? 0) + 1;
    try {
      const r = await runCase(module, c);
      if (r.accepted) tally.accepted++;
      else tally.refused++;
      tally.connections += r.connections;
      tally.bytes += r.bytes;
      for (const o of r.outcomes ?? []) tally.outcomes[o] = (tally.outcomes[o] ?? 0) + 1;
    } catch (error) {
      if (!(error instanceof Finding)) throw error;
      const key = error.message.replace(/\d+/g, 'N');
      if (!findings.has(key)) {
        findings.set(key, error);
        onFinding?.(error);
      }
    }
    if (onProgress && tally.cases % 500 === 0) onProgress(tally);
  }
  return { tally, findings: [...findings.values()] };
}
