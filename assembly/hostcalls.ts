// Host calls wrapped and named for what they do. Every wrapper returns the
// proxy_status_t and never throws; the expected NotFound of a missing property
// is a status, not an error. Values the host returns are valid until the next
// wrapper call (see abi/memory.ts).

import {
  proxy_close_stream,
  proxy_define_metric,
  proxy_get_buffer_bytes,
  proxy_get_log_level,
  proxy_get_property,
  proxy_increment_metric,
  proxy_log,
  proxy_set_buffer_bytes,
  proxy_set_tick_period_milliseconds,
} from "./abi/imports";
import { releaseHostValues } from "./abi/memory";
import { Text, lineLen, linePtr, textBytes, textLength } from "./bytes";

// proxy_status_t
export const STATUS_OK: u32 = 0;
export const STATUS_NOT_FOUND: u32 = 1;

// proxy_log_level_t
export const LOG_TRACE: i32 = 0;
export const LOG_DEBUG: i32 = 1;
export const LOG_INFO: i32 = 2;
export const LOG_WARN: i32 = 3;
export const LOG_ERROR: i32 = 4;
export const LOG_CRITICAL: i32 = 5;

// proxy_buffer_type_t and proxy_stream_type_t
const BUFFER_DOWNSTREAM_DATA: u32 = 2;
const BUFFER_PLUGIN_CONFIGURATION: u32 = 7;
const STREAM_DOWNSTREAM: u32 = 2;

const METRIC_COUNTER: u32 = 0;

const slots = memory.data(8, 4);

/** The value returned by the last successful getProperty/get*Bytes call. */
export let valuePtr: usize = 0;
export let valueLen: i32 = 0;

function takeValue(status: u32): u32 {
  valuePtr = 0;
  valueLen = 0;
  if (status != STATUS_OK) return status;
  const p = <usize>load<u32>(slots);
  const n = <i32>load<u32>(slots, 4);
  // A well-behaved host never returns these; treat them as "no value".
  if (n < 0 || (p == 0 && n != 0)) return STATUS_NOT_FOUND;
  valuePtr = p;
  valueLen = n;
  return STATUS_OK;
}

/** Reads an attribute by its NUL-separated path (Envoy context.cc getProperty). */
export function getProperty(pathPtr: usize, pathLen: i32): u32 {
  releaseHostValues();
  store<u64>(slots, 0);
  return takeValue(proxy_get_property(pathPtr, <usize>pathLen, slots, slots + 4));
}

/**
 * getProperty for a static path written with its NUL separators, such as
 * utf8("source\0address"): passed to the host as it is. (Turning a dotted name
 * into that form byte by byte before every read was a third of the module's
 * own per-connection time; bench/, section 1.)
 */
export function getPropertyPath(path: Text): u32 {
  return getProperty(textBytes(path), textLength(path));
}

/** The plugin configuration (Envoy `configuration`, Istio `pluginConfig`). */
export function getPluginConfiguration(size: i32): u32 {
  releaseHostValues();
  store<u64>(slots, 0);
  return takeValue(proxy_get_buffer_bytes(BUFFER_PLUGIN_CONFIGURATION, 0, <usize>size, slots, slots + 4));
}

/** The first `max` bytes of the client's data, without consuming them. */
export function peekDownstreamData(max: i32): u32 {
  releaseHostValues();
  store<u64>(slots, 0);
  return takeValue(proxy_get_buffer_bytes(BUFFER_DOWNSTREAM_DATA, 0, <usize>max, slots, slots + 4));
}

/** set_buffer_bytes(start 0, length 0) prepends (Envoy context.cc Buffer::copyFrom). */
export function prependDownstreamData(ptr: usize, len: i32): u32 {
  return proxy_set_buffer_bytes(BUFFER_DOWNSTREAM_DATA, 0, 0, ptr, <usize>len);
}

/**
 * set_buffer_bytes(start 0, length >= buffer length) drains the whole buffer and
 * adds the (empty) value, so nothing is forwarded (Buffer::copyFrom).
 */
export function drainDownstreamData(size: i32): u32 {
  return proxy_set_buffer_bytes(BUFFER_DOWNSTREAM_DATA, 0, <usize>size, slots, 0);
}

/**
 * Envoy defers this until the callback returns, then closes the downstream
 * connection with FlushWrite (context.cc closeStream).
 */
export function closeDownstream(): u32 {
  return proxy_close_stream(STREAM_DOWNSTREAM);
}

/** Logs the line buffer (bytes.ts) at `level`. */
export function logLine(level: i32): void {
  proxy_log(<u32>level, linePtr(), <usize>lineLen());
}

/** The level in force, or LOG_INFO if the host will not say. */
export function hostLogLevel(): i32 {
  store<u32>(slots, LOG_INFO);
  if (proxy_get_log_level(slots) != STATUS_OK) return LOG_INFO;
  return <i32>load<u32>(slots);
}

export function setTickPeriod(ms: u32): u32 {
  return proxy_set_tick_period_milliseconds(ms);
}

/** Defines a counter; its id, or -1 on failure. */
export function defineCounter(name: Text): i64 {
  store<u32>(slots, 0);
  if (proxy_define_metric(METRIC_COUNTER, textBytes(name), <usize>textLength(name), slots) != STATUS_OK) return -1;
  return <i64>load<u32>(slots);
}

export function incrementCounter(id: u32, delta: i64): u32 {
  return proxy_increment_metric(id, delta);
}
