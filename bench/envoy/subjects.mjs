// The subjects: one Envoy process each (same binary, `--concurrency 1`, pinned to Envoy's core),
// a listener on loopback whose tcp_proxy forwards to nginx. They differ only in how, or
// whether, the PROXY header is written, so every difference between them is that.
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { fixture, watToWasm } from '../../tests/fixtures/wat.mjs';
import { HOST } from './http.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const RELEASE_WASM = join(ROOT, 'build', 'ppv2.wasm');
const FLOOR_WAT = join(ROOT, 'bench', 'fixtures', 'floor-proxy.wat');

// A PP2_TYPE_CUSTOM TLV as AWS writes it (0xEA, subtype 0x01 then a VPC endpoint id): the one
// static TLV of (c) and (e), the same bytes in both.
const CUSTOM_TLV_TYPE = 0xea;
const CUSTOM_TLV_HEX = '01767063652d3031323334353637383961626364656630';
// The cluster is named like a service, and (e) sends that name as its AUTHORITY: on plain TCP
// there is no SNI, and a value read per connection (one host call) is what (e) is meant to cost.
const CLUSTER = 'backend.example';

const hex = (text) => Buffer.from(text).toString('hex');

/**
 * The six subjects of the bench, plus a second (b) whose distance from (b) is the noise floor.
 * - `native`: Envoy's upstream_proxy_protocol transport socket writes the header;
 * - `module`: the Wasm network filter runs this module ('release': build/ppv2.wasm, with
 *   `configuration`; 'noop': tests/fixtures/noop.wat);
 * - `tlvs`: present when a header is sent, and what the guard expects in it: [type, value as
 *   hex or a pattern], in order (the decoder itself checks a CRC32C TLV's value).
 */
export const SUBJECTS = [
  { id: 'a', what: 'tcp_proxy only, no PROXY header (the ceiling)' },
  { id: 'b', what: 'native upstream_proxy_protocol transport socket, v2 (the floor for PROXY in Envoy)', native: true, tlvs: [] },
  { id: "b'", what: 'a second, identical (b): its distance from (b) is the noise floor', native: true, tlvs: [] },
  {
    id: 'c',
    what: `native v2 with added_tlvs: AUTHORITY "${CLUSTER}" and a static 0xEA TLV (23 bytes)`,
    native: true,
    addedTlvs: true,
    tlvs: [[0x02, hex(CLUSTER)], [CUSTOM_TLV_TYPE, CUSTOM_TLV_HEX]],
  },
  { id: 'd', what: 'this filter (build/ppv2.wasm), v2, no TLVs', module: 'release', configuration: { version: 2 }, tlvs: [] },
  {
    id: 'e',
    what: 'this filter with AUTHORITY (the cluster name, read per connection), UNIQUE_ID (the connection id), the same static 0xEA TLV, and CRC32C',
    module: 'release',
    configuration: {
      version: 2,
      crc32c: true,
      tlvs: [
        { type: 'authority', property: 'xds.cluster_name' },
        { type: 'unique_id', from: 'connection_id' },
        { type: CUSTOM_TLV_TYPE, hex: CUSTOM_TLV_HEX },
      ],
    },
    // The connection id in decimal ASCII digits (0x30-0x39).
    tlvs: [[0x02, hex(CLUSTER)], [0x05, /^(3[0-9])+$/], [CUSTOM_TLV_TYPE, CUSTOM_TLV_HEX], [0x03, /^[0-9a-f]{8}$/]],
  },
  { id: 'f', what: 'the no-op module (tests/fixtures/noop.wat) in the same Wasm filter slot: what the Wasm VM costs Envoy', module: 'noop' },
];

/**
 * In the connection rounds and the profile only: a module that makes exactly the host calls
 * every PPv2 filter must make (two property reads, one prepend) and prepends a constant header,
 * with no parsing and no encoding. (floor) against (f) is what Envoy charges for those calls,
 * (d) against (floor) what the module's own logic adds.
 */
export const FLOOR = {
  id: 'floor',
  what: 'bench/fixtures/floor-proxy.wat in the same slot, in the connection rounds only: exactly the host calls every PPv2 filter makes (two property reads, one prepend) and a constant header, no parsing or encoding',
  module: 'floor',
  tlvs: [],
  // The header floor-proxy.wat prepends, whatever the connection.
  addresses: { source: { address: '1.2.3.4', port: 5678 }, destination: { address: '5.6.7.8', port: 80 } },
};

/** The network filters of a subject: a Wasm filter when it runs a module, then the terminal tcp_proxy. */
function filters(subject, files) {
  const chain = [];
  if (subject.module !== undefined) {
    chain.push({
      name: 'envoy.filters.network.wasm',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm',
        config: {
          name: 'ppv2',
          vm_config: { vm_id: 'ppv2', runtime: 'envoy.wasm.runtime.v8', code: { local: { filename: files[subject.module] } } },
          configuration: {
            '@type': 'type.googleapis.com/google.protobuf.StringValue',
            value: subject.configuration === undefined ? '' : JSON.stringify(subject.configuration),
          },
        },
      },
    });
  }
  chain.push({
    name: 'envoy.filters.network.tcp_proxy',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
      stat_prefix: 'subject',
      cluster: CLUSTER,
    },
  });
  return chain;
}

