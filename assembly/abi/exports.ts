// The Proxy-Wasm ABI v0.2.1 callbacks Envoy calls, and the context registry.
//
// Root contexts (one per plugin configuration; several can share a VM) map to
// their Config. Stream contexts map to their root only while the header is owed
// (ctxmap.ts): inserted at context creation, removed at the first downstream
// data or at delete. After that a connection costs no memory and every data
// callback returns Continue without a single host call.
//
// Callback order for a TCP connection (Envoy network/wasm filter, context.cc):
// context_create, new_connection, downstream_data / upstream_data...,
// downstream_connection_close, done, log, delete.

import { freeConfig, parseConfig } from "../config";
import { ctxGet, ctxPut, ctxRemove } from "../ctxmap";
import { ACTION_CONTINUE, ACTION_PAUSE, onFirstDownstreamData, refreshLogLevel } from "../filter";
import { LOG_ERROR, STATUS_OK, getPluginConfiguration, logLine, setTickPeriod, valueLen, valuePtr } from "../hostcalls";
import { lineStart, lineText, lineTextU64, regrow, utf8 } from "../bytes";
import { TICK_PERIOD_MS, defineCounters, flushCounters } from "../metrics";
import { releaseHostValues } from "./memory";

export { proxy_on_memory_allocate, malloc } from "./memory";

// Root contexts of this VM, a handful at most: a raw array of
// (root context id u32, Config pointer u32) pairs.
let roots: usize = 0;
let rootCount: i32 = 0;
let rootCapacity: i32 = 0;

function rootIndex(id: u32): i32 {
  for (let i = 0; i < rootCount; i++) if (load<u32>(roots + (<usize>i << 3)) == id) return i;
  return -1;
}

function rootConfig(i: i32): usize {
  return <usize>load<u32>(roots + (<usize>i << 3), 4);
}

/** Sets the Config of root `id` (adding the root if new); frees the one it replaces. */
function setRootConfig(id: u32, config: usize): void {
  let i = rootIndex(id);
  if (i < 0) {
    if (rootCount == rootCapacity) {
      rootCapacity = rootCapacity == 0 ? 4 : rootCapacity << 1;
      roots = regrow(roots, rootCount << 3, rootCapacity << 3);
    }
    i = rootCount++;
    store<u32>(roots + (<usize>i << 3), id);
  } else {
    freeConfig(rootConfig(i));
  }
  store<u32>(roots + (<usize>i << 3), <u32>config, 4);
}

/** Marker export: this module speaks ABI v0.2.1. Never called. */
export function proxy_abi_version_0_2_1(): void {}

export function proxy_on_context_create(contextId: u32, parentId: u32): void {
  if (parentId == 0) {
    // A root context; its Config arrives with proxy_on_configure.
    if (rootIndex(contextId) < 0) setRootConfig(contextId, 0);
    return;
  }
  ctxPut(contextId, parentId);
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
  let config: usize = 0;
  if (configurationSize == 0) {
    config = parseConfig(0, 0);
  } else if (getPluginConfiguration(<i32>configurationSize) == STATUS_OK) {
    config = parseConfig(valuePtr, valueLen);
  } else {
    lineStart();
    lineTextU64(utf8("ppv2-wasm: unreadable plugin configuration ("), configurationSize);
    lineText(utf8(" bytes)"));
  }
  releaseHostValues();
  if (config == 0) {
    logLine(LOG_ERROR);
    return false;
  }
  setRootConfig(rootId, config);
  setTickPeriod(TICK_PERIOD_MS);
  return true;
}

export function proxy_on_tick(rootId: u32): void {
  flushCounters();
  refreshLogLevel();
}

export function proxy_on_new_connection(contextId: u32): i32 {
  return ACTION_CONTINUE;
}

export function proxy_on_downstream_data(contextId: u32, dataSize: u32, endOfStream: bool): i32 {
  const rootId = ctxGet(contextId);
  if (rootId == 0) return ACTION_CONTINUE; // header already written (or not ours)
  const i = rootIndex(rootId);
  const config = i >= 0 ? rootConfig(i) : 0;
  if (config == 0) {
    ctxRemove(contextId);
    return ACTION_CONTINUE;
  }
  const size = dataSize > 0x7fffffff ? 0x7fffffff : <i32>dataSize;
  const action = onFirstDownstreamData(contextId, config, size, endOfStream);
  releaseHostValues();
  if (action != ACTION_PAUSE) ctxRemove(contextId);
  return action;
}

export function proxy_on_upstream_data(contextId: u32, dataSize: u32, endOfStream: bool): i32 {
  return ACTION_CONTINUE;
}

export function proxy_on_downstream_connection_close(contextId: u32, peerType: u32): void {}

export function proxy_on_upstream_connection_close(contextId: u32, peerType: u32): void {}

export function proxy_on_done(contextId: u32): bool {
  return true;
}

export function proxy_on_log(contextId: u32): void {}

export function proxy_on_delete(contextId: u32): void {
  if (ctxRemove(contextId) != 0) return;
  const i = rootIndex(contextId);
  if (i >= 0) {
    // A plugin going away: drop its configuration (swap-remove the pair).
    freeConfig(rootConfig(i));
    rootCount--;
    store<u64>(roots + (<usize>i << 3), load<u64>(roots + (<usize>rootCount << 3)));
  }
}
