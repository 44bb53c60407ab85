// Envoy's own verdict on a bootstrap: `envoy --mode validate`, which builds
// the whole configuration as a real start would, without opening a socket.
//
// What 1.40.0 checks in that mode (observed with the fixtures in
// tests/deploy/fixtures/envoy/): the YAML/JSON against its protos (unknown
// fields, wrong types and enum values, unresolvable @type, oneofs) and their
// validation rules; the filter chain order (a terminal filter such as
// tcp_proxy must come last, and the last filter must be terminal); files the
// config names (a missing module, certificates); and the Wasm filter itself:
// it loads the module and runs proxy_on_vm_start and proxy_on_configure, so a
// plugin configuration the module refuses fails, with the module's own log
// line. Deprecated fields only give a warning, which is reported here as a
// problem. What it does not check is in envoy-checks.ts.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findEnvoy } from './envoy-launcher.js';
import { parseFieldPath, type PathSegment } from './problem.js';

const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface EnvoyBinary {
  command: string;
  /** Arguments before Envoy's own (["run"] for func-e). */
  prefix: string[];
  env: NodeJS.ProcessEnv;
  /** e.g. "1.40.0" */
  version: string;
}

export interface EnvoyVerdict {
  /** Envoy's reason for refusing the configuration, or null when it accepts it. */
  error: string | null;
  /** Where in the configuration, when Envoy names the field ("@ static_resources.clusters[0]..."). */
  errorPath: PathSegment[];
  /** The Wasm module's own error lines ("wasm log: ..."), which say why it refused its configuration. */
  moduleLog: string[];
  /** Envoy's own Wasm errors other than the generic "failed to load" ones (a missing import, an unknown runtime). */
  wasmErrors: string[];
  /** "Using deprecated option ..." warnings. */
  deprecated: string[];
}

/**
 * The Envoy to validate with: PPV2_ENVOY, else the pinned one
 * scripts/install-envoy.sh put in .tools/bin, else func-e or envoy on PATH.
 * Null when there is none.
 */
export function findValidatingEnvoy(env: NodeJS.ProcessEnv = process.env): EnvoyBinary | null {
  let command: string;
  let prefix: string[] = [];
  let extraEnv: Record<string, string> = {};
  const pinned = path.join(PACKAGE_ROOT, '.tools', 'bin', 'envoy');
  if (env.PPV2_ENVOY) command = env.PPV2_ENVOY;
  else if (fs.existsSync(pinned)) command = pinned;
  else {
    const found = findEnvoy(env) as (ReturnType<typeof findEnvoy> & { env?: Record<string, string> }) | null;
    if (!found) return null;
    command = found.command;
    prefix = found.prefix;
    extraEnv = found.env ?? {};
  }
  const fullEnv = { ...env, ...extraEnv };
  const v = spawnSync(command, [...prefix, '--version'], { env: fullEnv, encoding: 'utf8', timeout: 120_000 });
  if (v.error || v.status !== 0) return null;
  const version = /version: [0-9a-f]+\/(\d+\.\d+\.\d+)/.exec(v.stdout)?.[1] ?? 'unknown';
  return { command, prefix, env: fullEnv, version };
}

/** Runs `envoy --mode validate` on a bootstrap file; relative paths in it resolve from `cwd`. */
export function envoyValidateFile(envoy: EnvoyBinary, file: string, cwd: string): EnvoyVerdict {
  const run = spawnSync(
    envoy.command,
    [...envoy.prefix, '--mode', 'validate', '-c', path.resolve(file), '--log-level', 'warning', '--disable-hot-restart'],
    { cwd, env: envoy.env, encoding: 'utf8', timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
  );
  if (run.error) throw new Error(`could not run ${envoy.command}: ${run.error.message}`);
  const output = `${run.stdout}\n${run.stderr}`;
  const lines = output.split('\n');
  const moduleLog = lines.flatMap((l) => {
    const m = /\]\[(?:error|critical)\]\[wasm\] \[[^\]]+\] wasm log(?: [^:]*)?: (.*)$/.exec(l);
    return m ? [m[1]!] : [];
  });
  const wasmErrors = lines.flatMap((l) => {
    const m = /\]\[(?:warning|error|critical)\]\[wasm\] \[[^\]]+\] (.*)$/.exec(l);
    return m && !/^wasm log|^Wasm VM failed|failed to load$/.test(m[1]!) ? [m[1]!] : [];
  });
  const deprecated = lines.flatMap((l) => {
    const m = /(Using deprecated option '[^']+'[^.]*)/.exec(l);
    return m ? [m[1]!] : [];
  });
  if (run.status === 0) return { error: null, errorPath: [], moduleLog, wasmErrors, deprecated };
  // "error initializing configuration '<file>': <reason>", where the reason
  // may run over several lines (a proto validation message).
  const at = output.indexOf('error initializing configuration');
  const reason = (at < 0 ? output.trim().split('\n').slice(-3).join(' ') : output.slice(at).replace(/^error initializing configuration '[^']*': ?/, ''))
    .replace(/goo\.gle\/debug\w*/g, '') // a marker Envoy's proto printer adds
    .replace(/\): \{[\s\S]*$/, ')') // the whole configuration echoed after the reason
    .replace(/\s+/g, ' ')
    .trim();
  // Proto parse errors name the field: "... @ static_resources.listeners[0].filter_chains[0].filters[0].typed_config.<any>.config.vm_config: ... no such field: 'runtme'".
  const field = /@ ([\w.[\]<>]+)/.exec(reason)?.[1];
  const unknown = /no such field: +'([^']+)'/.exec(reason)?.[1];
  const errorPath = field ? [...parseFieldPath(field.replace(/\.<any>/g, '')), ...(unknown ? [unknown] : [])] : [];
  return { error: reason || `exit status ${run.status}`, errorPath, moduleLog, wasmErrors, deprecated };
}

/** The same for a bootstrap given as text (written to a temporary file). */
export function envoyValidateText(envoy: EnvoyBinary, text: string, cwd: string, name = 'bootstrap.yaml'): EnvoyVerdict {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ppv2-validate-'));
  try {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return envoyValidateFile(envoy, file, cwd);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
