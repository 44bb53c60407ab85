// ppv2-istio (tests/istio): Istio's own Go code, pinned in tests/istio/go.mod,
// built on demand and run as a child process. The tests walk a WasmPlugin's
// delivery with it (fetch, istiod, agent), and the validator checks Istio
// manifests with it (validate). See tests/istio/main.go for the subcommands.
//
// The build is cached: the binary is rebuilt only when a source file in
// tests/istio is newer than it. The first build downloads Istio's modules
// from the Go module proxy and compiles them (a few minutes);
// a rebuild after a change takes seconds, from Go's build cache.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The Go program's folder (its own go.mod). */
export const ISTIO_GO_DIR = path.join(PACKAGE_ROOT, 'tests', 'istio');
/** Where the binary is built (git-ignored). */
export const ISTIO_TOOL = path.join(PACKAGE_ROOT, '.tools', 'ppv2-istio', 'ppv2-istio');

/** Go or the program's sources are missing: the one-line reason, with what to install. */
export class IstioToolUnavailable extends Error {}

interface Run {
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], options: { cwd?: string; input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      command,
      args,
      { cwd: options.cwd, env: options.env ?? process.env, maxBuffer: 64 * 1024 * 1024, timeout: options.timeoutMs ?? 60_000, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err) {
          const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? `${command} is not installed` : stderr.trim().split('\n').slice(-5).join('\n') || err.message;
          reject(Object.assign(new Error(`${path.basename(command)} ${args[0] ?? ''}: ${why}`), { stdout, stderr, code: (err as NodeJS.ErrnoException).code }));
        } else resolve({ stdout, stderr });
      },
    );
    if (options.input !== undefined) child.stdin!.end(options.input);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function newestSource(): number {
  let newest = 0;
  for (const f of fs.readdirSync(ISTIO_GO_DIR)) {
    if (f.endsWith('.go') || f === 'go.mod' || f === 'go.sum') newest = Math.max(newest, fs.statSync(path.join(ISTIO_GO_DIR, f)).mtimeMs);
  }
  return newest;
}

function fresh(): boolean {
  return fs.existsSync(ISTIO_TOOL) && fs.statSync(ISTIO_TOOL).mtimeMs >= newestSource();
}

/**
 * The path of a ppv2-istio binary built from the current sources. Several
 * test files may ask at once: one builds (under a lock directory), the others
 * wait for it. `onBuild` hears when a build starts.
 */
export async function istioTool(options: { onBuild?: (message: string) => void; timeoutMs?: number } = {}): Promise<string> {
  if (!fs.existsSync(path.join(ISTIO_GO_DIR, 'go.mod'))) {
    throw new IstioToolUnavailable(`${path.relative(process.cwd(), ISTIO_GO_DIR)}/go.mod is missing: Istio's checks run from a source checkout of ppv2-wasm`);
  }
  if (fresh()) return ISTIO_TOOL;
  const lock = `${ISTIO_TOOL}.lock`;
  fs.mkdirSync(path.dirname(ISTIO_TOOL), { recursive: true });
  const deadline = Date.now() + (options.timeoutMs ?? 20 * 60_000);
  for (;;) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // A lock older than the deadline was left by a build that died.
      if (Date.now() - fs.statSync(lock, { throwIfNoEntry: false })!.mtimeMs > (options.timeoutMs ?? 20 * 60_000)) fs.rmSync(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`ppv2-istio: another build holds ${lock}`);
      await sleep(500);
    }
  }
  try {
    if (fresh()) return ISTIO_TOOL;
    options.onBuild?.(`building ${path.relative(process.cwd(), ISTIO_TOOL)} from ${path.relative(process.cwd(), ISTIO_GO_DIR)} (Istio's Go code; the first build takes a few minutes)`);
    const tmp = `${ISTIO_TOOL}.${process.pid}.tmp`;
    try {
      // No VCS stamp: the binary is a test tool, and a checkout may not be a git repository.
      await run('go', ['build', '-buildvcs=false', '-o', tmp, '.'], { cwd: ISTIO_GO_DIR, timeoutMs: options.timeoutMs ?? 20 * 60_000 });
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') {
        throw new IstioToolUnavailable(`go is not installed: Istio's checks build ${path.relative(process.cwd(), ISTIO_GO_DIR)} with Go (the version in its go.mod or newer)`);
      }
      throw err;
    }
    fs.renameSync(tmp, ISTIO_TOOL);
    return ISTIO_TOOL;
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

/** Runs a ppv2-istio subcommand; resolves to its JSON result and Istio's log lines. */
export async function runIstioTool<T>(binary: string, args: string[], input?: string): Promise<{ result: T; log: string }> {
  const { stdout, stderr } = await run(binary, args, input === undefined ? {} : { input });
  return { result: JSON.parse(stdout) as T, log: stderr };
}

/** istio.io/api's CRD file, at the version tests/istio/go.mod pins. */
export async function istioApiCrds(): Promise<string> {
  const { stdout } = await run('go', ['list', '-m', '-f', '{{.Dir}}', 'istio.io/api'], { cwd: ISTIO_GO_DIR });
  return path.join(stdout.trim(), 'kubernetes', 'customresourcedefinitions.gen.yaml');
}

/** The Istio versions tests/istio/go.mod pins, as `go list` reports them. */
export async function istioVersions(): Promise<{ istio: string; api: string }> {
  const { stdout } = await run('go', ['list', '-m', '-f', '{{.Path}} {{.Version}}', 'istio.io/istio', 'istio.io/api'], { cwd: ISTIO_GO_DIR });
  const v = Object.fromEntries(stdout.trim().split('\n').map((l) => l.split(' ')));
  return { istio: v['istio.io/istio'] ?? '', api: v['istio.io/api'] ?? '' };
}
