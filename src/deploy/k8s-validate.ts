// Kubernetes/Istio manifests: each document is checked by the model package
// generated from its schema (types, enums, required fields), by ShapeChecker
// for unknown fields, and, for a WasmPlugin, against what this filter needs.
import { ShapeChecker, type ShapeSource } from './k8s-shapes.js';
import type { PluginCheck } from './plugin-check.js';
import type { PathSegment, Problem } from './problem.js';

interface ModelClass {
  new (data: unknown): { validate(): void };
}

interface Kind {
  apiVersion: string;
  kind: string;
  module: string;
  typeName: string;
}

// Istio 1.29 CRDs (@kubernetes-models/istio 3.x) and Kubernetes core/apps (kubernetes-models 5.x).
const KINDS: Kind[] = [
  { apiVersion: 'extensions.istio.io/v1alpha1', kind: 'WasmPlugin', module: '@kubernetes-models/istio/extensions.istio.io/v1alpha1', typeName: 'IWasmPlugin' },
  ...['v1', 'v1beta1', 'v1alpha3'].flatMap((v) =>
    ['Gateway', 'VirtualService', 'DestinationRule'].map((kind) => ({
      apiVersion: `networking.istio.io/${v}`,
      kind,
      module: `@kubernetes-models/istio/networking.istio.io/${v}`,
      typeName: `I${kind}`,
    })),
  ),
  ...['Service', 'ConfigMap', 'Namespace'].map((kind) => ({ apiVersion: 'v1', kind, module: 'kubernetes-models/v1', typeName: `I${kind}` })),
  { apiVersion: 'apps/v1', kind: 'Deployment', module: 'kubernetes-models/apps/v1', typeName: 'IDeployment' },
];

const keyOf = (apiVersion: string, kind: string): string => `${apiVersion}/${kind}`;

let shapes: ShapeChecker | undefined;
function shapeChecker(): ShapeChecker {
  shapes ??= new ShapeChecker(KINDS.map((k): ShapeSource => ({ key: keyOf(k.apiVersion, k.kind), module: k.module, typeName: k.typeName })));
  return shapes;
}

export function supportedKinds(): string[] {
  return KINDS.map((k) => keyOf(k.apiVersion, k.kind));
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** "data/spec/match/0/ports" (ajv's instancePath) → ["spec", "match", 0, "ports"]. */
function ajvPath(p: string): PathSegment[] {
  return p
    .replace(/^data\/?/, '')
    .split('/')
    .filter((s) => s !== '')
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s.replace(/~1/g, '/').replace(/~0/g, '~')));
}

/** The model's ValidationError message holds one "data/<path> <message>" per line. */
function modelProblems(err: unknown): Problem[] {
  const message = err instanceof Error ? err.message : String(err);
  return message
    .split(/\n|, (?=data)/)
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .map((line) => {
      const m = /^(data[^\s]*)\s+(.*)$/.exec(line);
      return m ? { path: ajvPath(m[1]!), message: m[2]! } : { path: [], message: line };
    });
}

export async function checkManifest(doc: unknown, pluginCheck: PluginCheck | undefined): Promise<Problem[]> {
  if (!isObj(doc)) return [{ path: [], message: 'a Kubernetes manifest must be a mapping with apiVersion and kind' }];
  const { apiVersion, kind } = doc;
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') {
    return [{ path: [], message: 'a Kubernetes manifest needs string "apiVersion" and "kind"' }];
  }
  const entry = KINDS.find((k) => k.apiVersion === apiVersion && k.kind === kind);
  if (!entry) {
    return [{ path: ['kind'], message: `no schema here for ${apiVersion} ${kind} (supported: ${supportedKinds().join(', ')})` }];
  }
  const problems: Problem[] = [];
  const mod = (await import(entry.module)) as Record<string, ModelClass>;
  const Model = mod[entry.kind];
  if (!Model) throw new Error(`${entry.module} exports no ${entry.kind}`);
  try {
    new Model(doc).validate();
  } catch (err) {
    problems.push(...modelProblems(err));
  }
  problems.push(...shapeChecker().unknownFields(keyOf(apiVersion, kind), doc));
  if (kind === 'WasmPlugin') problems.push(...(await checkWasmPlugin(doc, pluginCheck)));
  return problems;
}

/** What istio/api extensions/v1alpha1/wasm.proto states in comments and CEL rules that the model does not enforce, and what this filter needs. */
async function checkWasmPlugin(doc: Obj, pluginCheck: PluginCheck | undefined): Promise<Problem[]> {
  const problems: Problem[] = [];
  const spec = doc.spec;
  if (!isObj(spec)) return problems;
  const at = (...p: PathSegment[]): PathSegment[] => ['spec', ...p];
  if (spec.type !== 'NETWORK') {
    problems.push({
      path: at('type'),
      message: `ppv2-wasm is a network filter: set type: NETWORK (Istio >= 1.20); ${spec.type === undefined ? 'unset means HTTP' : `got ${JSON.stringify(spec.type)}`}`,
    });
  }
  const targeting = ['selector', 'targetRef', 'targetRefs'].filter((k) => spec[k] !== undefined);
  if (targeting.length > 1) problems.push({ path: at(targeting[1]!), message: `only one of ${targeting.join(', ')} can be set` });
  if (typeof spec.url === 'string') {
    const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(spec.url)?.[1]?.toLowerCase();
    if (scheme !== undefined && !['oci', 'http', 'https', 'file'].includes(scheme)) {
      problems.push({ path: at('url'), message: `url must use oci://, https://, http:// or file://, got ${JSON.stringify(spec.url)}` });
    }
  }
  if (spec.sha256 !== undefined && (typeof spec.sha256 !== 'string' || !/^([a-f0-9]{64})?$/.test(spec.sha256))) {
    problems.push({ path: at('sha256'), message: `sha256 must be 64 lower-case hex digits, got ${JSON.stringify(spec.sha256)}` });
  }
  if (spec.pluginName !== undefined && spec.pluginName === '') {
    problems.push({ path: at('pluginName'), message: 'pluginName, when set, must not be empty' });
  }
  if (pluginCheck) {
    // Istio hands pluginConfig (a Struct) to Envoy, which serializes it as JSON.
    const configuration = spec.pluginConfig === undefined ? '' : JSON.stringify(spec.pluginConfig);
    const rejected = await pluginCheck({ configuration, rootId: typeof spec.pluginName === 'string' ? spec.pluginName : '' });
    if (rejected !== null) problems.push({ path: at('pluginConfig'), message: `the module rejects this plugin configuration: ${rejected}` });
  }
  return problems;
}
