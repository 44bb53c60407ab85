// Validates deployment files by asking what would read them:
//   node dist/deploy/validate.js [--module FILE] [--envoy-cwd DIR] [--no-envoy] [--no-istio] [--no-module-check] FILE...
//
//   Envoy bootstrap (*.yaml)    `envoy --mode validate` (envoy-validate.ts), plus
//                               what that mode does not check (envoy-checks.ts)
//   ECDS file (*.yaml, a DiscoveryResponse of TypedExtensionConfig, as in
//   deploy/ecds/)               each resource's filter, validated by Envoy in a
//                               listener of its own
//   plugin configuration (*.json)  the module's verdict, in Envoy
//   Kubernetes/Istio manifests  ppv2-istio validate (k8s-validate.ts), plus
//                               what this filter needs from a WasmPlugin
//
// Without an Envoy (PPV2_ENVOY, .tools/bin/envoy, func-e or envoy on PATH),
// Envoy's own check does not run: plugin configurations are then loaded into
// the module by the project's host (plugin-check.ts), and a note says so.
// Without Go, manifests get only the WasmPlugin checks, and a note says so.
// Prints one line per problem ("file:line: path: message"); exit 1 if any.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { anyTypeName, checkEnvoyBootstrap, WASM_NETWORK_TYPE } from './envoy-checks.js';
import { envoyValidateText, findValidatingEnvoy, type EnvoyBinary, type EnvoyVerdict } from './envoy-validate.js';
import { TYPED_EXTENSION_CONFIG_TYPE } from './ecds.js';
import { istioApiCrds, istioTool, IstioToolUnavailable } from './istio-go.js';
import { checkWasmPlugin, istioSchemaProblems, type IstioSchemaCheck, type ModuleVerdict } from './k8s-validate.js';
import { DEFAULT_MODULE, PluginCheckUnavailable, pluginCheckFor, type PluginCheck } from './plugin-check.js';
import { formatProblem, type Problem } from './problem.js';
import { YamlSyntaxError, parseYaml, withLines, type YamlDoc } from './yaml-source.js';

export type FileKind = 'envoy' | 'ecds' | 'kubernetes' | 'plugin-config';

export interface ValidateOptions {
  /** The module plugin configurations are tried in (default build/ppv2.wasm). */
  moduleFile?: string;
  /** Envoy's working directory, for relative paths in bootstraps (default: the current one). */
  envoyCwd?: string;
  /** The Envoy to ask; null: do not use Envoy; undefined: find one. */
  envoy?: EnvoyBinary | null;
  /** Istio's checks; null: do not run them; undefined: build ppv2-istio if Go is there. */
  istio?: IstioSchemaCheck | null;
  /** The host-based module check used when no Envoy is asked; null skips every module check. */
  pluginCheck?: PluginCheck | null;
}

