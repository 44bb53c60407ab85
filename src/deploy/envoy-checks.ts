// Checks on an Envoy bootstrap that `envoy --mode validate` does not make
// (envoy-validate.ts says what it does make). Envoy accepts each of these
// configurations, and each one loses the header or the connection:
//   - tcp_proxy naming a cluster that static_resources does not define (and
//     no CDS): validate mode does not resolve clusters; at run time every
//     connection is closed for want of a cluster;
//   - Envoy's native upstream PROXY transport with config.version unset:
//     valid, and it sends a v1 (text) header where v2 was meant.
// Without an Envoy to ask, the Wasm filters' plugin configurations are also
// loaded into the module here (plugin-check.ts), the one check of Envoy's
// that matters most for this filter.
import type { PluginCheck } from './plugin-check.js';
import type { PathSegment, Problem } from './problem.js';

export const WASM_NETWORK_TYPE = 'envoy.extensions.filters.network.wasm.v3.Wasm';
export const TCP_PROXY_TYPE = 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
export const UPSTREAM_PROXY_PROTOCOL_TYPE = 'envoy.extensions.transport_sockets.proxy_protocol.v3.ProxyProtocolUpstreamTransport';

export interface EnvoyCheckContext {
  /** Loads a plugin configuration into the module; given only when no Envoy checks the file. */
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

export async function checkEnvoyBootstrap(bootstrap: unknown, ctx: EnvoyCheckContext = {}): Promise<Problem[]> {
  const problems: Problem[] = [];
  const report = (p: PathSegment[], message: string): void => {
    problems.push({ path: p, message });
  };
  if (!isObj(bootstrap)) return [{ path: [], message: 'an Envoy bootstrap must be a mapping' }];
  const resources = isObj(get(bootstrap, 'static_resources')) ? (get(bootstrap, 'static_resources') as Obj) : {};
  const clusterNames = new Set(list(resources.clusters).filter(isObj).map((c) => c.name));
  const hasCds = isObj(get(bootstrap, 'dynamic_resources'));

  const listeners = list(resources.listeners);
  for (let li = 0; li < listeners.length; li++) {
    const listener = listeners[li];
    if (!isObj(listener)) continue;
    const chains: [PathSegment[], unknown][] = list(get(listener, 'filter_chains')).map((c, ci) => [['static_resources', 'listeners', li, 'filter_chains', ci], c]);
    const dflt = get(listener, 'default_filter_chain');
    if (dflt !== undefined) chains.push([['static_resources', 'listeners', li, 'default_filter_chain'], dflt]);
    for (const [chainPath, chain] of chains) {
      if (!isObj(chain)) continue;
      const filters = list(chain.filters);
      for (let fi = 0; fi < filters.length; fi++) {
        const f = filters[fi];
        if (!isObj(f)) continue;
        const typed = get(f, 'typed_config');
        const fpath = [...chainPath, 'filters', fi, 'typed_config'];
        const type = anyTypeName(typed);
        if (type === TCP_PROXY_TYPE && isObj(typed) && !hasCds) checkTcpProxyClusters(typed, fpath, clusterNames, report);
        if (type === WASM_NETWORK_TYPE && isObj(typed) && ctx.pluginCheck) await checkPluginConfiguration(typed, fpath, ctx.pluginCheck, report);
      }
    }
  }

  list(resources.clusters).forEach((c, ci) => {
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

function checkTcpProxyClusters(typed: Obj, fpath: PathSegment[], clusterNames: Set<unknown>, report: (p: PathSegment[], m: string) => void): void {
  const refs: [PathSegment[], unknown][] = [];
  if (typed.cluster !== undefined) refs.push([[...fpath, 'cluster'], typed.cluster]);
  const weighted = get(typed, 'weighted_clusters');
  if (isObj(weighted)) list(weighted.clusters).forEach((w, i) => isObj(w) && refs.push([[...fpath, 'weighted_clusters', 'clusters', i, 'name'], w.name]));
  for (const [p, name] of refs) {
    if (typeof name === 'string' && !clusterNames.has(name)) report(p, `tcp_proxy routes to cluster "${name}", which static_resources.clusters does not define`);
  }
}

async function checkPluginConfiguration(typed: Obj, fpath: PathSegment[], pluginCheck: PluginCheck, report: (p: PathSegment[], m: string) => void): Promise<void> {
  const config = typed.config;
  if (!isObj(config)) return;
  const cpath = [...fpath, 'config', 'configuration'];
  const conf = pluginConfigurationString(config.configuration);
  if ('error' in conf) {
    report(cpath, conf.error);
    return;
  }
  const vm = get(config, 'vm_config');
  const vmConf = isObj(vm) ? pluginConfigurationString(vm.configuration) : { value: '' };
  const rejected = await pluginCheck({
    configuration: conf.value,
    rootId: typeof get(config, 'root_id') === 'string' ? (get(config, 'root_id') as string) : '',
    vmConfiguration: 'value' in vmConf ? vmConf.value : '',
  });
  if (rejected !== null) report(isObj(config.configuration) ? [...cpath, 'value'] : cpath, `the module rejects this plugin configuration: ${rejected}`);
}
