// Per-connection decisions. A connection is known to the filter only while it
// needs something:
//   - pending: created, and its header still owed (context id → root id);
//   - paused: in reject_client_proxy_header mode, waiting for enough bytes to
//     tell a client's own PROXY signature (→ the root's tick count when it paused);
//   - closed: closed by the filter, until Envoy deletes it (→ 1), so that any
//     later chunk is drained too.
// Once its header is written a connection is in none of them: it costs no
// memory, and every later callback returns Continue without a host call.
//
// Fail closed: no client byte reaches the upstream unless our header went
// first. Whenever the header cannot be written (the root has no valid
// configuration, the prepend fails, a callback comes for a context that was
// never created) the filter drains the data, closes the connection, counts it
// in ppv2.closed_on_error and logs one line; and whenever it closes a
// connection it also returns StopIteration, so that even a host that fails both
// the drain and the close forwards nothing.

import { FAM_UNSPEC } from "./address";
import { ContextMap } from "./ctxmap";
import { Config } from "./config";
import { Header, buildHeader, headerBytes } from "./header";
import {
  LOG_DEBUG,
  LOG_INFO,
  LOG_WARN,
  STATUS_OK,
  closeDownstream,
  drainDownstreamData,
  hostLogLevel,
  logLine,
  peekDownstreamData,
  prependDownstreamData,
  setEffectiveContext,
} from "./hostcalls";
import { hexDigit, lineByte, lineStart, lineText, lineTextU64, lineU64 } from "./bytes";
import { count, Counter } from "./metrics";
import { PP2_SIGNATURE, PP2_SIGNATURE_LENGTH } from "./ppv2";
import { rootConfig, rootTicks } from "./roots";

// proxy_action_t
export const ACTION_CONTINUE: i32 = 0;
const ACTION_PAUSE: i32 = 1;

/** The size argument for a close outside a data callback: there is no buffer to drain. */
const NO_DATA: i32 = -1;
/** closeOnError's status argument when no host call failed (the failure is ours to see). */
const NO_STATUS: i64 = -1;

const pending = changetype<ContextMap>(memory.data(offsetof<ContextMap>(), 4));
const paused = changetype<ContextMap>(memory.data(offsetof<ContextMap>(), 4));
const closed = changetype<ContextMap>(memory.data(offsetof<ContextMap>(), 4));
const CLOSED: u32 = 1;

/** The host's log level, refreshed on configure and on every tick. */
let logLevel: i32 = LOG_INFO;

export function refreshLogLevel(): void {
  logLevel = hostLogLevel();
}

function debugEnabled(): bool {
  return logLevel <= LOG_DEBUG;
}

/** Starts a log line about one connection: "ppv2-wasm: context <id>". */
function contextLine(contextId: u32): void {
  lineStart();
  lineTextU64("ppv2-wasm: context ", contextId);
}

// ---- the connection's life -------------------------------------------------

/** proxy_on_context_create for a stream: its header is owed from now on. */
export function onConnectionCreated(contextId: u32, rootId: u32): void {
  pending.put(contextId, rootId);
}

/**
 * proxy_on_new_connection: the connection must be one we know, of a root with
 * a configuration; otherwise it is closed before the upstream is even dialled
 * (StopIteration keeps tcp_proxy from starting).
 */
export function onNewConnection(contextId: u32): i32 {
  if (closed.has(contextId)) return ACTION_PAUSE;
  const rootId = pending.get(contextId);
  if (rootId == 0) {
    closeOnError(contextId, NO_DATA, "a new connection for a context that was never created", NO_STATUS);
    return ACTION_PAUSE;
  }
  if (rootConfig(rootId) === null) {
    closeOnError(contextId, NO_DATA, "its plugin has no valid configuration", NO_STATUS);
    return ACTION_PAUSE;
  }
  return ACTION_CONTINUE;
}