export interface FileResult {
  file: string;
  kind: FileKind | undefined;
  problems: Problem[];
  /** What checked the file, e.g. "Envoy 1.40.0". */
  checkedBy: string[];
  /** Checks that could not run, and why. */
  notes: string[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The checkers, found once for a run. */
interface Checkers {
  envoy: EnvoyBinary | null;
  envoyNote?: string;
  istio: IstioSchemaCheck | null;
  istioNote?: string;
  pluginCheck: PluginCheck | null;
  pluginNote?: string;
  moduleFile: string;
  envoyCwd: string;
  skipModule: boolean;
}

const resolved = new WeakMap<ValidateOptions, Promise<Checkers>>();

async function checkersFor(options: ValidateOptions): Promise<Checkers> {
  let pending = resolved.get(options);
  if (!pending) {
    pending = resolveCheckers(options);
    resolved.set(options, pending);
  }
  return pending;
}

async function resolveCheckers(options: ValidateOptions): Promise<Checkers> {
  const c: Checkers = {
    envoy: null,
    istio: null,
    pluginCheck: null,
    moduleFile: path.resolve(options.moduleFile ?? DEFAULT_MODULE),
    envoyCwd: options.envoyCwd ?? process.cwd(),
    skipModule: options.pluginCheck === null,
  };
  if (options.envoy === null) c.envoyNote = "Envoy's own check did not run (--no-envoy)";
  else if (options.envoy !== undefined) c.envoy = options.envoy;
  else {
    c.envoy = findValidatingEnvoy();
    if (!c.envoy) c.envoyNote = "no Envoy found (PPV2_ENVOY, .tools/bin/envoy, func-e or envoy on PATH; bash scripts/install-envoy.sh installs one): Envoy's own check did not run";
  }
  if (options.istio === null) c.istioNote = 'Kubernetes and Istio schemas were not checked (--no-istio)';
  else if (options.istio !== undefined) c.istio = options.istio;
  else {
    try {
      c.istio = { tool: await istioTool({ onBuild: (m) => console.error(`validate: ${m}`) }), crds: await istioApiCrds() };
    } catch (err) {
      if (!(err instanceof IstioToolUnavailable)) throw err;
      c.istioNote = `${err.message}: Kubernetes and Istio schemas were not checked`;
    }
  }
  if (options.pluginCheck) c.pluginCheck = options.pluginCheck;
  else if (options.pluginCheck === undefined && !c.envoy) {
    try {
      c.pluginCheck = await pluginCheckFor(c.moduleFile);
    } catch (err) {
      if (!(err instanceof PluginCheckUnavailable)) throw err;
      c.pluginNote = err.message;
    }
  }
  return c;
}

/** A bootstrap whose only listener runs `filter` then tcp_proxy: Envoy checks a filter config in it. */
function bootstrapAround(filter: Obj): string {
  return JSON.stringify({
    static_resources: {
      listeners: [
        {
          name: 'ppv2-validate',
          address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
          filter_chains: [
            {
              filters: [
                filter,
                {
                  name: 'envoy.filters.network.tcp_proxy',
                  typed_config: { '@type': `type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy`, stat_prefix: 'ppv2-validate', cluster: 'backend' },
                },
              ],
            },
          ],
        },
      ],
      clusters: [{ name: 'backend', connect_timeout: '1s', load_assignment: { cluster_name: 'backend', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 9 } } } }] }] } }],
    },
  });
}

/** The wasm filter Envoy would build for `configuration` in the module. */
function wasmFilter(moduleFile: string, configuration: string, rootId: string): Obj {
  return {
    name: 'envoy.filters.network.wasm',
    typed_config: {
      '@type': `type.googleapis.com/${WASM_NETWORK_TYPE}`,
      config: {
        root_id: rootId,
        vm_config: { runtime: 'envoy.wasm.runtime.v8', code: { local: { filename: moduleFile } } },
        configuration: { '@type': 'type.googleapis.com/google.protobuf.StringValue', value: configuration },
      },
    },
  };
}

/** Envoy's verdict as problems at `at`: its error, the module's reason first when it gave one. */
function verdictProblems(v: EnvoyVerdict, envoy: EnvoyBinary, at: Problem['path']): Problem[] {
  const problems: Problem[] = [];
  if (v.error !== null) {
    const detail = v.moduleLog.length > 0 ? ` (the module: ${v.moduleLog.join('; ')})` : v.wasmErrors.length > 0 ? ` (${v.wasmErrors.join('; ')})` : '';
    problems.push({ path: [...at, ...v.errorPath], message: `Envoy ${envoy.version} refuses it: ${v.error}${detail}` });
  }
  for (const d of v.deprecated) problems.push({ path: at, message: `Envoy ${envoy.version} warns: ${d}` });
  return problems;
}

