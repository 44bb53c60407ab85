// Envoy's v3 API protos, as shipped by @grpc/grpc-js-xds (deps/envoy-api with
// its xds, googleapis and protoc-gen-validate imports), loaded with protobufjs.
//
// Packages are loaded on demand: Envoy's API keeps one package per folder
// (envoy.extensions.filters.network.wasm.v3 → envoy/extensions/filters/network/wasm/v3/),
// so an `@type` naming any extension resolves without a hand-kept list, and a
// misspelt one fails to resolve.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import protobuf from 'protobufjs';

const require = createRequire(import.meta.url);

export const BOOTSTRAP_TYPE = 'envoy.config.bootstrap.v3.Bootstrap';

function protoDirs(): string[] {
  // The package's "exports" hides package.json, so find it from its main entry.
  const main = require.resolve('@grpc/grpc-js-xds');
  let dir = path.dirname(main);
  while (!fs.existsSync(path.join(dir, 'deps', 'envoy-api'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find @grpc/grpc-js-xds/deps/envoy-api (run npm ci)');
    dir = up;
  }
  return ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => path.join(dir, 'deps', d));
}

function protobufjsDir(): string {
  return path.dirname(require.resolve('protobufjs/package.json'));
}

export class EnvoyApi {
  readonly root: protobuf.Root;
  private readonly dirs: string[];
  private readonly triedPackages = new Set<string>();

  constructor() {
    this.dirs = protoDirs();
    const pbjs = protobufjsDir();
    this.root = new protobuf.Root();
    this.root.resolvePath = (_origin: string, target: string): string | null => {
      if (path.isAbsolute(target) && fs.existsSync(target)) return target;
      // descriptor.proto comes from protobufjs; the other google/protobuf
      // types are protobufjs built-ins and resolve without a file.
      if (target.startsWith('google/protobuf/')) {
        const p = path.join(pbjs, target);
        return fs.existsSync(p) ? p : null;
      }
      for (const d of this.dirs) {
        const p = path.join(d, target);
        if (fs.existsSync(p)) return p;
      }
      return null;
    };
    this.loadFiles(['envoy/config/bootstrap/v3/bootstrap.proto']);
  }

  private loadFiles(files: string[]): void {
    this.root.loadSync(files, { keepCase: true });
    this.root.resolveAll();
  }

  /** The message or enum with this full name (no leading dot), loading its package if needed. */
  lookup(fullName: string): protobuf.Type | protobuf.Enum | null {
    const found = this.find(fullName);
    if (found) return found;
    const parts = fullName.split('.');
    // Try the longest package prefix first: a.b.c.v3.Msg → a/b/c/v3; nested
    // message names (a.b.v3.Outer.Inner) fall back to a/b/v3.
    for (let n = parts.length - 1; n >= 2; n--) {
      const pkg = parts.slice(0, n).join('.');
      if (this.triedPackages.has(pkg)) continue;
      this.triedPackages.add(pkg);
      const rel = parts.slice(0, n).join('/');
      const files: string[] = [];
      for (const d of this.dirs) {
        const dir = path.join(d, rel);
        if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) continue;
        for (const f of fs.readdirSync(dir).sort()) if (f.endsWith('.proto')) files.push(`${rel}/${f}`);
      }
      if (files.length === 0) continue;
      this.loadFiles(files);
      const again = this.find(fullName);
      if (again) return again;
    }
    return null;
  }

  private find(fullName: string): protobuf.Type | protobuf.Enum | null {
    try {
      const r = this.root.lookup(fullName.startsWith('.') ? fullName : `.${fullName}`);
      if (r instanceof protobuf.Type || r instanceof protobuf.Enum) return r;
      return null;
    } catch {
      return null;
    }
  }

  lookupType(fullName: string): protobuf.Type | null {
    const t = this.lookup(fullName);
    return t instanceof protobuf.Type ? t : null;
  }
}

let shared: EnvoyApi | undefined;
/** One loaded API per process: loading the bootstrap closure takes a few hundred ms. */
export function envoyApi(): EnvoyApi {
  shared ??= new EnvoyApi();
  return shared;
}
