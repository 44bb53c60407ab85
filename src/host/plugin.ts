// Loading a module the way Envoy does, the root context, ticks, logs, metrics and the failure
// policy. Sources:
//   - proxy-wasm/proxy-wasm-cpp-host src/wasm.cc (load: ABI marker; initialize: register
//     callbacks, link, getFunctions, startVm; start/configure; startShutdown, done),
//     src/bytecode_util.cc (getAbiVersion), src/v8/v8.cc (link: a missing or mistyped import
//     refuses the module; getModuleFunctionImpl: a mistyped export refuses it),
//     src/context.cc (onStart, onConfigure, onTick, onDone, onDelete);
//   - envoyproxy/envoy source/extensions/common/wasm/wasm.cc (PluginConfig: failure_policy,
//     fail_open; createContext: FAIL_OPEN skips the filter, FAIL_CLOSED gives an empty context)
//     and source/extensions/common/wasm/context.cc (log, getLogLevel).
import { readFile } from 'node:fs/promises';
import {
  ABI_MARKERS,
  HOST_FUNCTIONS,
  LOG_LEVEL_NAMES,
  LogLevel,
  type LogLevelName,
  MetricType,
  MODULE_FUNCTIONS,
  ONLY_IN_0_2_1,
  printSignature,
  StreamType,
  WasmResult,
} from './abi.js';
import { ByteQueue, EMPTY_BYTES } from './buffer.js';
import { Connection, type ConnectionProps, type ConnectionSink } from './connection.js';
import { HostFaults } from './faults.js';
import { createImports, type ImportHost } from './imports.js';
import { Metrics, type MetricSnapshot } from './metrics.js';
import { type ExportInfo, type ModuleInfo, readModuleInfo } from './module-info.js';
import { type PropertyValue, toPropertyMap } from './properties.js';
import { HostCallStats } from './stats.js';
import { type HostContext, RefusalSignal, Vm } from './vm.js';

export type FailurePolicy = 'FAIL_CLOSED' | 'FAIL_OPEN';

/** Options of startPlugin(). Only `wasm` is required. */
export interface PluginOptions {
  /** The module: a file path, its bytes, or a compiled WebAssembly.Module (then imports and exports can only be checked by name). */
  wasm: string | Uint8Array | ArrayBuffer | WebAssembly.Module;
  /** Plugin configuration (Envoy `config.configuration`, Istio `pluginConfig` as JSON). Default empty. */
  configuration?: string | Uint8Array;
  /** VM configuration (Envoy `vm_config.configuration`). Default empty. */
  vmConfiguration?: string | Uint8Array;
  /** Envoy `root_id`; default "" (what Istio sets for an empty pluginName). */
  rootId?: string;
  /** Envoy `config.name` (`plugin_name`); default "". */
  pluginName?: string;
  /** Envoy `vm_config.vm_id` (`plugin_vm_id`); default "". */
  vmId?: string;
  /** What a failed VM does to connections; default FAIL_CLOSED, as Envoy. */
  failurePolicy?: FailurePolicy;
  /** Envoy's `wasm` log level: lower-level plugin logs are dropped; proxy_get_log_level returns it. Default 'info'. */
  logLevel?: LogLevelName | number;
  /** Called for every log entry kept. */
  onLog?: (entry: LogEntry) => void;
  /** Run proxy_on_tick on a real (unref'd) timer at the period the plugin sets; off by default (call plugin.tick()). */
  tickTimers?: boolean;
  /** Property overrides visible in every context, the root one too (same encoding rules as a connection's). */
  properties?: Record<string, PropertyValue>;
}

/** One log line. `level` is Proxy-Wasm's (trace 0 ... critical 5). */
export interface LogEntry {
  level: number;
  levelName: LogLevelName;
  /** The plugin's text, or the host's for VM failures. */
  message: string;
  /** The context that logged (0 for host messages with no context). */
  context: number;
  /** The line as Envoy prints it: `wasm log <name> <root_id> <vm_id>: <message>`. */
  line: string;
  origin: 'plugin' | 'host';
}

/** Thrown by startPlugin() when Envoy would refuse the module or its configuration. */
export class PluginStartError extends Error {
  constructor(
    message: string,
    /** What the plugin logged before it was refused. */
    readonly logs: readonly LogEntry[],
  ) {
    super(message);
    this.name = 'PluginStartError';
  }
}