/** The module's verdict on a plugin configuration: in Envoy when there is one, else in the host. */
function moduleVerdictFor(c: Checkers): ModuleVerdict | undefined {
  if (c.skipModule) return undefined;
  if (c.envoy) {
    const envoy = c.envoy;
    return async (configuration, rootId) => {
      const v = envoyValidateText(envoy, bootstrapAround(wasmFilter(c.moduleFile, configuration, rootId)), c.envoyCwd, 'bootstrap.json');
      if (v.error === null) return null;
      return v.moduleLog[0] ?? v.wasmErrors[0] ?? `Envoy ${envoy.version}: ${v.error}`;
    };
  }
  const check = c.pluginCheck;
  return check ? async (configuration, rootId) => check({ configuration, rootId }) : undefined;
}

/** Envoy's problems with a bootstrap given as a value (needs an Envoy; relative paths resolve from `cwd`). */
export function envoyBootstrapProblems(value: unknown, cwd = process.cwd()): Problem[] {
  const envoy = findValidatingEnvoy();
  if (!envoy) throw new Error('no Envoy found to validate with (PPV2_ENVOY, .tools/bin/envoy, func-e or envoy on PATH)');
  return verdictProblems(envoyValidateText(envoy, JSON.stringify(value), cwd, 'bootstrap.json'), envoy, []);
}

function isManifest(v: unknown): boolean {
  return isObj(v) && 'apiVersion' in v && 'kind' in v;
}

function isEcdsResponse(v: unknown): v is { resources: unknown[] } {
  return isObj(v) && Array.isArray(v.resources) && v.resources.some((r) => isObj(r) && r['@type'] === TYPED_EXTENSION_CONFIG_TYPE);
}

export async function validateFile(file: string, options: ValidateOptions = {}): Promise<FileResult> {
  const c = await checkersFor(options);
  const text = fs.readFileSync(file, 'utf8');
  const result = (kind: FileKind | undefined, problems: Problem[], checkedBy: string[], notes: (string | undefined)[]): FileResult => ({
    file,
    kind,
    problems,
    checkedBy,
    notes: notes.filter((n): n is string => n !== undefined),
  });
  const moduleBy = c.skipModule ? [] : c.envoy ? [`the module in Envoy ${c.envoy.version}`] : c.pluginCheck ? ['the module in the project host'] : [];
  const moduleNote = c.skipModule ? undefined : c.envoy ? undefined : (c.pluginNote ?? c.envoyNote);

  if (file.endsWith('.json')) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      return result('plugin-config', [{ path: [], message: `not JSON: ${(err as Error).message}` }], [], []);
    }
    if (!isObj(value)) return result('plugin-config', [{ path: [], message: 'a plugin configuration must be a JSON object' }], [], []);
    const verdict = moduleVerdictFor(c);
    const rejected = verdict ? await verdict(text, '') : null;
    const problems = rejected === null ? [] : [{ path: [], message: `the module rejects this plugin configuration: ${rejected}` }];
    return result('plugin-config', problems, moduleBy, [moduleNote]);
  }

  let docs: YamlDoc[];
  try {
    docs = parseYaml(text, file);
  } catch (err) {
    if (err instanceof YamlSyntaxError) return result(undefined, [{ path: [], message: err.reason, ...(err.line !== undefined ? { line: err.line } : {}) }], [], []);
    throw err;
  }
  if (docs.length === 0) return result(undefined, [{ path: [], message: 'the file holds no YAML document' }], [], []);

  if (isManifest(docs[0]!.value)) {
    const problems: Problem[] = [];
    const checkedBy: string[] = [];
    if (c.istio) {
      const perDoc = await istioSchemaProblems(c.istio, file);
      docs.forEach((doc, i) => problems.push(...withLines(perDoc[i] ?? [], doc)));
      checkedBy.push("Kubernetes' and Istio's own checks (ppv2-istio)");
    }
    const verdict = moduleVerdictFor(c);
    for (const doc of docs) problems.push(...withLines(await checkWasmPlugin(doc.value, verdict), doc));
    const hasPlugin = docs.some((d) => isObj(d.value) && d.value.kind === 'WasmPlugin');
    return result('kubernetes', problems, [...checkedBy, ...(hasPlugin ? moduleBy : [])], [c.istioNote, hasPlugin ? moduleNote : undefined]);
  }

  if (docs.length > 1) return result('envoy', [{ path: [], message: 'an Envoy bootstrap is a single YAML document' }], [], []);
  const doc = docs[0]!;

  if (isEcdsResponse(doc.value)) {
    const problems: Problem[] = [];
    const resources = doc.value.resources;
    for (let i = 0; i < resources.length; i++) {
      const r = resources[i];
      const at = ['resources', i];
      if (!isObj(r) || !isObj(r.typed_config ?? r.typedConfig)) {
        problems.push({ path: at, message: 'an ECDS resource needs name and typed_config' });
        continue;
      }
      const filter = { name: String(r.name ?? 'ecds'), typed_config: (r.typed_config ?? r.typedConfig) as Obj };
      if (c.envoy) problems.push(...verdictProblems(envoyValidateText(c.envoy, bootstrapAround(filter), c.envoyCwd, 'bootstrap.json'), c.envoy, at));
      else if (c.pluginCheck && anyTypeName(filter.typed_config) === WASM_NETWORK_TYPE) {
        const inner = await checkEnvoyBootstrap(JSON.parse(bootstrapAround(filter)), { pluginCheck: c.pluginCheck });
        problems.push(...inner.map((p) => ({ ...p, path: at })));
      }
    }
    return result('ecds', withLines(problems, doc), c.envoy ? [`Envoy ${c.envoy.version}`] : moduleBy, [c.envoy ? undefined : (c.pluginNote ?? c.envoyNote)]);
  }

  const problems: Problem[] = [];
  if (c.envoy) problems.push(...verdictProblems(envoyValidateText(c.envoy, text, c.envoyCwd, path.basename(file).replace(/\.yml$/, '.yaml')), c.envoy, []));
  problems.push(...(await checkEnvoyBootstrap(doc.value, c.envoy || c.skipModule || !c.pluginCheck ? {} : { pluginCheck: c.pluginCheck })));
  return result('envoy', withLines(problems, doc), c.envoy ? [`Envoy ${c.envoy.version}`] : moduleBy, [c.envoy ? undefined : (c.pluginNote ?? c.envoyNote)]);
}