/** Envoy's own PROXY v2 writer, around the plain (raw_buffer) socket. */
function proxyProtocolSocket(subject) {
  const config = { version: 'V2' };
  if (subject.addedTlvs) {
    // TlvEntry.value is bytes (base64 in YAML); api/envoy/config/core/v3/proxy_protocol.proto.
    config.added_tlvs = [
      { type: 0x02, value: Buffer.from(CLUSTER).toString('base64') },
      { type: CUSTOM_TLV_TYPE, value: Buffer.from(CUSTOM_TLV_HEX, 'hex').toString('base64') },
    ];
  }
  return {
    name: 'envoy.transport_sockets.upstream_proxy_protocol',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.proxy_protocol.v3.ProxyProtocolUpstreamTransport',
      config,
      transport_socket: {
        name: 'envoy.transport_sockets.raw_buffer',
        typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer' },
      },
    },
  };
}

/**
 * A subject's bootstrap YAML, forwarding to nginx's PROXY listener when the subject sends a
 * header and to its plain one otherwise. Ports are 0: the launcher reads back what was bound.
 */
export function bootstrap(subject, { backend, files }) {
  const upstreamPort = subject.tlvs === undefined ? backend.plainPort : backend.proxyPort;
  const cluster = {
    name: CLUSTER,
    type: 'STATIC',
    connect_timeout: '5s',
    // The defaults (1024 connections) would refuse the idle-connection figure's connections.
    circuit_breakers: { thresholds: [{ max_connections: 1_000_000, max_pending_requests: 1_000_000, max_requests: 1_000_000 }] },
    load_assignment: {
      cluster_name: CLUSTER,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: HOST, port_value: upstreamPort } } } }] }],
    },
  };
  if (subject.native) cluster.transport_socket = proxyProtocolSocket(subject);
  return stringify({
    admin: { address: { socket_address: { address: HOST, port_value: 0 } } },
    static_resources: {
      listeners: [{
        name: 'subject',
        stat_prefix: 'subject',
        address: { socket_address: { address: HOST, port_value: 0 } },
        filter_chains: [{ filters: filters(subject, files) }],
      }],
      clusters: [cluster],
    },
  });
}

/**
 * Files the subjects need: the modules (the release build, the compiled no-op and floor
 * fixtures), and a two-line wrapper that runs Envoy as `taskset -c <core> envoy --concurrency 1`.
 * The launcher takes the binary from PPV2_ENVOY and adds no arguments of its own choosing, so
 * the wrapper (which `exec`s, keeping the pid the launcher reports) is how Envoy gets its core
 * and one worker.
 */
export function prepareFiles({ envoy, envoyCore }) {
  let release;
  try {
    release = readFileSync(RELEASE_WASM);
  } catch (error) {
    throw new Error(`cannot read ${RELEASE_WASM} (${error.code ?? error.message}); build it with: npm run build`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'ppv2-bench-envoy-'));
  const files = { release: join(dir, 'ppv2.wasm'), noop: join(dir, 'noop.wasm'), floor: join(dir, 'floor.wasm'), envoyWrapper: join(dir, 'envoy') };
  writeFileSync(files.release, release);
  writeFileSync(files.noop, fixture('noop'));
  writeFileSync(files.floor, watToWasm(readFileSync(FLOOR_WAT, 'utf8'), 'floor-proxy.wat'));
  const quote = (s) => `'${s.replaceAll("'", `'\\''`)}'`;
  const pin = envoyCore === null ? '' : `taskset -c ${envoyCore} `;
  writeFileSync(files.envoyWrapper, `#!/bin/sh\nexec ${pin}${quote(envoy)} --concurrency 1 "$@"\n`);
  chmodSync(files.envoyWrapper, 0o755);
  return { ...files, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Starts one subject through the project's launcher (src/deploy/envoy-launcher.ts) and returns
 * what the bench reads from it: the listener port, the pid for /proc, and admin figures.
 */
export async function startSubject(subject, { backend, files, startEnvoy }) {
  const envoy = await startEnvoy({
    bootstrap: bootstrap(subject, { backend, files }),
    cwd: ROOT,
    env: { ...process.env, PPV2_ENVOY: files.envoyWrapper },
    logLevel: 'error',
  });
  const port = envoy.listenerPorts.subject;
  if (port === undefined) {
    await envoy.stop();
    throw new Error(`(${subject.id}): Envoy is ready but reports no listener`);
  }
  const stat = async (name) => {
    const value = (await envoy.stats(name))[`listener.subject.${name}`];
    if (value === undefined) throw new Error(`(${subject.id}): Envoy has no stat listener.subject.${name}`);
    return value;
  };
  return {
    ...subject,
    pid: envoy.pid,
    port,
    stats: (filter) => envoy.stats(filter),
    acceptedConnections: () => stat('downstream_cx_total'),
    activeConnections: () => stat('downstream_cx_active'),
    /** tcmalloc's figures from the admin /memory endpoint (bytes, as numbers). */
    async memory() {
      const res = await fetch(`http://${envoy.adminAddress}/memory`);
      return Object.fromEntries(Object.entries(await res.json()).map(([k, v]) => [k, Number(v)]));
    },
    stop: () => envoy.stop(),
  };
}