const MAX_LOGS = 10_000;
type Fn = (...args: number[]) => number | undefined;

/** The module exports the host calls. */
export type ModuleFunctions = Partial<Record<keyof typeof MODULE_FUNCTIONS, Fn>>;

class RootContext implements HostContext {
  readonly isRoot = true;
  pluginConfigVisible = false;
  readonly downstreamBuffer = null;
  readonly upstreamBuffer = null;
  lastBuffer: ByteQueue | Uint8Array = EMPTY_BYTES;
  constructor(
    readonly id: number,
    readonly owner: Plugin,
  ) {}
  property(key: string): Uint8Array | null | WasmResult {
    if (key.endsWith('\0')) key = key.slice(0, -1);
    // No connection here: source, destination and connection properties are NotFound.
    return this.owner.pluginProperty(key) ?? (key.length === 0 ? WasmResult.SerializationFailure : null);
  }
  setProperty(): WasmResult {
    return WasmResult.NotFound; // no stream info to hold filter state
  }
  continueStream(type: number): WasmResult {
    return type === StreamType.Upstream ? WasmResult.Unimplemented : WasmResult.Ok;
  }
  closeStream(): WasmResult {
    return WasmResult.Ok;
  }
}

/**
 * @internal What the plugins sharing one VM share, as in proxy-wasm-cpp-host's WasmBase: the
 * instance, its context ids and context table, the failed state, host call counts and metrics.
 */
export class SharedVm {
  readonly contexts = new Map<number, HostContext>();
  readonly stats = new HostCallStats();
  readonly metrics = new Metrics();
  readonly faults = new HostFaults();
  /** The plugins whose root context is not yet deleted, in start order. */
  readonly roots = new Set<Plugin>();
  readonly vm: Vm;
  readonly importHost: ImportHost;
  exportsFns: ModuleFunctions = {};
  nextContextId = 1; // WasmBase::allocContextId: one sequence for root and stream contexts

  constructor(
    readonly vmConfiguration: Uint8Array,
    readonly vmId: string,
  ) {
    // A VM failure concerns every plugin in it: each one's log says why.
    this.vm = new Vm(
      this.contexts,
      this.stats,
      (message) => {
        for (const p of this.roots) p.hostLog(LogLevel.error, message);
      },
      this.faults,
    );
    this.importHost = { vm: this.vm, stats: this.stats, metrics: this.metrics, vmConfiguration, faults: this.faults };
  }
}

/** Options of plugin.addRoot(): a PluginOptions without what belongs to the VM. */
export type RootOptions = Omit<PluginOptions, 'wasm' | 'vmConfiguration' | 'vmId'>;

/**
 * A running plugin: its root context in a VM, and the connections it filters. Plugins made with
 * addRoot() share the VM with the plugin they were added to.
 */
export class Plugin {
  /** Log entries kept (the last 10,000): this plugin's contexts', and the VM's failures. */
  readonly logs: LogEntry[] = [];
  /** Host calls made by the module, per import and in total, and allocator calls; `stats.reset()` zeroes them. Shared by the plugins of one VM. */
  readonly stats: HostCallStats;
  /** This plugin's root context id: 1 for the plugin that started the VM. */
  readonly rootContextId: number;
  /** @internal */ readonly vm: Vm;
  /** @internal the same object for every plugin of the VM */ exportsFns: ModuleFunctions;
  /** @internal */ readonly failOpen: boolean;
  /** @internal */ readonly shared: SharedVm;

  private readonly root: RootContext;
  /** plugin_root_id, plugin_name, plugin_vm_id, shadowed by the caller's `properties`. */
  private readonly pluginProps: Map<string, Uint8Array | null>;
  private level: number;
  private tickMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private state: 'running' | 'stopping' | 'stopped' = 'running';
  private readonly logPrefixRoot: string;
  private readonly logPrefixStream: string;
  private readonly key: string;

