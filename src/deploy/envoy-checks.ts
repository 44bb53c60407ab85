// Checks on an Envoy bootstrap that the schema cannot express, each one a
// mistake that would make the filter silently absent or Envoy refuse to start:
// filter order, the module path, the runtime, the plugin configuration
// (loaded into the module itself), cluster references, and the native
// upstream PROXY transport's version.
import path from 'node:path';
import type { PluginCheck } from './plugin-check.js';
import type { PathSegment, Problem } from './problem.js';

export const WASM_NETWORK_TYPE = 'envoy.extensions.filters.network.wasm.v3.Wasm';
export const TCP_PROXY_TYPE = 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
export const UPSTREAM_PROXY_PROTOCOL_TYPE = 'envoy.extensions.transport_sockets.proxy_protocol.v3.ProxyProtocolUpstreamTransport';
/** Official Envoy builds ship only V8 (api/envoy/extensions/wasm/v3/wasm.proto, VmConfig.runtime). */
export const V8_RUNTIME = 'envoy.wasm.runtime.v8';

export interface EnvoyCheckContext {
  /** Envoy's working directory: relative paths in the config resolve from here. */
  cwd: string;
  /** The module the wasm filters must load. */
  moduleFile: string;
  /** Loads a plugin configuration into the module; undefined skips that check. */
  pluginCheck?: PluginCheck;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
/** Envoy accepts snake_case and lowerCamelCase names alike. */
const get = (o: Obj, snake: string): unknown => o[snake] ?? o[snake.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase())];

export function anyTypeName(v: unknown): string | undefined {
  if (!isObj(v) || typeof v['@type'] !== 'string') return undefined;
  const url = v['@type'];
  return url.slice(url.lastIndexOf('/') + 1);
}

/** The plugin configuration string Envoy hands to proxy_on_configure, or a reason it has none. */
export function pluginConfigurationString(anyValue: unknown): { value: string } | { error: string } {
  if (anyValue === undefined || anyValue === null) return { value: '' };
  const t = anyTypeName(anyValue);
  const v = (anyValue as Obj).value;
  // StringValue and BytesValue are passed without the wrapper; a Struct is
  // serialized as JSON (api/envoy/extensions/wasm/v3/wasm.proto, PluginConfig.configuration).
  if (t === 'google.protobuf.StringValue') return typeof v === 'string' ? { value: v } : { value: '' };
  if (t === 'google.protobuf.BytesValue') return { value: typeof v === 'string' ? Buffer.from(v, 'base64').toString('utf8') : '' };
  if (t === 'google.protobuf.Struct') return { value: JSON.stringify(v ?? {}) };
  return { error: `configuration "@type" ${String(t)} is not passed to the plugin as text; use google.protobuf.StringValue` };
}

export async function checkEnvoyBootstrap(bootstrap: unknown, ctx: EnvoyCheckContext): Promise<Problem[]> {
  const problems: Problem[] = [];
  const report = (p: PathSegment[], message: string): void => {
    problems.push({ path: p, message });
  };
  if (!isObj(bootstrap)) return problems; // the schema walk already said so
  const resources = isObj(get(bootstrap, 'static_resources')) ? (get(bootstrap, 'static_resources') as Obj) : {};
  const clusterNames = new Set(list(resources.clusters).filter(isObj).map((c) => c.name));
  const hasCds = isObj(get(bootstrap, 'dynamic_resources'));

  const listeners = list(resources.listeners);
  for (let li = 0; li < listeners.length; li++) {
    const listener = listeners[li];
    if (!isObj(listener)) continue;
    const chains: [PathSegment[], unknown][] = list(get(listener, 'filter_chains')).map((c, ci) => [
      ['static_resources', 'listeners', li, 'filter_chains', ci],
      c,
    ]);
    const dflt = get(listener, 'default_filter_chain');
    if (dflt !== undefined) chains.push([['static_resources', 'listeners', li, 'default_filter_chain'], dflt]);
    for (const [chainPath, chain] of chains) {
      if (!isObj(chain)) continue;
      const filters = list(chain.filters);
      const types = filters.map((f) => (isObj(f) ? anyTypeName(get(f, 'typed_config')) : undefined));
      const tcpAt = types.indexOf(TCP_PROXY_TYPE);
      types.forEach((t, fi) => {
        const fpath = [...chainPath, 'filters', fi];
        if (t === TCP_PROXY_TYPE && fi !== filters.length - 1) {
          report(fpath, `tcp_proxy is a terminal filter and must be the last one in the chain, but ${filters.length - 1 - fi} filter(s) follow it`);
        }
        if (t !== WASM_NETWORK_TYPE) return;
        if (tcpAt < 0) report(fpath, 'the wasm filter has no tcp_proxy after it: nothing would carry the PROXY header upstream');
        else if (fi > tcpAt) report(fpath, 'the wasm filter must come before tcp_proxy: filters after the terminal tcp_proxy never see the data');
      });
      for (let fi = 0; fi < filters.length; fi++) {
        const f = filters[fi];
        if (!isObj(f)) continue;
        const typed = get(f, 'typed_config');
        const fpath = [...chainPath, 'filters', fi, 'typed_config'];
        if (types[fi] === TCP_PROXY_TYPE && isObj(typed)) {
          checkTcpProxyClusters(typed, fpath, clusterNames, hasCds, report);
        }
        if (types[fi] === WASM_NETWORK_TYPE && isObj(typed)) {
          await checkWasmFilter(typed, fpath, ctx, report);
        }
      }
    }
  }

  const clusters = list(resources.clusters);
  clusters.forEach((c, ci) => {
    if (!isObj(c)) return;
    const ts = get(c, 'transport_socket');
    if (!isObj(ts)) return;
    const typed = get(ts, 'typed_config');
    if (anyTypeName(typed) !== UPSTREAM_PROXY_PROTOCOL_TYPE || !isObj(typed)) return;
    const cfg = typed.config;
    const version = isObj(cfg) ? cfg.version : undefined;
    const tpath: PathSegment[] = ['static_resources', 'clusters', ci, 'transport_socket', 'typed_config', 'config'];
    // api/envoy/config/core/v3/proxy_protocol.proto: Version V1 = 0 is the default.
    if (version !== 'V2' && version !== 1) {
      report(version === undefined ? tpath : [...tpath, 'version'], `the upstream PROXY protocol version is ${version === undefined ? 'unset, so Envoy sends V1 (text)' : `${String(version)}`}; set config.version: V2`);
    }
  });
  return problems;
}

