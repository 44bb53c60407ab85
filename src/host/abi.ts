// Proxy-Wasm ABI v0.2.1 constants, with the values Envoy uses.
// Spec: proxy-wasm/spec abi-versions/v0.2.1/README.md ("Types").
// Host side: proxy-wasm/proxy-wasm-cpp-host include/proxy-wasm/exports.h and src/wasm.cc.

/** proxy_status_t: what every host call returns. */
export const WasmResult = {
  Ok: 0,
  NotFound: 1,
  BadArgument: 2,
  SerializationFailure: 3,
  ParseFailure: 4,
  InvalidMemoryAccess: 6,
  Empty: 7,
  CasMismatch: 8,
  InternalFailure: 10,
  Unimplemented: 12,
} as const;
export type WasmResult = (typeof WasmResult)[keyof typeof WasmResult];

/** proxy_buffer_type_t. MAX is CallData (8): a larger id is BadArgument (cpp-host src/exports.cc). */
export const BufferType = {
  HttpRequestBody: 0,
  HttpResponseBody: 1,
  DownstreamData: 2,
  UpstreamData: 3,
  HttpCallResponseBody: 4,
  GrpcReceiveBuffer: 5,
  VmConfiguration: 6,
  PluginConfiguration: 7,
  CallData: 8,
} as const;
export const BUFFER_TYPE_MAX = 8;

/** proxy_stream_type_t. A larger id is BadArgument (cpp-host src/exports.cc continue_stream/close_stream). */
export const StreamType = { HttpRequest: 0, HttpResponse: 1, Downstream: 2, Upstream: 3 } as const;
export const STREAM_TYPE_MAX = 3;

/** proxy_peer_type_t, the argument of proxy_on_*_connection_close. */
export const PeerType = { Unknown: 0, Local: 1, Remote: 2 } as const;

/** proxy_map_type_t. A larger id is BadArgument (cpp-host src/exports.cc). */
export const HEADER_MAP_TYPE_MAX = 7;

/** proxy_log_level_t; Envoy also reports 6 (off) from proxy_get_log_level when its logger is off. */
export const LogLevel = { trace: 0, debug: 1, info: 2, warn: 3, error: 4, critical: 5, off: 6 } as const;
export type LogLevelName = keyof typeof LogLevel;
export const LOG_LEVEL_NAMES: readonly LogLevelName[] = ['trace', 'debug', 'info', 'warn', 'error', 'critical', 'off'];
/** proxy_log with a level above critical is BadArgument (cpp-host src/exports.cc log). */
export const LOG_LEVEL_MAX = 5;

/** proxy_metric_type_t. */
export const MetricType = { Counter: 0, Gauge: 1, Histogram: 2 } as const;
export type MetricTypeName = 'counter' | 'gauge' | 'histogram';
export const METRIC_TYPE_NAMES: readonly MetricTypeName[] = ['counter', 'gauge', 'histogram'];

/** Envoy's Network::FilterStatus as a data callback's result reaches the filter manager. */
export const FilterStatus = { Continue: 0, StopIteration: 1 } as const;
export type FilterStatus = (typeof FilterStatus)[keyof typeof FilterStatus];

/** The ABI markers cpp-host recognises (src/bytecode_util.cc getAbiVersion): the first one exported wins. */
export const ABI_MARKERS = [
  'proxy_abi_version_0_1_0',
  'proxy_abi_version_0_2_0',
  'proxy_abi_version_0_2_1',
  'proxy_abi_version_0_3_0',
] as const;

type Sig = string; // "params->results", each a string of i/I letters: i = i32, I = i64

/**
 * Every function Envoy registers under `env` for ABI 0.2.x, with its Wasm signature
 * (cpp-host src/wasm.cc registerCallbacks: FOR_ALL_HOST_FUNCTIONS, then continue_stream and
 * close_stream for 0.2.0 and 0.2.1, and get_log_level for 0.2.1 only; the two Emscripten helpers
 * are registered for every ABI). All arguments are 32-bit words except the i64 metric values.
 */