  /** @internal use startPlugin() or addRoot() */
  constructor(
    private readonly options: RootOptions,
    readonly pluginConfiguration: Uint8Array,
    shared: SharedVm,
  ) {
    this.shared = shared;
    this.vm = shared.vm;
    this.stats = shared.stats;
    this.exportsFns = shared.exportsFns;
    this.failOpen = (options.failurePolicy ?? 'FAIL_CLOSED') === 'FAIL_OPEN';
    this.level = parseLogLevel(options.logLevel);
    this.rootContextId = shared.nextContextId++;
    this.root = new RootContext(this.rootContextId, this);
    shared.contexts.set(this.root.id, this.root);
    if (this.vm.vmContext === null) {
      // The VM context (id 0) runs _initialize/_start and the allocator (cpp-host src/wasm.cc);
      // what it logs goes to the plugin that started the VM.
      const vmContext = new RootContext(0, this);
      shared.contexts.set(0, vmContext);
      this.vm.vmContext = vmContext;
    }
    shared.roots.add(this);
    const rootId = options.rootId ?? '';
    const name = options.pluginName ?? '';
    const vmId = shared.vmId;
    const builtins = new Map<string, Uint8Array | null>([
      ['plugin_root_id', Buffer.from(rootId)],
      ['plugin_name', Buffer.from(name)],
      ['plugin_vm_id', Buffer.from(vmId)],
    ]);
    this.pluginProps = toPropertyMap(options.properties, builtins);
    this.key = pluginKey(rootId, pluginConfiguration);
    // PluginBase::makeLogPrefix and ContextBase::makeRootLogPrefix (cpp-host src/context.cc).
    const prefix = (parts: string[]): string => parts.filter((p) => p !== '').map((p) => ` ${p}`).join('');
    this.logPrefixRoot = prefix([rootId, vmId]);
    this.logPrefixStream = prefix([name, rootId, vmId]);
  }

  /**
   * Fault injection for tests (src/host/faults.ts): host calls that fail, callbacks the host
   * skips or makes differently. Shared by the plugins of one VM; `faults.clear()` undoes it.
   */
  get faults(): HostFaults {
    return this.shared.faults;
  }

  /** VM configuration (Envoy `vm_config.configuration`), the same for every plugin of the VM. */
  get vmConfiguration(): Uint8Array {
    return this.shared.vmConfiguration;
  }
  /** True once the VM has trapped (or misused a host call Envoy treats as fatal). */
  get failed(): boolean {
    return this.vm.failed;
  }
  /** Why the VM failed, as Envoy logs it. */
  get failure(): string | undefined {
    return this.vm.failed ? this.vm.failMessage : undefined;
  }
  /** The size of the module's linear memory in bytes. */
  get memoryBytes(): number {
    return this.vm.memory.buffer.byteLength;
  }
  /** The tick period the plugin set (0: no ticks). */
  get tickPeriodMs(): number {
    return this.tickMs;
  }
  /** Envoy's `wasm` log level, as a Proxy-Wasm level number; settable at run time like Envoy's /logging. */
  get logLevel(): number {
    return this.level;
  }
  set logLevel(level: LogLevelName | number) {
    this.level = parseLogLevel(level);
  }

  /** A counter's value (0 when never defined). Metrics are the VM's: plugins sharing it see the same stat by name, as in Envoy. Envoy shows it as `wasmcustom.<name>`. */
  counter(name: string): number {
    return Number(this.shared.metrics.value(name, MetricType.Counter) ?? 0n);
  }
  /** A gauge's value (0 when never defined). */
  gauge(name: string): number {
    return Number(this.shared.metrics.value(name, MetricType.Gauge) ?? 0n);
  }
  /** Every metric defined in the VM. */
  metrics(): MetricSnapshot[] {
    return this.shared.metrics.snapshot();
  }

  /** Runs proxy_on_tick once for this plugin's root context, as Envoy's timer would. Returns false when no tick is due (no period, failed VM, stopped). */
  tick(): boolean {
    const fn = this.exportsFns.proxy_on_tick;
    if (this.tickMs === 0 || this.vm.failed || this.state === 'stopped') return false;
    if (fn !== undefined) {
      this.vm.call('proxy_on_tick', fn, this.root, this.root.id);
      this.vm.runAfterActions();
    }
    return true;
  }

