// Small builders for the Envoy bootstraps the differential suites run: one
// Envoy process carries every listener a suite needs (one per case shape), so
// the suite pays Envoy's start-up once. The result is JSON, which Envoy reads
// as YAML; field names are those of Envoy's v3 API
// (api/envoy/config/listener/v3/listener.proto, cluster/v3/cluster.proto,
// extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto,
// extensions/transport_sockets/proxy_protocol/v3/upstream_proxy_protocol.proto,
// config/core/v3/proxy_protocol.proto).

const WASM = 'type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm';
const TCP_PROXY = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
const RAW_BUFFER = {
  name: 'envoy.transport_sockets.raw_buffer',
  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer' },
};

/** The Wasm network filter running `wasmPath` with the plugin configuration `configuration` (JSON text). */
export function wasmFilter(wasmPath, configuration) {
  return {
    name: 'envoy.filters.network.wasm',
    typed_config: {
      '@type': WASM,
      config: {
        name: 'ppv2',
        // One VM for every listener: the same vm_config shares it, each
        // configuration gets its own root context (as in envoy/envoy.yaml).
        vm_config: { vm_id: 'ppv2', runtime: 'envoy.wasm.runtime.v8', code: { local: { filename: wasmPath } } },
        configuration: { '@type': 'type.googleapis.com/google.protobuf.StringValue', value: configuration },
      },
    },
  };
}

/** The terminal tcp_proxy toward `cluster`; `tlvs` is its `proxy_protocol_tlvs` list. */
export function tcpProxy(statPrefix, cluster, tlvs) {
  return {
    name: 'envoy.filters.network.tcp_proxy',
    typed_config: { '@type': TCP_PROXY, stat_prefix: statPrefix, cluster, ...(tlvs ? { proxy_protocol_tlvs: tlvs } : {}) },
  };
}

/** A TlvEntry with a static value, text or bytes (Envoy's JSON form of bytes is base64). */
export function staticTlv(type, value) {
  return { type, value: Buffer.from(value).toString('base64') };
}

/** A TlvEntry whose value is an access-log format string (SubstitutionFormatString). */
export function formatTlv(type, format, { omitEmptyValues = false } = {}) {
  return { type, format_string: { text_format_source: { inline_string: format }, ...(omitEmptyValues ? { omit_empty_values: true } : {}) } };
}

/**
 * A listener on `address` (an IP, or { pipe: path }) with port 0 (read back
 * from the admin API), running `filters`. `ipv4Compat` makes a [::] listener
 * dual-stack; `listenerFilters` go before the network filters.
 */
export function listener(name, address, filters, { ipv4Compat = false, listenerFilters } = {}) {
  const socketAddress = typeof address === 'string'
    ? { socket_address: { address, port_value: 0, ...(ipv4Compat ? { ipv4_compat: true } : {}) } }
    : { pipe: { path: address.pipe } };
  return {
    name,
    address: socketAddress,
    ...(listenerFilters ? { listener_filters: listenerFilters } : {}),
    filter_chains: [{ filters }],
  };
}

const INTERNAL_UPSTREAM = {
  name: 'envoy.transport_sockets.internal_upstream',
  typed_config: {
    '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.internal_upstream.v3.InternalUpstreamTransport',
    transport_socket: RAW_BUFFER,
  },
};

/**
 * A STATIC cluster with one endpoint: { host, port }, or with `internal` the
 * name of an internal listener. `proxyProtocol` wraps the transport socket in
 * Envoy's native upstream_proxy_protocol with that ProxyProtocolConfig.
 * `healthCheck` adds a TCP health check that sends "ping" and waits for
 * "pong": a connect-only check closes before the transport socket has
 * written its header.
 */
export function cluster(name, endpoint, { proxyProtocol, healthCheck = false, internal = false, connectTimeoutMs = 1000 } = {}) {
  const address = internal
    ? { envoy_internal_address: { server_listener_name: endpoint } }
    : { socket_address: { address: endpoint.host, port_value: endpoint.port } };
  const inner = internal ? INTERNAL_UPSTREAM : RAW_BUFFER;
  return {
    name,
    type: 'STATIC',
    connect_timeout: `${connectTimeoutMs / 1000}s`,
    transport_socket: proxyProtocol
      ? {
          name: 'envoy.transport_sockets.upstream_proxy_protocol',
          typed_config: {
            '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.proxy_protocol.v3.ProxyProtocolUpstreamTransport',
            config: proxyProtocol,
            transport_socket: inner,
          },
        }
      : inner,
    ...(healthCheck
      ? { health_checks: [{ timeout: '2s', interval: '60s', unhealthy_threshold: 1, healthy_threshold: 1, tcp_health_check: { send: { text: '70696e67' }, receive: [{ text: '706f6e67' }] } }] }
      : {}),
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address } }] }] },
  };
}

/** An Envoy internal listener (reached through a cluster with an envoy_internal_address). */
export function internalListener(name, filters) {
  return { name, internal_listener: {}, filter_chains: [{ filters }] };
}

/** The bootstrap, as JSON text, with an admin port of 0 and the internal-listener extension when used. */
export function bootstrap({ listeners, clusters }) {
  const usesInternal = listeners.some((l) => l.internal_listener !== undefined);
  return JSON.stringify({
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    ...(usesInternal
      ? {
          bootstrap_extensions: [{
            name: 'envoy.bootstrap.internal_listener',
            typed_config: { '@type': 'type.googleapis.com/envoy.extensions.bootstrap.internal_listener.v3.InternalListener' },
          }],
        }
      : {}),
    static_resources: { listeners, clusters },
  }, null, 1);
}
