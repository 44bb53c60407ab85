// One downstream connection as Envoy's network filter chain sees it: this Wasm filter followed
// by tcp_proxy. The control flow copies:
//   - Envoy source/common/network/filter_manager_impl.cc (onContinueReading: a filter that
//     returns StopIteration, or closes the connection, stops the chain; continueReading()
//     resumes at the next filter; onData only runs when there are bytes or an end of stream);
//   - Envoy source/extensions/common/wasm/context.cc (onNewConnection, onData, onWrite,
//     onEvent, onCloseTCP, continueStream, closeStream, failStream);
//   - proxy-wasm-cpp-host src/context.cc (CHECK_FAIL_NET before and after each data callback,
//     DeferAfterCallActions at the end of each callback, `!isFailed()` guards on the rest).
// Bytes held by a paused filter stay in the connection's read (or write) buffer, as in Envoy,
// and the next callback sees them again with the new bytes appended.
import { FilterStatus, PeerType, StreamType, WasmResult } from './abi.js';
import { ByteQueue, EMPTY_BYTES } from './buffer.js';
import { encodeAddress, encodePort, STREAM_MAPS, toPropertyMap, type PropertyValue } from './properties.js';
import type { Plugin } from './plugin.js';
import type { HostContext } from './vm.js';

/** What the proxy knows about a connection when it opens. */
export interface ConnectionProps {
  /** Client address as Envoy prints it (`source.address`): `1.2.3.4:5678`, `[2001:db8::1]:443`. */
  source?: string;
  /** Local address the client connected to (`destination.address`), same format. */
  destination?: string;
  /** TLS SNI (`connection.requested_server_name`); default "". */
  sni?: string;
  /** `connection.id` and `connection_id` (uint64); default: a process-wide counter from 1, as Envoy numbers connections. */
  connectionId?: bigint | number;
  /**
   * Raw overrides by dotted path (`upstream.address`) or NUL-separated path, shadowing the
   * defaults: strings raw, bigint/integer numbers int64 LE, other numbers double, booleans one
   * byte, Uint8Array as is; `null` makes the property NotFound.
   */
  properties?: Record<string, PropertyValue>;
}

/**
 * Lets a real proxy learn of what the filter does outside its own calls into the connection.
 * Both methods are optional.
 */
export interface ConnectionSink {
  /**
   * The host closed the connection: the filter called proxy_close_stream, or the failure
   * policy closed it. Envoy closes with FlushWrite: send what is already queued toward the
   * client, forward nothing more, then close both sides. Called at most once, also when the
   * close happened during one of your calls (whose result then says `closed`).
   */
  close?(): void;
  /**
   * Client bytes released toward the upstream outside a downstreamData() call on this
   * connection (proxy_continue_stream from a tick or another context). Without this method
   * they are returned at the front of the next downstreamData() result instead.
   */
  upstream?(bytes: Uint8Array, endOfStream: boolean): void;
}

/** The outcome of feeding bytes to the connection in one direction. */
export interface DataResult {
  /** Bytes to pass on now: toward the upstream for downstreamData(), the client for upstreamData(). */
  forwarded: Uint8Array;
  /** Pass the end of stream on after `forwarded` (half-close that direction). */
  endOfStream: boolean;
  /** The filter chain's verdict: Continue (0) or StopIteration (1, bytes are held). */
  status: FilterStatus;
  /** The connection is closed (by the filter or the failure policy): stop using it. */
  closed: boolean;
}

type Mode = 'filter' | 'passthrough' | 'failed-closed';

let nextConnectionId = 1n;

export class Connection implements HostContext {
  readonly isRoot = false;
  readonly pluginConfigVisible = false;
  lastBuffer: ByteQueue | Uint8Array = EMPTY_BYTES;
  /** The Wasm context id (0 when no Wasm context exists because the VM had failed). */
  readonly id: number;
  /** What proxy_on_new_connection returned, after the failure policy. */
  newConnectionStatus: FilterStatus = FilterStatus.Continue;

  private created = false; // Envoy's in_vm_context_created_
  private closedState = false; // connection state != Open
  private tcpClosed = false;
  private streamFailed = false;
  private downstreamClosed = false;
  private readonly read = new ByteQueue();
  private readEnd = false;
  private readEndForwarded = false;
  private readonly write = new ByteQueue();
  private writeEnd = false;
  private readActive = false; // network_downstream_data_buffer_ is set
  private writeActive = false; // network_upstream_data_buffer_ is set
  private inDownstreamCall = false;
  private out: ByteQueue | null = null;
  private outEnd = false;
  private pending: ByteQueue | null = null;
  private pendingEnd = false;
  // Both stay null for the usual connection, which has no overrides and sets no property.
  private readonly overrides: Map<string, Uint8Array | null> | null;
  private filterState: Map<string, Uint8Array> | null = null;
  private readonly connectionId: bigint;
  private connectionIdBytes: Uint8Array | null = null;