export const HOST_FUNCTIONS: Readonly<Record<string, Sig>> = {
  proxy_log: 'iii->i',
  proxy_get_status: 'iii->i',
  proxy_set_property: 'iiii->i',
  proxy_get_property: 'iiii->i',
  proxy_send_local_response: 'iiiiiiii->i',
  proxy_get_shared_data: 'iiiii->i',
  proxy_set_shared_data: 'iiiii->i',
  proxy_register_shared_queue: 'iii->i',
  proxy_resolve_shared_queue: 'iiiii->i',
  proxy_dequeue_shared_queue: 'iii->i',
  proxy_enqueue_shared_queue: 'iii->i',
  proxy_get_header_map_value: 'iiiii->i',
  proxy_add_header_map_value: 'iiiii->i',
  proxy_replace_header_map_value: 'iiiii->i',
  proxy_remove_header_map_value: 'iii->i',
  proxy_get_header_map_pairs: 'iii->i',
  proxy_set_header_map_pairs: 'iii->i',
  proxy_get_header_map_size: 'ii->i',
  proxy_get_buffer_status: 'iii->i',
  proxy_get_buffer_bytes: 'iiiii->i',
  proxy_set_buffer_bytes: 'iiiii->i',
  proxy_http_call: 'iiiiiiiiii->i',
  proxy_grpc_call: 'iiiiiiiiiiii->i',
  proxy_grpc_stream: 'iiiiiiiii->i',
  proxy_grpc_close: 'i->i',
  proxy_grpc_cancel: 'i->i',
  proxy_grpc_send: 'iiii->i',
  proxy_set_tick_period_milliseconds: 'i->i',
  proxy_get_current_time_nanoseconds: 'i->i',
  proxy_define_metric: 'iiii->i',
  proxy_increment_metric: 'iI->i',
  proxy_record_metric: 'iI->i',
  proxy_get_metric: 'ii->i',
  proxy_set_effective_context: 'i->i',
  proxy_done: '->i',
  proxy_call_foreign_function: 'iiiiii->i',
  proxy_continue_stream: 'i->i',
  proxy_close_stream: 'i->i',
  proxy_get_log_level: 'i->i',
  emscripten_notify_memory_growth: 'i->',
  pthread_equal: 'ii->i',
};

/** Host functions that ABI 0.2.0 lacks (cpp-host src/wasm.cc registerCallbacks). */
export const ONLY_IN_0_2_1: ReadonlySet<string> = new Set(['proxy_get_log_level']);

/**
 * Module exports Envoy looks up, with the signature it requires; a wrong signature refuses the
 * module ("Bad function signature for: ...", cpp-host src/v8/v8.cc getModuleFunctionImpl).
 * WasmCallWord<N> is N i32 -> i32, WasmCallVoid<N> is N i32 -> nothing (include/proxy-wasm/wasm.h).
 */
export const MODULE_FUNCTIONS: Readonly<Record<string, Sig>> = {
  _initialize: '->',
  _start: '->',
  main: 'ii->i',
  malloc: 'i->i',
  proxy_on_memory_allocate: 'i->i',
  proxy_validate_configuration: 'ii->i',
  proxy_on_vm_start: 'ii->i',
  proxy_on_configure: 'ii->i',
  proxy_on_tick: 'i->',
  proxy_on_context_create: 'ii->',
  proxy_on_new_connection: 'i->i',
  proxy_on_downstream_data: 'iii->i',
  proxy_on_upstream_data: 'iii->i',
  proxy_on_downstream_connection_close: 'ii->',
  proxy_on_upstream_connection_close: 'ii->',
  proxy_on_request_headers: 'iii->i',
  proxy_on_request_body: 'iii->i',
  proxy_on_request_trailers: 'ii->i',
  proxy_on_request_metadata: 'ii->i',
  proxy_on_response_headers: 'iii->i',
  proxy_on_response_body: 'iii->i',
  proxy_on_response_trailers: 'ii->i',
  proxy_on_response_metadata: 'ii->i',
  proxy_on_http_call_response: 'iiiii->',
  proxy_on_grpc_receive: 'iii->',
  proxy_on_grpc_close: 'iii->',
  proxy_on_grpc_receive_initial_metadata: 'iii->',
  proxy_on_grpc_receive_trailing_metadata: 'iii->',
  proxy_on_queue_ready: 'ii->',
  proxy_on_foreign_function: 'iii->',
  proxy_on_done: 'i->i',
  proxy_on_log: 'i->',
  proxy_on_delete: 'i->',
};

/** Renders "iI->i" the way Envoy prints signatures: "i32 i64 -> i32", "void" when empty. */
export function printSignature(sig: Sig): string {
  const [params = '', results = ''] = sig.split('->');
  const names = (s: string): string =>
    s.length === 0 ? 'void' : [...s].map((c) => (c === 'I' ? 'i64' : 'i32')).join(' ');
  return `${names(params)} -> ${names(results)}`;
}
