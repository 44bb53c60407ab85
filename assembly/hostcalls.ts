// Host calls wrapped and named for what they do. Nothing here throws. A value
// the host returns comes back from the call that read it, as a Bytes record, or
// null when there is none (the expected NotFound of a missing property, or any
// other status); it stays valid until releaseHostValues() (abi/memory.ts).

import {
  proxy_close_stream,
  proxy_define_metric,
  proxy_get_buffer_bytes,
  proxy_get_log_level,
  proxy_get_property,
  proxy_increment_metric,
  proxy_log,
  proxy_set_buffer_bytes,
  proxy_set_effective_context,
  proxy_set_tick_period_milliseconds,
} from "./abi/imports";
import { allocateHostValue } from "./abi/memory";
import { Bytes, lineLen, linePtr, lineStart, lineText } from "./bytes";

// proxy_status_t
export const STATUS_OK: u32 = 0;

// proxy_log_level_t
export const LOG_DEBUG: i32 = 1;
export const LOG_INFO: i32 = 2;
export const LOG_WARN: i32 = 3;
export const LOG_ERROR: i32 = 4;
export const LOG_CRITICAL: i32 = 5;

// proxy_buffer_type_t and proxy_stream_type_t
const BUFFER_DOWNSTREAM_DATA: u32 = 2;
const BUFFER_PLUGIN_CONFIGURATION: u32 = 7;
const STREAM_DOWNSTREAM: u32 = 2;

// proxy_metric_type_t
const METRIC_COUNTER: u32 = 0;

/** Where a host call that answers one number writes it. */
const answer = memory.data(sizeof<u32>(), 4);

/**
 * A record for the host to fill with a value's pointer and size; null when
 * there is no memory left for it (the value then counts as missing).
 */
function newValueRecord(): Bytes | null {
  const p = allocateHostValue(offsetof<Bytes>());
  if (p == 0) return null;
  const value = changetype<Bytes>(p);
  value.ptr = 0;
  value.length = 0;
  return value;
}

/** The value behind a filled record, or null when the call failed or the host returned nonsense. */
function valueOf(status: u32, value: Bytes): Bytes | null {
  if (status != STATUS_OK) return null;
  if (value.length < 0 || (value.ptr == 0 && value.length != 0)) return null;
  return value;
}

// ---- property paths ----------------------------------------------------------

/** Room for the bytes of every property path the filter names in its source. */
const PATHS_CAPACITY: usize = 256;
const paths = memory.data(<i32>PATHS_CAPACITY, 4);
let pathsUsed: usize = 0;

/**
 * A property path written as an ASCII string literal with its NUL separators,
 * such as "source\0address" (Envoy's getProperty splits a path at NULs:
 * context.cc), turned into bytes once, when the module starts: reading a
 * property per connection then converts nothing.
 */
export function propertyPath(segments: string): Bytes {
  const n = segments.length;
  const needed = offsetof<Bytes>() + <usize>n;
  if (pathsUsed + needed > PATHS_CAPACITY) unreachable(); // a source edit outgrew PATHS_CAPACITY
  const path = changetype<Bytes>(paths + pathsUsed);
  path.ptr = paths + pathsUsed + offsetof<Bytes>();
  path.length = n;
  for (let i = 0; i < n; i++) store<u8>(path.ptr + <usize>i, <u8>segments.charCodeAt(i));
  pathsUsed = (pathsUsed + needed + 3) & ~(<usize>3);
  return path;
}

// ---- calls -------------------------------------------------------------------

/** Reads an attribute by its NUL-separated path (Envoy context.cc getProperty). */
export function getProperty(pathPtr: usize, pathLength: i32): Bytes | null {
  const value = newValueRecord();
  if (value === null) return null;
  const where = changetype<usize>(value);
  const status = proxy_get_property(pathPtr, <usize>pathLength, where + offsetof<Bytes>("ptr"), where + offsetof<Bytes>("length"));
  return valueOf(status, value);
}

export function getPropertyAt(path: Bytes): Bytes | null {
  return getProperty(path.ptr, path.length);
}

/** The plugin configuration (Envoy `configuration`, Istio `pluginConfig`). */
export function getPluginConfiguration(size: i32): Bytes | null {
  return getBufferBytes(BUFFER_PLUGIN_CONFIGURATION, size);
}

/** The first `max` bytes of the client's data, without consuming them. */
export function peekDownstreamData(max: i32): Bytes | null {
  return getBufferBytes(BUFFER_DOWNSTREAM_DATA, max);
}

function getBufferBytes(buffer: u32, max: i32): Bytes | null {
  const value = newValueRecord();
  if (value === null) return null;
  const where = changetype<usize>(value);
  const status = proxy_get_buffer_bytes(buffer, 0, <usize>max, where + offsetof<Bytes>("ptr"), where + offsetof<Bytes>("length"));
  return valueOf(status, value);
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
  return proxy_set_buffer_bytes(BUFFER_DOWNSTREAM_DATA, 0, <usize>size, answer, 0);
}

/**
 * Envoy defers this until the callback returns, then closes the downstream
 * connection with FlushWrite (context.cc closeStream).
 */
export function closeDownstream(): u32 {
  return proxy_close_stream(STREAM_DOWNSTREAM);
}

/** Makes the next host calls act on stream `contextId` (from a root context's tick). */
export function setEffectiveContext(contextId: u32): u32 {
  return proxy_set_effective_context(contextId);
}

/** Logs the line buffer (bytes.ts) at `level`. */
export function logLine(level: i32): void {
  proxy_log(<u32>level, linePtr(), <usize>lineLen());
}

/** The level in force, or LOG_INFO if the host will not say. */
export function hostLogLevel(): i32 {
  store<u32>(answer, LOG_INFO);
  if (proxy_get_log_level(answer) != STATUS_OK) return LOG_INFO;
  return <i32>load<u32>(answer);
}

export function setTickPeriod(ms: u32): u32 {
  return proxy_set_tick_period_milliseconds(ms);
}

/** Defines a counter; its id, or -1 on failure. The name goes through the line buffer. */
export function defineCounter(name: string): i64 {
  lineStart();
  lineText(name);
  store<u32>(answer, 0);
  if (proxy_define_metric(METRIC_COUNTER, linePtr(), <usize>lineLen(), answer) != STATUS_OK) return -1;
  return <i64>load<u32>(answer);
}

export function incrementCounter(id: u32, delta: i64): u32 {
  return proxy_increment_metric(id, delta);
}
