// Running the filter in a real Envoy: finding Envoy (func-e, or envoy on
// PATH), deriving a bootstrap from envoy/envoy.yaml with other ports, module
// or plugin configuration, and starting it with a bounded wait until it is
// ready. Used by `npm run start:envoy` and by the e2e suite (E2E_PROXY=envoy).
// No Envoy can run on the build machines; CI installs func-e.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { isMap, isSeq, parseDocument, type Document, type YAMLMap } from 'yaml';

export const FUNC_E_INSTALL_HELP = `Neither func-e nor envoy was found on PATH.
Install func-e (it downloads the Envoy version pinned in .envoy-version):
  curl -L https://func-e.io/install.sh | bash -s -- -b /usr/local/bin
  # or: go install github.com/tetratelabs/func-e/cmd/func-e@latest
  # or: brew install func-e
Or put an envoy binary on PATH, or point PPV2_ENVOY at one.`;

export interface EnvoyCommand {
  command: string;
  /** Arguments before Envoy's own (["run"] for func-e). */
  prefix: string[];
  via: 'func-e' | 'envoy' | 'PPV2_ENVOY';
}

function onPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** PPV2_ENVOY (a binary), else func-e (honours .envoy-version), else envoy on PATH. */
export function findEnvoy(env: NodeJS.ProcessEnv = process.env): EnvoyCommand | null {
  if (env.PPV2_ENVOY) return { command: env.PPV2_ENVOY, prefix: [], via: 'PPV2_ENVOY' };
  const funcE = onPath('func-e', env);
  if (funcE) return { command: funcE, prefix: ['run'], via: 'func-e' };
  const envoy = onPath('envoy', env);
  if (envoy) return { command: envoy, prefix: [], via: 'envoy' };
  return null;
}

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
  /** Keep only the first listener, on this address and port (the e2e suite's shape). */
  singleListener?: { address: string; port: number };
  /**
   * PluginConfig.failure_policy of every wasm filter (Envoy >= 1.33; newer than
   * the protos npm test validates against, so only for runs on a real Envoy).
   */
  failurePolicy?: 'FAIL_OPEN' | 'FAIL_CLOSED';
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
    first.setIn(['address', 'socket_address', 'address'], o.singleListener.address);
    first.setIn(['address', 'socket_address', 'port_value'], o.singleListener.port);
  }
  if (isSeq(listeners)) {
    for (let i = listeners.items.length - 1; i >= 0; i--) {
      const l = map(listeners.items[i], `listener ${i}`);
      const addr = String(l.getIn(['address', 'socket_address', 'address']) ?? '');
      const v6 = addr.includes(':');
      if (v6 && o.listenPortV6 === null && !o.singleListener) {
        listeners.items.splice(i, 1);
        continue;
      }
      const port = o.singleListener ? undefined : v6 ? o.listenPortV6 : o.listenPort;
      if (port !== undefined && port !== null) l.setIn(['address', 'socket_address', 'port_value'], port);
      const chains = l.get('filter_chains');
      if (!isSeq(chains)) continue;
      for (const chain of chains.items) {
        const filters = map(chain, 'filter chain').get('filters');
        if (!isSeq(filters)) continue;
        for (const f of filters.items) {
          const typed = map(f, 'filter').get('typed_config');
          if (!isMap(typed) || typed.get('@type') !== WASM_TYPE) continue;
          if (o.wasmPath !== undefined) typed.setIn(['config', 'vm_config', 'code', 'local', 'filename'], o.wasmPath);
          if (o.failurePolicy !== undefined) typed.setIn(['config', 'failure_policy'], o.failurePolicy);
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
  /** Bounded wait for "LIVE"; func-e may first download Envoy. Default 120 s. */
  readyTimeoutMs?: number;
  /** Envoy's stdout/stderr lines (the access log goes to stdout). */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  logLevel?: string;
}

export interface RunningEnvoy {
  pid: number;
  via: EnvoyCommand['via'];
  adminAddress: string;
  /** Bound port per listener name (useful with port 0). */
  listenerPorts: Record<string, number>;
  /** Counters/gauges whose name contains `filter` (e.g. "wasmcustom.ppv2"). */
  stats(filter: string): Promise<Record<string, number>>;
  stop(): Promise<void>;
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

export async function startEnvoy(options: StartEnvoyOptions): Promise<RunningEnvoy> {
  const env = options.env ?? process.env;
  const found = findEnvoy(env);
  if (!found) throw new Error(FUNC_E_INSTALL_HELP);
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
    '--log-level', options.logLevel ?? 'info',
  ];
  const tail: string[] = [];
  const child = spawn(found.command, args, { cwd: options.cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const onLine = (stream: 'stdout' | 'stderr') => (l: string) => {
    tail.push(l);
    if (tail.length > 20) tail.shift();
    options.onLine?.(l, stream);
  };
  lines(child.stdout!, onLine('stdout'));
  lines(child.stderr!, onLine('stderr'));
  let exit: string | undefined;
  child.once('exit', (code, sig) => (exit = `exited (${sig ?? code})`));
  child.once('error', (err) => (exit = `could not start ${found.command}: ${err.message}`));

  const cleanup = async (): Promise<void> => {
    await stopChild(child);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + (options.readyTimeoutMs ?? 120_000);
  let admin = '';
  try {
    for (;;) {
      if (exit) throw new Error(`envoy ${exit} before it was ready:\n${tail.join('\n')}`);
      if (Date.now() > deadline) throw new Error(`envoy not ready within ${options.readyTimeoutMs ?? 120_000} ms:\n${tail.join('\n')}`);
      if (!admin && fs.existsSync(adminPath)) admin = fs.readFileSync(adminPath, 'utf8').trim();
      if (admin) {
        const ready = await get(`http://${admin}/ready`, 1000).catch(() => undefined);
        if (ready?.status === 200 && ready.body.trim() === 'LIVE') break;
      }
      await sleep(100);
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
  listenHost?: string;
  /** Plugin configuration JSON; default: the one in the template. */
  configuration?: string;
  /** Absolute path of the module; default build/ppv2.wasm of `cwd`. */
  wasmPath?: string;
  failOpen?: boolean;
  /** Repository root (Envoy's working directory). */
  cwd: string;
  /** Bootstrap template, relative to cwd; default envoy/envoy.yaml. */
  template?: string;
  readyTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Called with each line Envoy prints, as it arrives (the e2e suite awaits access-log lines). */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
}

export interface EnvoyProxy {
  host: string;
  port: number;
  /** Envoy's stdout lines: the tcp_proxy access log, one line per connection. */
  lines: string[];
  stderr: string[];
  stats: RunningEnvoy['stats'];
  stop(): Promise<void>;
}

/**
 * The shape tests/e2e/proxy-under-test.mjs uses for its proxy: envoy/envoy.yaml
 * reduced to one listener on listenHost:<free port>, forwarding to
 * upstreamHost:upstreamPort through the module with `configuration`.
 */
export async function startEnvoyProxy(o: EnvoyProxyOptions): Promise<EnvoyProxy> {
  const listenHost = o.listenHost ?? '127.0.0.1';
  const template = fs.readFileSync(path.resolve(o.cwd, o.template ?? 'envoy/envoy.yaml'), 'utf8');
  const bootstrap = renderBootstrap(template, {
    singleListener: { address: listenHost, port: 0 },
    adminPort: 0,
    backend: { host: o.upstreamHost ?? '127.0.0.1', port: o.upstreamPort },
    wasmPath: o.wasmPath ?? path.resolve(o.cwd, 'build/ppv2.wasm'),
    ...(o.configuration !== undefined ? { pluginConfiguration: o.configuration } : {}),
    ...(o.failOpen ? { failurePolicy: 'FAIL_OPEN' as const } : {}),
  });
  const lines: string[] = [];
  const stderr: string[] = [];
  const envoy = await startEnvoy({
    bootstrap,
    cwd: o.cwd,
    ...(o.env ? { env: o.env } : {}),
    ...(o.readyTimeoutMs !== undefined ? { readyTimeoutMs: o.readyTimeoutMs } : {}),
    onLine: (line, stream) => {
      (stream === 'stdout' ? lines : stderr).push(line);
      o.onLine?.(line, stream);
    },
  });
  const port = Object.values(envoy.listenerPorts)[0];
  if (port === undefined) {
    await envoy.stop();
    throw new Error('envoy is ready but reports no listener');
  }
  return { host: listenHost, port, lines, stderr, stats: (f) => envoy.stats(f), stop: () => envoy.stop() };
}