const USAGE = 'usage: node dist/deploy/validate.js [--module FILE] [--envoy-cwd DIR] [--no-envoy] [--no-istio] [--no-module-check] FILE...';

export async function main(argv: string[]): Promise<number> {
  const files: string[] = [];
  const options: ValidateOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--module' || a === '--envoy-cwd') {
      const v = argv[++i];
      if (v === undefined) {
        console.error(`validate: ${a} needs a value\n${USAGE}`);
        return 2;
      }
      if (a === '--module') options.moduleFile = v;
      else options.envoyCwd = path.resolve(v);
    } else if (a === '--no-module-check') options.pluginCheck = null;
    else if (a === '--no-envoy') options.envoy = null;
    else if (a === '--no-istio') options.istio = null;
    else if (a === '-h' || a === '--help') {
      console.log(USAGE);
      return 0;
    } else if (a.startsWith('-')) {
      console.error(`validate: unknown option ${a}\n${USAGE}`);
      return 2;
    } else files.push(a);
  }
  if (files.length === 0) {
    console.error(USAGE);
    return 2;
  }
  let failed = 0;
  const notes = new Set<string>();
  for (const file of files) {
    if (!fs.existsSync(file)) {
      console.error(`${file}: no such file`);
      failed++;
      continue;
    }
    const r = await validateFile(file, options);
    for (const n of r.notes) notes.add(n);
    if (r.problems.length === 0) console.log(`ok ${file} (${r.kind}${r.checkedBy.length > 0 ? `; ${r.checkedBy.join(', ')}` : ''})`);
    else {
      failed++;
      for (const p of r.problems) console.error(formatProblem(file, p));
    }
  }
  for (const n of notes) console.error(`note: ${n}`);
  return failed === 0 ? 0 : 1;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`validate: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(2);
    },
  );
}