  constructor(
    private readonly plugin: Plugin,
    private readonly props: ConnectionProps,
    private readonly sink: ConnectionSink | undefined,
    id: number,
    private readonly mode: Mode,
  ) {
    this.id = id;
    if (props.source !== undefined && typeof props.source !== 'string') throw new TypeError('connection source must be an Envoy address string');
    if (props.destination !== undefined && typeof props.destination !== 'string') throw new TypeError('connection destination must be an Envoy address string');
    if (props.sni !== undefined && typeof props.sni !== 'string') throw new TypeError('connection sni must be a string');
    this.overrides = props.properties === undefined ? null : toPropertyMap(props.properties);
    const cid = props.connectionId;
    if (cid === undefined) this.connectionId = nextConnectionId++;
    else {
      if ((typeof cid !== 'bigint' && !Number.isSafeInteger(cid)) || BigInt(cid) < 0n || BigInt(cid) >= 1n << 64n) {
        throw new TypeError(`connectionId must be a uint64, got ${String(cid)}`);
      }
      this.connectionId = BigInt(cid);
    }
  }

  /** @internal the plugin (root context) this connection belongs to */
  get owner(): Plugin {
    return this.plugin;
  }
  get downstreamBuffer(): ByteQueue | null {
    return this.readActive ? this.read : null;
  }
  get upstreamBuffer(): ByteQueue | null {
    return this.writeActive ? this.write : null;
  }
  /** The connection is closed; further calls do nothing. */
  get closed(): boolean {
    return this.closedState;
  }

  // ---- driven by the proxy --------------------------------------------------------------

  /** Envoy's onNewConnection; called once by Plugin.newConnection. */
  start(): void {
    if (this.mode === 'passthrough') return; // FAIL_OPEN after a failure: no filter at all
    const vm = this.plugin.vm;
    const x = this.plugin.exportsFns;
    // Context::onNewConnection -> onCreate (cpp-host src/context.cc).
    if (this.mode === 'filter' && !vm.failed && x.proxy_on_context_create !== undefined) {
      vm.call('proxy_on_context_create', x.proxy_on_context_create, this, this.id, this.plugin.rootContextId);
      vm.runAfterActions();
    }
    this.created = true;
    // onNetworkNewConnection.
    let status: FilterStatus;
    const failed = this.checkFail();
    if (failed !== undefined) status = failed;
    else if (x.proxy_on_new_connection === undefined) status = FilterStatus.Continue;
    else {
      const r = vm.call('proxy_on_new_connection', x.proxy_on_new_connection, this, this.id);
      status = this.checkFail() ?? (r === 0 ? FilterStatus.Continue : FilterStatus.StopIteration);
      vm.runAfterActions();
    }
    this.newConnectionStatus = status;
  }

  /**
   * Bytes read from the client. Returns what goes to the upstream now. Feed data only once the
   * upstream connection is up: tcp_proxy keeps reading disabled until then.
   */
  downstreamData(bytes: Uint8Array, endOfStream = false): DataResult {
    if (!(bytes instanceof Uint8Array)) throw new TypeError('downstreamData: bytes must be a Uint8Array');
    if (this.closedState) return closedResult();
    if (this.mode === 'passthrough') return { forwarded: bytes, endOfStream, status: FilterStatus.Continue, closed: false };
    if (this.readEnd) throw new Error('downstreamData: the client already ended its stream');
    this.read.add(bytes);
    if (endOfStream) this.readEnd = true;
    this.inDownstreamCall = true;
    this.out = this.pending;
    this.outEnd = this.pendingEnd;
    this.pending = null;
    this.pendingEnd = false;
    let status: FilterStatus = this.read.length > 0 ? FilterStatus.StopIteration : FilterStatus.Continue;
    try {
      // FilterManagerImpl::onContinueReading(nullptr): our filter first, then tcp_proxy.
      if (this.read.length > 0 || (this.readEnd && !this.readEndForwarded)) {
        status = this.onData();
        if (status === FilterStatus.Continue && !this.closedState) this.tcpProxyOnData();
      }
    } finally {
      this.inDownstreamCall = false;
    }
    const out = this.out;
    this.out = null;
    return { forwarded: out === null ? EMPTY_BYTES : out.take(), endOfStream: this.outEnd, status, closed: this.closedState };
  }