  /**
   * Opens a connection: Envoy's proxy_on_context_create and proxy_on_new_connection run now.
   * After a VM failure, FAIL_CLOSED gives a connection that is already closed, FAIL_OPEN one
   * that passes bytes through untouched.
   */
  newConnection(props: ConnectionProps = {}, sink?: ConnectionSink): Connection {
    if (this.state !== 'running') throw new Error('newConnection: the plugin is shut down');
    if (props === null || typeof props !== 'object') throw new TypeError('newConnection: props must be an object');
    let conn: Connection;
    if (!this.vm.failed) {
      conn = new Connection(this, props, sink, this.shared.nextContextId++, 'filter');
      this.shared.contexts.set(conn.id, conn);
    } else {
      conn = new Connection(this, props, sink, 0, this.failOpen ? 'passthrough' : 'failed-closed');
    }
    conn.start();
    return conn;
  }

  /**
   * Starts another plugin in this plugin's VM, as Envoy does for filters whose vm_config is the
   * same (same vm_id, code and VM configuration) but whose root_id or configuration differ:
   * a new root context gets proxy_on_context_create(root, 0), proxy_on_vm_start and
   * proxy_on_configure with its own configuration (cpp-host src/wasm.cc
   * getOrCreateThreadLocalPlugin, WasmBase::start; src/context.cc ContextBase::onStart,
   * onConfigure). The new plugin has its own connections, logs, log level, tick period and
   * failure policy; metrics, host call counts and the VM's failed state are shared. Throws
   * PluginStartError when Envoy would refuse the configuration.
   */
  addRoot(options: RootOptions = {}): Plugin {
    if (options === null || typeof options !== 'object') throw new TypeError('addRoot: options must be an object');
    for (const key of ['wasm', 'vmConfiguration', 'vmId'] as const) {
      if (Object.hasOwn(options, key)) throw new TypeError(`addRoot: ${key} belongs to the VM, which the new plugin shares; use startPlugin() for another VM`);
    }
    checkOptions(options);
    if (this.state !== 'running') throw new Error('addRoot: the plugin is shut down');
    const configuration = toBytes('configuration', options.configuration);
    const key = pluginKey(options.rootId ?? '', configuration);
    for (const other of this.shared.roots) {
      if (other.key === key && other.state === 'running') {
        throw new Error(`addRoot: a plugin with root_id ${JSON.stringify(options.rootId ?? '')} and this configuration already runs in this VM; Envoy would reuse its root context (WasmBase::start): use that plugin`);
      }
    }
    const plugin = new Plugin(options, configuration, this.shared);
    const refuse = (reason: string): never => {
      plugin.hostLog(LogLevel.critical, reason);
      // Envoy configures a new plugin in a throw-away clone of the VM first (the canary,
      // WasmHandleBase::canary), so a refusal never reaches the shared VM. Here it was
      // configured in the shared VM: end its root context as a plugin removal would.
      plugin.shutdown();
      throw new PluginStartError(`Wasm plugin refused: ${reason}`, [...plugin.logs]);
    };
    if (this.vm.failed) {
      // Envoy drops a failed thread-local VM and clones a fresh one for the next plugin
      // (getOrCreateThreadLocalWasm's fail callback); this host has no base VM to clone.
      return refuse(`the VM has failed (${this.vm.failMessage}); Envoy would start this plugin in a fresh VM: use startPlugin()`);
    }
    const reason = plugin.startRoot();
    if (reason !== undefined) return refuse(reason);
    return plugin;
  }

  /**
   * Closes this plugin's open connections (as local closes), then ends its root context:
   * proxy_on_done, and proxy_on_delete when it returns true (else when the plugin calls
   * proxy_done). Other plugins in the same VM keep running (WasmBase::startShutdown(plugin_key)).
   */
  shutdown(): void {
    if (this.state !== 'running') return;
    this.state = 'stopping';
    for (const c of [...this.shared.contexts.values()]) if (c instanceof Connection && c.owner === this) c.hostClose();
    const x = this.exportsFns;
    let done = true;
    if (!this.vm.failed && x.proxy_on_done !== undefined) {
      done = this.vm.call('proxy_on_done', x.proxy_on_done, this.root, this.root.id) !== 0;
      this.vm.runAfterActions();
    }
    if (done) this.deleteRoot();
  }

  // ---- internal -----------------------------------------------------------------------------

  /** @internal */
  pluginProperty(key: string): Uint8Array | null | undefined {
    return this.pluginProps.get(key);
  }

  /** @internal */
  forget(conn: Connection): void {
    this.shared.contexts.delete(conn.id);
  }