/** proxy_on_downstream_data. `size` is the bytes in Envoy's buffer so far. */
export function onDownstreamData(contextId: u32, size: i32, endOfStream: bool): i32 {
  const rootId = pending.get(contextId);
  if (rootId == 0) {
    if (!closed.has(contextId)) return ACTION_CONTINUE; // the header is written: the common case
    // A chunk after the filter closed the connection: only a host whose close
    // failed sends one. Drop it and try the close again.
    drainDownstreamData(size);
    closeDownstream();
    return ACTION_PAUSE;
  }
  const config = rootConfig(rootId);
  if (config === null) {
    closeOnError(contextId, size, "its plugin has no valid configuration", NO_STATUS);
    return ACTION_PAUSE;
  }
  if (config.rejectClientHeader) {
    const verdict = clientHeaderVerdict(size);
    if (verdict == ClientHeader.Prefix && !endOfStream) {
      if (!paused.has(contextId)) paused.put(contextId, rootTicks(rootId));
      return ACTION_PAUSE;
    }
    paused.remove(contextId);
    if (verdict == ClientHeader.Signature) {
      closeByPolicy(contextId, size, "client sent a PROXY header");
      return ACTION_PAUSE;
    }
  }
  return writeHeader(contextId, config, size);
}

/** proxy_on_delete of a stream context: forget it. */
export function onConnectionDeleted(contextId: u32): void {
  pending.remove(contextId);
  paused.remove(contextId);
  closed.remove(contextId);
}

// ---- the header --------------------------------------------------------------

const header = changetype<Header>(memory.data(offsetof<Header>(), 4));

function writeHeader(contextId: u32, config: Config, size: i32): i32 {
  buildHeader(config, header);
  if (header.fallback) count(Counter.LocalFallbacks, 1);
  if (header.omitted > 0) count(Counter.TlvsOmitted, <u64>header.omitted);
  if (header.length == 0) {
    closeByPolicy(contextId, size, header.family == FAM_UNSPEC ? "address unknown" : "PROXY v1 cannot express the addresses");
    return ACTION_PAUSE;
  }
  const status = prependDownstreamData(headerBytes, header.length);
  if (status != STATUS_OK) {
    closeOnError(contextId, size, "the prepend failed, status ", status);
    return ACTION_PAUSE;
  }
  pending.remove(contextId);
  count(Counter.HeadersWritten, 1);
  if (debugEnabled()) {
    contextLine(contextId);
    lineTextU64(": prepended ", <u64>header.length);
    lineTextU64(" bytes, PROXY v", <u64>config.version);
    lineText(" family 0x");
    lineByte(hexDigit(header.family >> 4));
    lineByte(hexDigit(header.family & 0xf));
    if (header.omitted > 0) {
      lineTextU64(", ", <u64>header.omitted);
      lineText(" TLV(s) left out");
    }
    logLine(LOG_DEBUG);
  }
  return ACTION_CONTINUE;
}

// ---- closing -------------------------------------------------------------------

/**
 * Drains the client's data (unless `size` is NO_DATA) so that no byte reaches
 * the upstream, asks Envoy to close, and remembers the connection as closed.
 * Envoy runs the close after this callback returns (context.cc closeStream →
 * connection().close(FlushWrite)); FilterManagerImpl::onContinueReading stops
 * the filter chain once the connection is no longer Open, and the filter's
 * StopIteration stops it anyway. Returns the close's status.
 */
function close(contextId: u32, size: i32): u32 {
  if (size != NO_DATA) drainDownstreamData(size);
  const status = closeDownstream();
  pending.remove(contextId);
  paused.remove(contextId);
  closed.put(contextId, CLOSED);
  return status;
}

/** Closes a connection the configuration says must not go on (counted in ppv2.closed_by_policy). */
function closeByPolicy(contextId: u32, size: i32, why: string): void {
  const status = close(contextId, size);
  count(Counter.ClosedByPolicy, 1);
  if (status != STATUS_OK) {
    count(Counter.ClosedOnError, 1);
    contextLine(contextId);
    lineText(": closed by policy (");
    lineText(why);
    lineTextU64("), but the close failed, status ", status);
    logLine(LOG_WARN);
  } else if (debugEnabled()) {
    contextLine(contextId);
    lineText(": closed by policy: ");
    lineText(why);
    logLine(LOG_DEBUG);
  }
}

/** Closes a connection whose header cannot be written (counted in ppv2.closed_on_error); `status` is the failed call's, or NO_STATUS. */
function closeOnError(contextId: u32, size: i32, why: string, status: i64): void {
  const closeStatus = close(contextId, size);
  count(Counter.ClosedOnError, 1);
  contextLine(contextId);
  lineText(": closed on error: ");
  lineText(why);
  if (status != NO_STATUS) lineU64(<u64>status);
  if (closeStatus != STATUS_OK) lineTextU64("; the close failed too, status ", closeStatus);
  logLine(LOG_WARN);
}