  /** Bytes from the upstream on their way to the client. Returns what goes to the client now. */
  upstreamData(bytes: Uint8Array, endOfStream = false): DataResult {
    if (!(bytes instanceof Uint8Array)) throw new TypeError('upstreamData: bytes must be a Uint8Array');
    if (this.closedState) return closedResult();
    if (this.mode === 'passthrough') return { forwarded: bytes, endOfStream, status: FilterStatus.Continue, closed: false };
    if (this.writeEnd) throw new Error('upstreamData: the upstream already ended its stream');
    this.write.add(bytes);
    if (endOfStream) this.writeEnd = true;
    if (this.write.length === 0 && !endOfStream) {
      return { forwarded: EMPTY_BYTES, endOfStream: false, status: FilterStatus.Continue, closed: false };
    }
    // ConnectionImpl::write -> FilterManagerImpl::onWrite -> Context::onWrite.
    const status = this.onWrite(endOfStream);
    if (status === FilterStatus.Continue && !this.closedState) {
      return { forwarded: this.write.take(), endOfStream, status, closed: false };
    }
    return { forwarded: EMPTY_BYTES, endOfStream: false, status, closed: this.closedState };
  }

  /** The connection closed: 'remote' when the client went away, 'local' when the proxy closed it. */
  close(kind: 'local' | 'remote' = 'remote'): void {
    if (kind !== 'local' && kind !== 'remote') throw new TypeError(`close: kind must be 'local' or 'remote', got ${JSON.stringify(kind)}`);
    if (this.closedState) return;
    this.closeConnection(kind === 'local' ? PeerType.Local : PeerType.Remote);
  }

  // ---- HostContext ------------------------------------------------------------------------

  property(key: string): Uint8Array | null | WasmResult {
    // Envoy stops at the end of the path, so one trailing NUL changes nothing.
    if (key.endsWith('\0')) key = key.slice(0, -1);
    const own = this.overrides?.get(key);
    if (own !== undefined) return own;
    const shared = this.plugin.pluginProperty(key);
    if (shared !== undefined) return shared;
    const p = this.props;
    switch (key) {
      case 'source\0address':
        return p.source === undefined ? null : encodeAddress(p.source);
      case 'destination\0address':
        return p.destination === undefined ? null : encodeAddress(p.destination);
      case 'source\0port':
        return p.source === undefined ? null : encodePort(p.source);
      case 'destination\0port':
        return p.destination === undefined ? null : encodePort(p.destination);
      case 'connection\0requested_server_name':
        return Buffer.from(p.sni ?? '', 'utf8');
      case 'connection\0mtls':
        return Uint8Array.of(0);
      case 'connection\0id':
      case 'connection_id': {
        if (this.connectionIdBytes === null) {
          const b = Buffer.alloc(8);
          b.writeBigUInt64LE(this.connectionId);
          this.connectionIdBytes = b;
        }
        return this.connectionIdBytes;
      }
    }
    // CelState values set by proxy_set_property are found by their first segment only.
    const nul = key.indexOf('\0');
    const top = nul < 0 ? key : key.slice(0, nul);
    const state = this.filterState?.get(top);
    if (state !== undefined) return nul < 0 ? state : null;
    if (key.length === 0 || (nul < 0 && STREAM_MAPS.has(key))) return WasmResult.SerializationFailure;
    return null;
  }

  setProperty(key: string, value: Uint8Array): WasmResult {
    // Envoy stores it as filter state "wasm.<path>" on the connection's stream info.
    (this.filterState ??= new Map()).set(key, value);
    return WasmResult.Ok;
  }

  continueStream(type: number): WasmResult {
    if (type === StreamType.Upstream) return WasmResult.Unimplemented;
    if (type === StreamType.Downstream) this.plugin.vm.after(() => this.continueReading());
    return WasmResult.Ok;
  }

  closeStream(type: number): WasmResult {
    // Both network streams close the downstream connection with FlushWrite, after the call.
    if (type === StreamType.Downstream || type === StreamType.Upstream) this.plugin.vm.after(() => this.hostClose());
    return WasmResult.Ok;
  }

  /** Closes on the host's initiative (filter request, failure policy, shutdown) and tells the sink. */
  hostClose(): void {
    if (this.closedState) return;
    this.closeConnection(PeerType.Local);
    this.sink?.close?.();
  }

  // ---- Envoy's Context / ContextBase --------------------------------------------------------

