// Unknown-field detection for Kubernetes manifests. The model packages
// (@kubernetes-models/istio, kubernetes-models) validate types and enums with
// schemas generated from the CRDs/OpenAPI, but those schemas let unknown keys
// through, and so does the API server (it prunes them): a typo such as
// `failStratgy` silently turns into the default. Their TypeScript declarations
// are generated from the same schemas and list every field, so the allowed
// keys are read from there with the TypeScript compiler's type checker.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { editDistance, type PathSegment, type Problem } from './problem.js';

export interface ShapeSource {
  /** apiVersion/kind, e.g. "extensions.istio.io/v1alpha1/WasmPlugin". */
  key: string;
  /** Module specifier the type is imported from. */
  module: string;
  /** Exported interface name, e.g. "IWasmPlugin". */
  typeName: string;
}

const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export class ShapeChecker {
  private readonly checker: ts.TypeChecker;
  private readonly types = new Map<string, ts.Type>();

  constructor(sources: readonly ShapeSource[]) {
    const fileName = path.join(PROJECT_ROOT, '__ppv2_k8s_shapes__.ts');
    const text = sources
      .map((s, i) => `import type { ${s.typeName} as T${i} } from ${JSON.stringify(s.module)};\nexport declare const v${i}: T${i};`)
      .join('\n');
    const options: ts.CompilerOptions = {
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      strict: true,
      skipLibCheck: true,
      noEmit: true,
      types: [],
    };
    const host = ts.createCompilerHost(options);
    const getSourceFile = host.getSourceFile.bind(host);
    host.getSourceFile = (name, lang, onError, create) =>
      path.resolve(name) === fileName ? ts.createSourceFile(name, text, lang) : getSourceFile(name, lang, onError, create);
    const fileExists = host.fileExists.bind(host);
    host.fileExists = (name) => path.resolve(name) === fileName || fileExists(name);
    const program = ts.createProgram([fileName], options, host);
    this.checker = program.getTypeChecker();
    const sf = program.getSourceFile(fileName);
    if (!sf) throw new Error('k8s-shapes: cannot build the type program');
    const diags = ts.getPreEmitDiagnostics(program, sf);
    if (diags.length > 0) {
      throw new Error(`k8s-shapes: ${ts.flattenDiagnosticMessageText(diags[0]!.messageText, ' ')}`);
    }
    const moduleSymbol = this.checker.getSymbolAtLocation(sf);
    const exportsOf = moduleSymbol ? this.checker.getExportsOfModule(moduleSymbol) : [];
    sources.forEach((s, i) => {
      const sym = exportsOf.find((e) => e.name === `v${i}`);
      if (!sym) throw new Error(`k8s-shapes: cannot resolve ${s.typeName} from ${s.module}`);
      this.types.set(s.key, this.checker.getTypeOfSymbol(sym));
    });
  }

  has(key: string): boolean {
    return this.types.has(key);
  }

  /** Problems for every key that the type for `key` does not declare. */
  unknownFields(key: string, value: unknown): Problem[] {
    const type = this.types.get(key);
    if (!type) return [{ path: [], message: `no declared shape for ${key}` }];
    const problems: Problem[] = [];
    this.walk(value, type, [], problems);
    return problems;
  }

  private walk(value: unknown, type: ts.Type, at: PathSegment[], problems: Problem[]): void {
    if (value === null || value === undefined) return;
    const t = this.checker.getNonNullableType(type);
    if (Array.isArray(value)) {
      const element = this.elementType(t);
      if (element) value.forEach((v, i) => this.walk(v, element, [...at, i], problems));
      return;
    }
    if (typeof value !== 'object') return; // scalar types are the model validator's job
    const objects = (t.isUnion() ? t.types : [t]).filter((m) => (m.flags & ts.TypeFlags.Object) !== 0 || m.isIntersection());
    if (objects.length === 0) return;
    const props = new Map<string, ts.Symbol>();
    let index: ts.Type | undefined;
    for (const o of objects) {
      const ps = this.checker.getPropertiesOfType(o);
      const idx = this.checker.getIndexTypeOfType(o, ts.IndexKind.String);
      // `{}` is what the generators emit for free-form objects
      // (x-kubernetes-preserve-unknown-fields, e.g. WasmPlugin pluginConfig).
      if (ps.length === 0 && !idx) return;
      if (idx) index = idx;
      for (const p of ps) props.set(p.name, p);
    }
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      const p = props.get(k);
      if (p) this.walk(v, this.checker.getTypeOfSymbol(p), [...at, k], problems);
      else if (index) this.walk(v, index, [...at, k], problems);
      else {
        const near = [...props.keys()].find((n) => n.toLowerCase() === k.toLowerCase()) ?? [...props.keys()].find((n) => editDistance(n, k) <= 2);
        problems.push({ path: [...at, k], message: `unknown field "${k}"${near ? ` (did you mean "${near}"?)` : ''}` });
      }
    }
  }

  private elementType(t: ts.Type): ts.Type | undefined {
    for (const m of t.isUnion() ? t.types : [t]) {
      const name = m.getSymbol()?.getName();
      if ((name === 'Array' || name === 'ReadonlyArray') && (m.flags & ts.TypeFlags.Object) !== 0) {
        return this.checker.getTypeArguments(m as ts.TypeReference)[0];
      }
    }
    return undefined;
  }
}