function checkTcpProxyClusters(
  typed: Obj,
  fpath: PathSegment[],
  clusterNames: Set<unknown>,
  hasCds: boolean,
  report: (p: PathSegment[], m: string) => void,
): void {
  if (hasCds) return; // clusters may come from CDS
  const refs: [PathSegment[], unknown][] = [];
  if (typed.cluster !== undefined) refs.push([[...fpath, 'cluster'], typed.cluster]);
  const weighted = get(typed, 'weighted_clusters');
  if (isObj(weighted)) list(weighted.clusters).forEach((w, i) => isObj(w) && refs.push([[...fpath, 'weighted_clusters', 'clusters', i, 'name'], w.name]));
  for (const [p, name] of refs) {
    if (typeof name === 'string' && !clusterNames.has(name)) {
      report(p, `tcp_proxy routes to cluster "${name}", which static_resources.clusters does not define`);
    }
  }
}

async function checkWasmFilter(
  typed: Obj,
  fpath: PathSegment[],
  ctx: EnvoyCheckContext,
  report: (p: PathSegment[], m: string) => void,
): Promise<void> {
  const config = typed.config;
  const cpath = [...fpath, 'config'];
  if (!isObj(config)) {
    report(fpath, 'the wasm filter needs "config" (envoy.extensions.wasm.v3.PluginConfig)');
    return;
  }
  const vm = get(config, 'vm_config');
  if (!isObj(vm)) {
    report(cpath, 'the wasm filter needs "vm_config" with the runtime and the module to load');
    return;
  }
  const vpath = [...cpath, 'vm_config'];
  if (vm.runtime !== V8_RUNTIME) {
    report([...vpath, 'runtime'], `runtime must be "${V8_RUNTIME}" (official Envoy builds ship only V8), got ${JSON.stringify(vm.runtime ?? '')}`);
  }
  const code = vm.code;
  const local = isObj(code) ? code.local : undefined;
  const filename = isObj(local) ? local.filename : undefined;
  if (typeof filename !== 'string') {
    report([...vpath, 'code'], `code.local.filename must name the built module (${ctx.moduleFile})`);
  } else if (path.resolve(ctx.cwd, filename) !== path.resolve(ctx.moduleFile)) {
    report([...vpath, 'code', 'local', 'filename'], `"${filename}" is not the built module ${ctx.moduleFile} (relative paths resolve from Envoy's working directory, ${ctx.cwd})`);
  }

  const conf = pluginConfigurationString(config.configuration);
  const confPath = [...cpath, 'configuration'];
  if ('error' in conf) {
    report(confPath, conf.error);
    return;
  }
  const vmConf = pluginConfigurationString(vm.configuration);
  if (!ctx.pluginCheck) return;
  const rejected = await ctx.pluginCheck({
    configuration: conf.value,
    rootId: typeof get(config, 'root_id') === 'string' ? (get(config, 'root_id') as string) : '',
    vmConfiguration: 'value' in vmConf ? vmConf.value : '',
  });
  if (rejected !== null) {
    report(isObj(config.configuration) ? [...confPath, 'value'] : confPath, `the module rejects this plugin configuration: ${rejected}`);
  }
}