  /** @internal the ContextOwner side */
  log(level: number, message: string, ctx: HostContext): void {
    if (level < this.level) return;
    const prefix = ctx.isRoot ? this.logPrefixRoot : this.logPrefixStream;
    this.push({ level, levelName: LOG_LEVEL_NAMES[level]!, message, context: ctx.id, line: `wasm log${prefix}: ${message}`, origin: 'plugin' });
  }

  /** @internal */
  hostLog(level: number, message: string): void {
    if (level < this.level) return;
    this.push({ level, levelName: LOG_LEVEL_NAMES[level]!, message, context: this.vm.current?.id ?? 0, line: message, origin: 'host' });
  }

  private push(entry: LogEntry): void {
    if (this.logs.length >= MAX_LOGS) this.logs.shift();
    this.logs.push(entry);
    this.options.onLog?.(entry);
  }

  /** @internal */
  setTickPeriod(ms: number): void {
    this.tickMs = ms;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    if (ms > 0 && this.options.tickTimers === true) {
      this.timer = setInterval(() => this.tick(), ms);
      this.timer.unref();
    }
  }

  /** @internal proxy_done: finishes a shutdown the root context deferred (WasmBase::done). */
  done(): WasmResult {
    if (this.state !== 'stopping') return WasmResult.NotFound;
    this.vm.after(() => this.deleteRoot());
    return WasmResult.Ok;
  }

  private deleteRoot(): void {
    if (this.state === 'stopped') return;
    const x = this.exportsFns;
    if (!this.vm.failed && x.proxy_on_delete !== undefined) {
      this.vm.call('proxy_on_delete', x.proxy_on_delete, this.root, this.root.id);
      this.vm.runAfterActions();
    }
    this.state = 'stopped';
    this.setTickPeriod(0);
    this.shared.contexts.delete(this.root.id);
    this.shared.roots.delete(this);
  }

  /** @internal Root context start (ContextBase::onStart, then onConfigure). Returns a refusal reason or undefined. */
  startRoot(): string | undefined {
    const x = this.exportsFns;
    const vm = this.vm;
    if (x.proxy_on_context_create !== undefined) {
      this.root.pluginConfigVisible = true;
      vm.call('proxy_on_context_create', x.proxy_on_context_create, this.root, this.root.id, 0);
      this.root.pluginConfigVisible = false;
      vm.runAfterActions();
    }
    if (x.proxy_on_vm_start !== undefined) {
      const ok = vm.call('proxy_on_vm_start', x.proxy_on_vm_start, this.root, this.root.id, this.vmConfiguration.length) !== 0;
      vm.runAfterActions();
      if (!ok) return `Failed to start base Wasm: proxy_on_vm_start returned false${vm.failed ? ` (${vm.failMessage})` : ''}`;
    }
    // A VM that failed earlier is not configured, and Envoy does not refuse it either: the
    // failure policy then applies to every connection (ContextBase::onConfigure).
    if (vm.failed || x.proxy_on_configure === undefined) return undefined;
    this.root.pluginConfigVisible = true;
    const ok = vm.call('proxy_on_configure', x.proxy_on_configure, this.root, this.root.id, this.pluginConfiguration.length) !== 0;
    this.root.pluginConfigVisible = false;
    vm.runAfterActions();
    if (!ok) return `Failed to configure base Wasm plugin: proxy_on_configure returned false${vm.failed ? ` (${vm.failMessage})` : ''}`;
    return undefined;
  }
}

/** PluginBase::key (cpp-host include/proxy-wasm/context.h): root_id and configuration. */
function pluginKey(rootId: string, configuration: Uint8Array): string {
  return `${rootId}\0${Buffer.from(configuration).toString('latin1')}`;
}

/** The option checks startPlugin() and addRoot() share. */
function checkOptions(options: RootOptions): void {
  const policy = options.failurePolicy ?? 'FAIL_CLOSED';
  if (policy !== 'FAIL_CLOSED' && policy !== 'FAIL_OPEN') {
    throw new TypeError(`failurePolicy must be 'FAIL_CLOSED' or 'FAIL_OPEN', got ${JSON.stringify(policy)}`);
  }
  for (const key of ['rootId', 'pluginName'] as const) {
    if (options[key] !== undefined && typeof options[key] !== 'string') throw new TypeError(`${key} must be a string`);
  }
}

