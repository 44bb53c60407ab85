// An Envoy-faithful Proxy-Wasm host for network filters, in the spirit of the Go SDK's
// `proxytest`: start a plugin, open connections, feed bytes both ways, read logs and metrics.
//
//   const plugin = await startPlugin({ wasm: 'build/ppv2.wasm', configuration: '{}' });
//   const conn = plugin.newConnection({ source: '1.2.3.4:5678', destination: '5.6.7.8:80' });
//   const { forwarded, status, closed } = conn.downstreamData(bytes, false); // toward the upstream
//   conn.upstreamData(reply, false);                                         // toward the client
//   conn.close('remote');
//   plugin.counter('ppv2.headers_written'); plugin.logs; plugin.stats.total;
//   plugin.shutdown();
//
// How it differs from Envoy: docs/host.md.

export { startPlugin, Plugin, PluginStartError } from './plugin.js';
export type { PluginOptions, RootOptions, LogEntry, FailurePolicy } from './plugin.js';
export { Connection } from './connection.js';
export type { ConnectionProps, ConnectionSink, DataResult } from './connection.js';
export type { MetricSnapshot } from './metrics.js';
export { HostCallStats } from './stats.js';
export { HostFaults } from './faults.js';
export type { HostCallFault, CallbackFault } from './faults.js';
export { envoyAddress } from './properties.js';
export type { PropertyValue } from './properties.js';
export { FilterStatus, WasmResult, LogLevel, BufferType, StreamType, PeerType, MetricType } from './abi.js';
export type { LogLevelName, MetricTypeName } from './abi.js';
