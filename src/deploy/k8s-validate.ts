// Kubernetes and Istio manifests, checked by the code that would read them
// in a cluster: ppv2-istio validate (tests/istio/validate.go) runs the API
// server's checks of Istio objects against istio.io/api's CRDs (schema,
// unknown fields, CEL rules), istiod's validating webhook, and the API
// server's strict decoding of built-in kinds. On top of that, what this
// filter needs from a WasmPlugin: type NETWORK, and a pluginConfig the module
// accepts.
import { runIstioTool } from './istio-go.js';
import { parseFieldPath, type Problem } from './problem.js';

/** ppv2-istio validate's result for one document. */
interface IstioDocResult {
  file: string;
  doc: number;
  kind: string;
  name: string;
  errors: string[];
  warnings: string[];
}

export interface IstioSchemaCheck {
  /** The ppv2-istio binary. */
  tool: string;
  /** istio.io/api's customresourcedefinitions.gen.yaml. */
  crds: string;
}

/** Answers whether the module accepts a plugin configuration: null, or the reason it refuses. */
export type ModuleVerdict = (configuration: string, rootId: string) => Promise<string | null>;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const FIELD = /^([A-Za-z_][\w-]*(?:\[\d+\])*(?:\.[A-Za-z_@][\w@-]*(?:\[\d+\])*)*): (.*)$/s;

/** One Kubernetes error line → a problem with the field path it names, when it names one. */
export function kubernetesProblem(line: string): Problem {
  const unknown = /^unknown field "([^"]+)"$/.exec(line);
  if (unknown) return { path: parseFieldPath(unknown[1]!), message: 'unknown field (Kubernetes would reject it with --validate=strict, and drop it otherwise)' };
  const m = FIELD.exec(line);
  if (m) return { path: parseFieldPath(m[1]!), message: m[2]! };
  return { path: [], message: line };
}

/**
 * Problems per non-empty document of `file` (in order), from ppv2-istio
 * validate; documents are matched to the caller's by position.
 */
export async function istioSchemaProblems(check: IstioSchemaCheck, file: string): Promise<Problem[][]> {
  const { result } = await runIstioTool<IstioDocResult[]>(check.tool, ['validate', '-crds', check.crds, file]);
  return result.map((r) => r.errors.map(kubernetesProblem));
}

/** What this filter needs from a WasmPlugin beyond Istio's own checks. */
export async function checkWasmPlugin(doc: unknown, moduleVerdict: ModuleVerdict | undefined): Promise<Problem[]> {
  if (!isObj(doc) || doc.kind !== 'WasmPlugin' || !isObj(doc.spec)) return [];
  const spec = doc.spec;
  const problems: Problem[] = [];
  if (spec.type !== 'NETWORK') {
    problems.push({
      path: ['spec', 'type'],
      message: `ppv2-wasm is a network filter: set type: NETWORK (Istio >= 1.20); ${spec.type === undefined ? 'unset means HTTP' : `got ${JSON.stringify(spec.type)}`}`,
    });
  }
  if (moduleVerdict) {
    // istiod hands pluginConfig (a Struct) to Envoy as a JSON string
    // (pilot/pkg/model/extensions.go, buildWasmConfig).
    const configuration = spec.pluginConfig === undefined ? '' : JSON.stringify(spec.pluginConfig);
    const rejected = await moduleVerdict(configuration, typeof spec.pluginName === 'string' ? spec.pluginName : '');
    if (rejected !== null) problems.push({ path: ['spec', 'pluginConfig'], message: `the module rejects this plugin configuration: ${rejected}` });
  }
  return problems;
}