// ---- a client's own PROXY header -------------------------------------------------

enum ClientHeader {
  /** The data does not start with a PROXY signature. */
  None,
  /** It is the start of one, long enough to mean it: wait for more. */
  Prefix,
  /** It starts with a whole signature. */
  Signature,
}

const PROXY_V1_SIGNATURE = "PROXY ";

/**
 * Fewer bytes than this never pause the connection, even when they begin a
 * signature. A SIP keep-alive (RFC 5626 section 4.4.1: CRLF, or CRLFCRLF) is at
 * most 4 bytes and matches the start of the v2 signature; the v2 signature's
 * fifth byte is a NUL, which no text protocol sends, and "PROXY" is the v1
 * keyword whole.
 */
const CLIENT_HEADER_MIN_PREFIX: i32 = 5;

/**
 * A connection paused on a signature prefix is closed by policy at the second
 * tick of its root after it paused (after one to two tick periods), so that a
 * client cannot hold it open by sending a prefix and nothing more.
 */
const CLIENT_HEADER_WAIT_TICKS: u32 = 2;

/** Does the client's data start with a PROXY v1 ("PROXY ") or v2 signature? */
function clientHeaderVerdict(size: i32): ClientHeader {
  const want = size < PP2_SIGNATURE_LENGTH ? size : PP2_SIGNATURE_LENGTH;
  if (want <= 0) return ClientHeader.None;
  const data = peekDownstreamData(want);
  if (data === null) return ClientHeader.None;
  const n = data.length < want ? data.length : want;
  const v1 = matchV1(data.ptr, n);
  const v2 = matchV2(data.ptr, n);
  if (v1 == ClientHeader.Signature || v2 == ClientHeader.Signature) return ClientHeader.Signature;
  if (n < CLIENT_HEADER_MIN_PREFIX) return ClientHeader.None;
  if (v1 == ClientHeader.Prefix || v2 == ClientHeader.Prefix) return ClientHeader.Prefix;
  return ClientHeader.None;
}

function matchV1(p: usize, n: i32): ClientHeader {
  const m = PROXY_V1_SIGNATURE.length;
  for (let i = 0; i < n && i < m; i++) {
    if (<i32>load<u8>(p + <usize>i) != PROXY_V1_SIGNATURE.charCodeAt(i)) return ClientHeader.None;
  }
  return n >= m ? ClientHeader.Signature : ClientHeader.Prefix;
}

function matchV2(p: usize, n: i32): ClientHeader {
  for (let i = 0; i < n && i < PP2_SIGNATURE_LENGTH; i++) {
    if (load<u8>(p + <usize>i) != load<u8>(PP2_SIGNATURE + <usize>i)) return ClientHeader.None;
  }
  return n >= PP2_SIGNATURE_LENGTH ? ClientHeader.Signature : ClientHeader.Prefix;
}

// ---- the tick ---------------------------------------------------------------------

/** Connections closed per tick at most; any others wait for the next tick. */
const MAX_CLOSES_PER_TICK: i32 = 64;
const toClose = memory.data(MAX_CLOSES_PER_TICK * sizeof<u32>(), 4);

/**
 * proxy_on_tick of root `rootId` (whose tick count is `ticks`): closes its
 * connections that paused too long on a signature prefix, then lets the
 * tables give memory back after a flood.
 */
export function onRootTick(rootId: u32, ticks: u32): void {
  if (paused.count > 0) {
    let n = 0;
    for (let i: u32 = 0; i < paused.capacity && n < MAX_CLOSES_PER_TICK; i++) {
      const id = paused.keyAt(i);
      if (id == 0 || pending.get(id) != rootId) continue;
      if (ticks - paused.valueAt(i) < CLIENT_HEADER_WAIT_TICKS) continue;
      store<u32>(toClose + <usize>n * sizeof<u32>(), id);
      n++;
    }
    for (let k = 0; k < n; k++) {
      const id = load<u32>(toClose + <usize>k * sizeof<u32>());
      // Act on the stream from the root's tick (cpp-host exports.cc set_effective_context).
      if (setEffectiveContext(id) == STATUS_OK) {
        closeByPolicy(id, NO_DATA, "an incomplete PROXY signature, then nothing");
      } else {
        onConnectionDeleted(id); // the host no longer knows it
      }
    }
    if (n > 0) setEffectiveContext(rootId);
  }
  pending.shrink();
  paused.shrink();
  closed.shrink();
}
