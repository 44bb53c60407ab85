// Extension Config Discovery (ECDS) from a file: how the ppv2 filter reaches
// an Envoy that takes it the way an Istio gateway does (deploy/ecds/).
//
// istiod puts a filter in the listener whose config_discovery names an ECDS
// resource (core.v3.TypedExtensionConfig) and sends that resource over ADS
// (pilot/pkg/networking/core/extension/extensionfilter.go). Here a watched file
// holding a DiscoveryResponse stands in for the ADS stream: Envoy's
// filesystem subscription reads it at start and again whenever a file is
// moved onto its path (source/extensions/config_subscription/filesystem).
import fs from 'node:fs';
import path from 'node:path';
import { isMap, isSeq, parseDocument } from 'yaml';

export const TYPED_EXTENSION_CONFIG_TYPE = 'type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig';

/** The DiscoveryResponse file text for one ECDS resource (JSON, which Envoy reads by the .json extension). */
export function ecdsResponse(extensionConfig: Record<string, unknown>, versionInfo: string): string {
  return `${JSON.stringify({ version_info: versionInfo, resources: [{ '@type': TYPED_EXTENSION_CONFIG_TYPE, ...extensionConfig }] }, null, 2)}\n`;
}

/**
 * Replaces `file` in one step: written next to it, then renamed over it.
 * Envoy reacts to the rename; a write in place could be read half done.
 */
export function replaceFile(file: string, text: string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

export interface EcdsBootstrapOptions {
  /** Absolute path of the DiscoveryResponse file. */
  ecdsPath: string;
  listen: { address: string; port: number };
  adminPort: number;
  backend: { host: string; port: number };
  /**
   * The listener filter istiod generated (JSON of listener.v3.Filter, with
   * config_discovery over ADS); its name and type_urls replace the
   * template's, and its ADS source becomes the file.
   */
  istiodFilter?: { name: string; configDiscovery: { configSource: Record<string, unknown>; typeUrls: string[] } };
}

/** deploy/ecds/envoy.yaml with the given file, addresses and (optionally) istiod's filter. */
export function renderEcdsBootstrap(templateYaml: string, o: EcdsBootstrapOptions): string {
  const doc = parseDocument(templateYaml);
  if (doc.errors.length > 0) throw new Error(`ECDS bootstrap: ${doc.errors[0]!.message.split('\n')[0]}`);
  doc.setIn(['admin', 'address', 'socket_address', 'port_value'], o.adminPort);
  const listeners = doc.getIn(['static_resources', 'listeners']);
  if (!isSeq(listeners) || listeners.items.length !== 1) throw new Error('ECDS bootstrap: expected one listener');
  doc.setIn(['static_resources', 'listeners', 0, 'address', 'socket_address'], doc.createNode({ address: o.listen.address, port_value: o.listen.port }));
  const filters = doc.getIn(['static_resources', 'listeners', 0, 'filter_chains', 0, 'filters']);
  if (!isSeq(filters) || !isMap(filters.items[0]) || !filters.items[0].has('config_discovery')) {
    throw new Error('ECDS bootstrap: the first filter must take its config from config_discovery');
  }
  const ecdsFilter = filters.items[0];
  ecdsFilter.setIn(['config_discovery', 'config_source', 'path_config_source', 'path'], o.ecdsPath);
  if (o.istiodFilter) {
    const source = o.istiodFilter.configDiscovery.configSource;
    ecdsFilter.set('name', o.istiodFilter.name);
    ecdsFilter.setIn(['config_discovery', 'type_urls'], doc.createNode(o.istiodFilter.configDiscovery.typeUrls));
    if (source.initialFetchTimeout !== undefined) ecdsFilter.setIn(['config_discovery', 'config_source', 'initial_fetch_timeout'], source.initialFetchTimeout);
    if (source.resourceApiVersion !== undefined) ecdsFilter.setIn(['config_discovery', 'config_source', 'resource_api_version'], source.resourceApiVersion);
  }
  doc.setIn(['static_resources', 'clusters', 0, 'load_assignment', 'endpoints', 0, 'lb_endpoints', 0, 'endpoint', 'address', 'socket_address'], doc.createNode({ address: o.backend.host, port_value: o.backend.port }));
  return doc.toString();
}