  /** CHECK_FAIL_NET: undefined when the VM is healthy, else the status the failure policy gives. */
  private checkFail(): FilterStatus | undefined {
    if (!this.plugin.vm.failed && this.mode === 'filter') return undefined;
    if (this.plugin.failOpen) return FilterStatus.Continue;
    if (!this.streamFailed) {
      this.streamFailed = true;
      this.hostClose(); // failStream(Downstream); failStream(Upstream) closes the same connection
    }
    return FilterStatus.StopIteration;
  }

  private onData(): FilterStatus {
    if (!this.created) return FilterStatus.Continue;
    this.readActive = true;
    let status = this.checkFail();
    if (status === undefined) {
      const fn = this.plugin.exportsFns.proxy_on_downstream_data;
      if (fn === undefined) status = FilterStatus.Continue;
      else {
        const r = this.plugin.vm.call('proxy_on_downstream_data', fn, this, this.id, this.read.length, this.readEnd ? 1 : 0);
        status = this.checkFail() ?? (r === 0 ? FilterStatus.Continue : FilterStatus.StopIteration);
        this.plugin.vm.runAfterActions();
      }
    }
    if (status === FilterStatus.Continue) this.readActive = false;
    return status;
  }

  private onWrite(endOfStream: boolean): FilterStatus {
    if (!this.created) return FilterStatus.Continue;
    this.writeActive = true;
    let status = this.checkFail();
    if (status === undefined) {
      const fn = this.plugin.exportsFns.proxy_on_upstream_data;
      if (fn === undefined) status = FilterStatus.Continue;
      else {
        const r = this.plugin.vm.call('proxy_on_upstream_data', fn, this, this.id, this.write.length, endOfStream ? 1 : 0);
        status = this.checkFail() ?? (r === 0 ? FilterStatus.Continue : FilterStatus.StopIteration);
        this.plugin.vm.runAfterActions();
      }
    }
    if (status === FilterStatus.Continue) this.writeActive = false;
    // Envoy reports the upstream's end of stream as an upstream close, peer Unknown.
    if (endOfStream) this.callback('proxy_on_upstream_connection_close', PeerType.Unknown);
    return status;
  }

  /** tcp_proxy's onData: everything in the read buffer goes to the upstream. */
  private tcpProxyOnData(): void {
    if (this.read.length === 0 && (!this.readEnd || this.readEndForwarded)) return;
    const bytes = this.read.take();
    const end = this.readEnd && !this.readEndForwarded;
    if (end) this.readEndForwarded = true;
    if (this.inDownstreamCall) {
      (this.out ??= new ByteQueue()).add(bytes);
      this.outEnd ||= end;
    } else if (this.sink?.upstream !== undefined) {
      this.sink.upstream(bytes, end);
    } else {
      (this.pending ??= new ByteQueue()).add(bytes);
      this.pendingEnd ||= end;
    }
  }

  /** continueReading(): resumes the chain after this filter, i.e. at tcp_proxy. */
  private continueReading(): void {
    if (this.closedState) return;
    this.tcpProxyOnData();
  }

  /** Connection::close + the LocalClose/RemoteClose event reaching Context::onEvent. */
  private closeConnection(peer: number): void {
    this.closedState = true;
    if (!this.created) return;
    this.callback('proxy_on_downstream_connection_close', peer);
    this.downstreamClosed = true;
    this.onCloseTCP();
  }

  /** Context::onCloseTCP: done, log, delete, once. */
  private onCloseTCP(): void {
    if (this.tcpClosed || !this.created) return;
    this.tcpClosed = true;
    this.callback('proxy_on_done');
    this.callback('proxy_on_log');
    this.callback('proxy_on_delete');
    this.plugin.forget(this);
  }

  /** A non-data callback: skipped when the VM has failed; after-actions run when it returns. */
  private callback(name: 'proxy_on_upstream_connection_close' | 'proxy_on_downstream_connection_close' | 'proxy_on_done' | 'proxy_on_log' | 'proxy_on_delete', arg?: number): void {
    const vm = this.plugin.vm;
    const fn = this.plugin.exportsFns[name];
    if (this.mode !== 'filter' || vm.failed || fn === undefined) return;
    vm.call(name, fn, this, this.id, arg);
    vm.runAfterActions();
    if (name === 'proxy_on_upstream_connection_close' && this.downstreamClosed) this.onCloseTCP();
  }
}

function closedResult(): DataResult {
  return { forwarded: EMPTY_BYTES, endOfStream: false, status: FilterStatus.StopIteration, closed: true };
}
