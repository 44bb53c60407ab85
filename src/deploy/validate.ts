// Validates deployment files the way Envoy and Istio would read them:
//   node dist/deploy/validate.js [--module build/ppv2.wasm] [--envoy-cwd DIR] [--no-module-check] FILE...
// *.yaml with apiVersion/kind: Kubernetes/Istio manifests (k8s-validate.ts);
// other *.yaml: Envoy bootstraps (Envoy's v3 protos + envoy-checks.ts);
// *.json: a plugin configuration, loaded into the module.
// Prints one line per problem ("file:line: path: message"); exit 1 if any.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BOOTSTRAP_TYPE, envoyApi } from './envoy-api.js';
import { checkEnvoyBootstrap } from './envoy-checks.js';
import { checkManifest } from './k8s-validate.js';
import { DEFAULT_MODULE, PluginCheckUnavailable, pluginCheckFor, type PluginCheck } from './plugin-check.js';
import { formatProblem, type Problem } from './problem.js';
import { ProtoJsonChecker } from './proto-json-check.js';
import { YamlSyntaxError, parseYaml, withLines } from './yaml-source.js';

export type FileKind = 'envoy' | 'kubernetes' | 'plugin-config';

export interface ValidateOptions {
  /** The module wasm filters must load and plugin configurations are tried in. */
  moduleFile?: string;
  /** Envoy's working directory, for relative paths in bootstraps. */
  envoyCwd?: string;
  /** A ready checker, or null to skip loading plugin configurations into the module. */
  pluginCheck?: PluginCheck | null;
}

export interface FileResult {
  file: string;
  kind: FileKind | undefined;
  problems: Problem[];
}

export function envoyBootstrapProblems(value: unknown): Problem[] {
  const api = envoyApi();
  const type = api.lookupType(BOOTSTRAP_TYPE);
  if (!type) throw new Error(`cannot load ${BOOTSTRAP_TYPE} from Envoy's protos`);
  const checker = new ProtoJsonChecker(api);
  checker.checkMessage(value, type, []);
  return checker.problems;
}

function isManifest(v: unknown): boolean {
  return typeof v === 'object' && v !== null && 'apiVersion' in v && 'kind' in v;
}

async function resolvePluginCheck(options: ValidateOptions): Promise<PluginCheck | { unavailable: string } | undefined> {
  if (options.pluginCheck === null) return undefined;
  if (options.pluginCheck) return options.pluginCheck;
  try {
    return await pluginCheckFor(options.moduleFile ?? DEFAULT_MODULE);
  } catch (err) {
    if (err instanceof PluginCheckUnavailable) return { unavailable: err.message };
    throw err;
  }
}

export async function validateFile(file: string, options: ValidateOptions = {}): Promise<FileResult> {
  const text = fs.readFileSync(file, 'utf8');
  const check = await resolvePluginCheck(options);
  const pluginCheck = typeof check === 'function' ? check : undefined;
  const unavailable: Problem[] = check && typeof check !== 'function' ? [{ path: [], message: check.unavailable }] : [];

  if (file.endsWith('.json')) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      return { file, kind: 'plugin-config', problems: [{ path: [], message: `not JSON: ${(err as Error).message}` }] };
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return { file, kind: 'plugin-config', problems: [{ path: [], message: 'a plugin configuration must be a JSON object' }] };
    }
    const problems = [...unavailable];
    const rejected = pluginCheck ? await pluginCheck({ configuration: text }) : null;
    if (rejected !== null) problems.push({ path: [], message: `the module rejects this plugin configuration: ${rejected}` });
    return { file, kind: 'plugin-config', problems };
  }

  let docs;
  try {
    docs = parseYaml(text, file);
  } catch (err) {
    if (err instanceof YamlSyntaxError) {
      return { file, kind: undefined, problems: [{ path: [], message: err.reason, ...(err.line !== undefined ? { line: err.line } : {}) }] };
    }
    throw err;
  }
  if (docs.length === 0) return { file, kind: undefined, problems: [{ path: [], message: 'the file holds no YAML document' }] };

  if (isManifest(docs[0]!.value)) {
    const problems: Problem[] = [];
    let needsModule = false;
    for (const doc of docs) {
      problems.push(...withLines(await checkManifest(doc.value, pluginCheck), doc));
      const v = doc.value as Record<string, unknown>;
      if (v.kind === 'WasmPlugin') needsModule = true;
    }
    return { file, kind: 'kubernetes', problems: needsModule ? [...unavailable, ...problems] : problems };
  }

  if (docs.length > 1) return { file, kind: 'envoy', problems: [{ path: [], message: 'an Envoy bootstrap is a single YAML document' }] };
  const doc = docs[0]!;
  const schema = withLines(envoyBootstrapProblems(doc.value), doc);
  const semantic = withLines(
    await checkEnvoyBootstrap(doc.value, {
      cwd: options.envoyCwd ?? process.cwd(),
      moduleFile: options.moduleFile ?? DEFAULT_MODULE,
      pluginCheck,
    }),
    doc,
  );
  const usesWasm = semantic.length > 0 || JSON.stringify(doc.value).includes('network.wasm.v3.Wasm');
  return { file, kind: 'envoy', problems: [...(usesWasm ? unavailable : []), ...schema, ...semantic] };
}

const USAGE = 'usage: node dist/deploy/validate.js [--module FILE] [--envoy-cwd DIR] [--no-module-check] FILE...';

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
  for (const file of files) {
    if (!fs.existsSync(file)) {
      console.error(`${file}: no such file`);
      failed++;
      continue;
    }
    const result = await validateFile(file, options);
    if (result.problems.length === 0) console.log(`ok ${file} (${result.kind})`);
    else {
      failed++;
      for (const p of result.problems) console.error(formatProblem(file, p));
    }
  }
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