function parseLogLevel(level: LogLevelName | number | undefined): number {
  if (level === undefined) return LogLevel.info;
  if (typeof level === 'number' && Number.isInteger(level) && level >= 0 && level <= LogLevel.off) return level;
  if (typeof level === 'string' && Object.hasOwn(LogLevel, level)) return LogLevel[level];
  throw new TypeError(`logLevel must be one of ${LOG_LEVEL_NAMES.join(', ')} or 0-6, got ${JSON.stringify(level)}`);
}

function toBytes(name: string, v: string | Uint8Array | undefined): Uint8Array {
  if (v === undefined) return EMPTY_BYTES;
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  if (v instanceof Uint8Array) return v.slice();
  throw new TypeError(`${name} must be a string or a Uint8Array`);
}

/**
 * Loads the module, links it against Envoy's imports and starts the root context, as Envoy
 * does when it accepts a Wasm network filter. Throws PluginStartError when Envoy would refuse.
 */
export async function startPlugin(options: PluginOptions): Promise<Plugin> {
  if (options === null || typeof options !== 'object') throw new TypeError('startPlugin: options must be an object');
  checkOptions(options);
  if (options.vmId !== undefined && typeof options.vmId !== 'string') throw new TypeError('vmId must be a string');
  const shared = new SharedVm(toBytes('vmConfiguration', options.vmConfiguration), options.vmId ?? '');
  const plugin = new Plugin(options, toBytes('configuration', options.configuration), shared);
  const refuse = (reason: string): never => {
    plugin.hostLog(LogLevel.critical, reason);
    throw new PluginStartError(`Wasm plugin refused: ${reason}`, [...plugin.logs]);
  };

  // Load: bytes, compile, ABI version (WasmBase::load).
  let module: WebAssembly.Module;
  let info: ModuleInfo;
  if (options.wasm instanceof WebAssembly.Module) {
    module = options.wasm;
    info = {
      imports: WebAssembly.Module.imports(module).map((i) => ({ module: i.module, name: i.name, kind: i.kind as 'global' })),
      exports: WebAssembly.Module.exports(module).map((e) => ({ name: e.name, kind: e.kind as ExportInfo['kind'] })),
      hasStartSection: false,
    };
  } else {
    let bytes: Uint8Array;
    if (typeof options.wasm === 'string') {
      try {
        bytes = await readFile(options.wasm);
      } catch (err) {
        return refuse(`cannot read ${options.wasm}: ${(err as Error).message}`);
      }
    } else if (options.wasm instanceof Uint8Array) bytes = options.wasm;
    else if (options.wasm instanceof ArrayBuffer) bytes = new Uint8Array(options.wasm);
    else throw new TypeError('wasm must be a path, bytes or a WebAssembly.Module');
    const magic = bytes.length >= 4 && bytes[0] === 0 && bytes[1] === 0x61 && bytes[2] === 0x73 && bytes[3] === 0x6d;
    if (!magic) return refuse('Failed to parse corrupted Wasm module: not a Wasm binary (no \\0asm magic)');
    try {
      module = await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
    } catch (err) {
      return refuse(`Failed to load Wasm bytecode: ${(err as Error).message}`);
    }
    info = readModuleInfo(bytes);
  }
  const marker = info.exports.find((e) => e.kind === 'function' && (ABI_MARKERS as readonly string[]).includes(e.name));
  if (marker === undefined) return refuse('Missing or unknown Proxy-Wasm ABI version (export proxy_abi_version_0_2_1)');
  const abi = marker.name === 'proxy_abi_version_0_2_1' ? '0.2.1' : marker.name === 'proxy_abi_version_0_2_0' ? '0.2.0' : undefined;
  if (abi === undefined) return refuse(`${marker.name}: this host implements Proxy-Wasm ABI 0.2.0 and 0.2.1 only`);

  // Link (V8::link): every function import must be one Envoy registers, with its type.
  const env = createImports(shared.importHost, abi);
  const imports: WebAssembly.Imports = { env: {} };
  for (const imp of info.imports) {
    const what = `${imp.module}.${imp.name}`;
    if (imp.kind === 'function') {
      const want = HOST_FUNCTIONS[imp.name];
      const provided = imp.module === 'env' && want !== undefined && !(abi === '0.2.0' && ONLY_IN_0_2_1.has(imp.name));
      if (!provided) {
        const hint = imp.module.startsWith('wasi') ? ' (Envoy also offers WASI; this host does not)' : '';
        return refuse(`Failed to load Wasm module due to a missing import: ${what}${hint}`);
      }
      if (imp.signature !== undefined && imp.signature !== want) {
        return refuse(`Failed to load Wasm module due to an import type mismatch: ${what}, want: ${printSignature(imp.signature)}, but host exports: ${printSignature(want)}`);
      }
      (imports.env as Record<string, unknown>)[imp.name] = env[imp.name];
    } else if (imp.kind === 'memory') {
      (imports[imp.module] ??= {})[imp.name] = new WebAssembly.Memory(imp.limits);
    } else if (imp.kind === 'table') {
      (imports[imp.module] ??= {})[imp.name] = new WebAssembly.Table({ element: 'anyfunc', ...imp.limits });
    } else {
      return refuse(`Failed to load Wasm module due to a missing import: ${what}`);
    }
  }

  let instance: WebAssembly.Instance;
  plugin.vm.instantiating = true;
  try {
    instance = await WebAssembly.instantiate(module, imports);
  } catch (err) {
    if (err instanceof RefusalSignal) {
      return refuse("Failed to create new Wasm instance: the module's start section made a host call, before Envoy has a context for it (Envoy would crash)");
    }
    if (err instanceof WebAssembly.LinkError) return refuse(`Failed to load Wasm module: ${err.message}`);
    return refuse(`Failed to create new Wasm instance: ${(err as Error).name}: ${(err as Error).message}`);
  } finally {
    plugin.vm.instantiating = false;
  }

  // getFunctions: the exports Envoy looks up must have its signatures, and an allocator must exist.
  const fns: ModuleFunctions = {};
  const sigs = new Map(info.exports.filter((e) => e.kind === 'function').map((e) => [e.name, e.signature]));
  const hasInitialize = sigs.has('_initialize');
  for (const [name, want] of Object.entries(MODULE_FUNCTIONS) as [keyof typeof MODULE_FUNCTIONS, string][]) {
    if (!sigs.has(name)) continue;
    if (name === 'main' && !hasInitialize) continue;
    if (name === '_start' && hasInitialize) continue;
    if (name === 'proxy_on_memory_allocate' && fns.malloc !== undefined) continue;
    const got = sigs.get(name);
    if (got !== undefined && got !== want) {
      return refuse(`Bad function signature for: ${name}, want: ${printSignature(want)}, but the module exports: ${printSignature(got)}`);
    }
    fns[name] = instance.exports[name] as Fn;
  }
  plugin.vm.allocator = fns.malloc ?? fns.proxy_on_memory_allocate;
  if (plugin.vm.allocator === undefined) return refuse('Wasm module is missing malloc function (export malloc or proxy_on_memory_allocate)');
  const memory = Object.values(instance.exports).find((v) => v instanceof WebAssembly.Memory) ??
    Object.values(imports).flatMap((m) => Object.values(m)).find((v) => v instanceof WebAssembly.Memory);
  if (!(memory instanceof WebAssembly.Memory)) return refuse('the module has no linear memory (export or import one)');
  plugin.vm.memory = memory;
  plugin.vm.refresh();
  Object.assign(plugin.exportsFns, fns); // the object every plugin of this VM holds

  // startVm: _initialize (then main) or _start, with only proxy_log allowed meanwhile.
  const vm = plugin.vm;
  const startFns: [string, Fn | undefined, number?, number?][] = hasInitialize
    ? [['_initialize', fns._initialize], ['main', fns.main, 0, 0]]
    : [['_start', fns._start]];
  for (const [name, fn, a, b] of startFns) {
    if (fn === undefined || vm.failed) continue;
    vm.restricted = 1;
    try {
      vm.call(name, fn, vm.vmContext, a, b);
    } finally {
      vm.restricted = 0;
    }
  }
  if (vm.failed) return refuse(`Failed to initialize Wasm code: ${vm.failMessage}`);

  const reason = plugin.startRoot();
  if (reason !== undefined) return refuse(reason);
  return plugin;
}
