// The Proxy-Wasm ABI v0.2.1 callbacks Envoy calls. Root contexts (roots.ts)
// hold the configuration; stream contexts are connections (filter.ts).
//
// Callback order for a TCP connection (Envoy network/wasm filter, context.cc):
// context_create, new_connection, downstream_data / upstream_data...,
// downstream_connection_close, done, log, delete.

import { parseConfig } from "../config";
import {
  ACTION_CONTINUE,
  onConnectionCreated,
  onConnectionDeleted,
  onDownstreamData,
  onNewConnection,
  onRootTick,
  refreshLogLevel,
} from "../filter";
import { LOG_ERROR, getPluginConfiguration, logLine, setTickPeriod } from "../hostcalls";
import { lineStart, lineText, lineTextU64 } from "../bytes";
import { TICK_PERIOD_MS, defineCounters, flushCounters } from "../metrics";
import { addRoot, isRoot, removeRoot, rootTicked, setRootConfig } from "../roots";
import { releaseHostValues } from "./memory";

export { proxy_on_memory_allocate, malloc } from "./memory";

/** A data size larger than this is passed on as this (buffer sizes are i32 in the filter). */
const MAX_DATA_SIZE: u32 = <u32>i32.MAX_VALUE;

/** Marker export: this module speaks ABI v0.2.1. Never called. */
export function proxy_abi_version_0_2_1(): void {}

export function proxy_on_context_create(contextId: u32, parentId: u32): void {
  // A root context (parent 0) gets its Config with proxy_on_configure.
  if (parentId == 0) addRoot(contextId);
  else onConnectionCreated(contextId, parentId);
}

export function proxy_on_vm_start(rootId: u32, vmConfigurationSize: u32): bool {
  return true;
}

/**
 * Parses the plugin configuration. On error: one log line naming the key and
 * quoting the value, and false, so that Envoy rejects the configuration.
 */
export function proxy_on_configure(rootId: u32, configurationSize: u32): bool {
  refreshLogLevel();
  defineCounters();
  let ok = false;
  if (configurationSize == 0) {
    const config = parseConfig(0, 0);
    if (config !== null) {
      setRootConfig(rootId, config);
      ok = true;
    }
  } else {
    const text = getPluginConfiguration(<i32>configurationSize);
    if (text === null) {
      lineStart();
      lineTextU64("ppv2-wasm: unreadable plugin configuration (", configurationSize);
      lineText(" bytes)");
    } else {
      const config = parseConfig(text.ptr, text.length);
      if (config !== null) {
        setRootConfig(rootId, config);
        ok = true;
      }
    }
  }
  releaseHostValues();
  if (!ok) {
    logLine(LOG_ERROR);
    return false;
  }
  setTickPeriod(TICK_PERIOD_MS);
  return true;
}

export function proxy_on_tick(rootId: u32): void {
  onRootTick(rootId, rootTicked(rootId));
  flushCounters();
  refreshLogLevel();
}

export function proxy_on_new_connection(contextId: u32): i32 {
  return onNewConnection(contextId);
}

export function proxy_on_downstream_data(contextId: u32, dataSize: u32, endOfStream: bool): i32 {
  const size = dataSize > MAX_DATA_SIZE ? MAX_DATA_SIZE : dataSize;
  const action = onDownstreamData(contextId, <i32>size, endOfStream);
  releaseHostValues();
  return action;
}

export function proxy_on_upstream_data(contextId: u32, dataSize: u32, endOfStream: bool): i32 {
  return ACTION_CONTINUE;
}

export function proxy_on_downstream_connection_close(contextId: u32, peerType: u32): void {}

export function proxy_on_upstream_connection_close(contextId: u32, peerType: u32): void {}

/** A root context's proxy_on_done comes when its plugin goes away: flush what the counters hold. */
export function proxy_on_done(contextId: u32): bool {
  if (isRoot(contextId)) flushCounters();
  return true;
}

export function proxy_on_log(contextId: u32): void {}

export function proxy_on_delete(contextId: u32): void {
  // A plugin going away drops its configuration; a connection is forgotten.
  if (!removeRoot(contextId)) onConnectionDeleted(contextId);
}
