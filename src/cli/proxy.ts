// `ppv2-wasm proxy`: an L4 proxy on node:net that runs the filter on every
// connection the way Envoy's tcp_proxy does with a network filter before
// it: the downstream is not read until the upstream connects
// (source/common/tcp_proxy/tcp_proxy.cc: readDisable until onUpstreamEvent
// Connected), every read goes through the filter, half-close is passed on
// as end_of_stream, a reset is passed on as a reset, and a failed upstream
// (refused, or not connected within the connect timeout) closes the
// downstream. tests/differential/ compares it with Envoy connection by connection.

import { createServer, connect, type Socket } from 'node:net';
import { envoyAddress, type Connection, type ConnectionSink, type Plugin } from '../host/index.js';
import { millisecondsOption, parse, parseHostPort, showHostPort, stringOption, type HostPort } from './args.js';
import { listen, nextSignal, SocketSet } from './lifecycle.js';
import { stamped, status } from './output.js';
import { loadPlugin, PLUGIN_HELP, PLUGIN_OPTIONS, stampedLog } from './plugin.js';

/** How long a stop waits for open connections, unless --drain-timeout says otherwise. */
export const DEFAULT_DRAIN_MS = 10_000;

export const PROXY_HELP = `Usage: ppv2-wasm proxy --listen HOST:PORT --upstream HOST:PORT [options]

An L4 (TCP) proxy that runs the Proxy-Wasm filter on every connection, as
Envoy's tcp_proxy would: the filter prepends the PROXY header to the bytes
sent upstream. One line per connection on stdout when it closes, each line
starting with its time (ISO 8601, UTC).

On SIGTERM or SIGINT it stops accepting, lets open connections finish for up
to --drain-timeout, then cuts the rest; a second signal cuts them at once.

Options:
  --listen HOST:PORT     address to accept clients on; IPv6 in brackets ([::1]:10000)
  --upstream HOST:PORT   the backend every connection is forwarded to
  --connect-timeout MS   give up on an upstream that has not connected by then, and close
                         the client (default 5000, Envoy's cluster connect_timeout)
${PLUGIN_HELP}
  --fail-open            when the filter traps, pass connections through without it
                         (Envoy's failure_policy FAIL_OPEN); default: close them (FAIL_CLOSED)
  --drain-timeout MS     on stop, how long open connections may take to finish (default ${DEFAULT_DRAIN_MS}; 0: cut at once)
  --quiet                no per-connection lines
  -h, --help             show this help`;

const EMPTY = new Uint8Array(0);

/** Envoy's default Cluster.connect_timeout (api/envoy/config/cluster/v3/cluster.proto). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

interface ProxyOptions {
  upstream: HostPort;
  plugin: Plugin;
  onConnectionLog: (line: string) => void;
  /** Default DEFAULT_CONNECT_TIMEOUT_MS. */
  connectTimeoutMs?: number;
}

/**
 * An address as Envoy reports it. Envoy 1.40 gives an IPv4 client of a
 * dual-stack listener (ipv4_compat) as plain IPv4, `127.0.0.1:p`, for both
 * source.address and destination.address (observed; the differential suite
 * checks it), where Node keeps the IPv4-mapped form `::ffff:127.0.0.1`.
 */
function asEnvoyReports(ip: string): string {
  return /^::ffff:\d{1,3}(?:\.\d{1,3}){3}$/i.test(ip) ? ip.slice(7) : ip;
}

/** Running totals, for tests and the log: how often each side was paused for backpressure. */
export interface ProxyStats {
  accepted: number;
  open: number;
  clientPauses: number;
  upstreamPauses: number;
}

/** A connection being proxied, as a shutdown sees it. */
interface OpenConnection {
  /** Ends both sides now; its line reports `reason`. */
  cut(reason: string): void;
  /** Settles once both sides are closed and its line is written. */
  finished: Promise<void>;
}

/** What a stop did: connections that finished while draining, and those it cut. */
export interface DrainResult {
  finished: number;
  cut: number;
}

export function createProxyServer(options: ProxyOptions) {
  const sockets = new SocketSet();
  const open = new Set<OpenConnection>();
  const stats: ProxyStats = { accepted: 0, open: 0, clientPauses: 0, upstreamPauses: 0 };
  // pauseOnConnect: nothing is read from the client before the upstream is
  // connected. allowHalfOpen: a client's FIN is passed on, not acted on.
  const server = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (downstream) => {
    sockets.add(downstream);
    stats.accepted++;
    stats.open++;
    downstream.once('close', () => stats.open--);
    const connection = proxyConnection(downstream, options, sockets, stats);
    if (connection) {
      open.add(connection);
      void connection.finished.then(() => open.delete(connection));
    }
  });

  /**
   * A graceful stop: no new connections (the listener closes, so the kernel
   * refuses them), open ones may finish for up to `drainMs`, or until
   * `cutNow` settles; whatever is still open then is cut, and its line says
   * so. Resolves once every connection's line is written.
   */
  const drain = async (drainMs: number, cutNow: Promise<unknown>): Promise<DrainResult> => {
    const listenerClosed = new Promise<void>((resolve) => server.close(() => resolve()));
    const draining = open.size;
    let timer: NodeJS.Timeout | undefined;
    const reason = await Promise.race([
      Promise.all([...open].map((c) => c.finished)).then(() => null),
      new Promise<string>((resolve) => { timer = setTimeout(() => resolve(`cut by shutdown (drain timeout ${drainMs} ms)`), drainMs); }),
      cutNow.then(() => 'cut by shutdown (stopped again)'),
    ]);
    clearTimeout(timer);
    const left = [...open];
    if (reason !== null) for (const connection of left) connection.cut(reason);
    await Promise.all(left.map((c) => c.finished));
    await listenerClosed;
    return { finished: draining - left.length, cut: reason === null ? 0 : left.length };
  };

  return { server, sockets, stats, drain };
}

function proxyConnection(downstream: Socket, options: ProxyOptions, sockets: SocketSet, stats: ProxyStats): OpenConnection | null {
  downstream.on('error', () => {}); // every outcome is reported by the 'close' handler below
  if (downstream.remoteAddress === undefined || downstream.localAddress === undefined) {
    downstream.destroy(); // already gone
    return null;
  }
  const clientIp = asEnvoyReports(downstream.remoteAddress);
  const client = showHostPort(clientIp, downstream.remotePort!);
  const tally = { fromClient: 0, toUpstream: 0, fromUpstream: 0, toClient: 0 };
  let outcome: string | null = null;
  let closeKind: 'local' | 'remote' = 'remote';
  let filterClosed = false;

  const upstream = connect({ host: options.upstream.host, port: options.upstream.port, allowHalfOpen: true });
  sockets.add(upstream);
  upstream.on('error', () => {});

  /** Writes toward `target`, pausing `source` while `target` is full. */
  const send = (target: Socket, source: Socket, bytes: Uint8Array, endOfStream: boolean) => {
    if (target.destroyed) return;
    if (bytes.length > 0 && !target.write(bytes)) {
      if (source === downstream) stats.clientPauses++;
      else stats.upstreamPauses++;
      source.pause();
      target.once('drain', () => source.resume());
    }
    if (endOfStream) target.end();
  };

  // The host closed the connection (proxy_close_stream, or FAIL_CLOSED after
  // a trap): Envoy closes with FlushWrite, so queued bytes still reach the
  // client, nothing more is forwarded, and both sides close.
  const closeByFilter = () => {
    if (filterClosed) return;
    filterClosed = true;
    outcome ??= 'closed by the filter';
    closeKind = 'local';
    flushAndClose(downstream);
    flushAndClose(upstream);
  };

  const sink: ConnectionSink = {
    close: closeByFilter,
    upstream: (bytes, endOfStream) => {
      tally.toUpstream += bytes.length;
      send(upstream, downstream, bytes, endOfStream);
    },
  };

  let conn: Connection;
  try {
    conn = options.plugin.newConnection({
      source: envoyAddress(clientIp, downstream.remotePort!),
      destination: envoyAddress(asEnvoyReports(downstream.localAddress), downstream.localPort!),
    }, sink);
  } catch (error) {
    options.onConnectionLog(`${client}: refused, the filter could not open a connection: ${(error as Error).message.split('\n')[0]}`);
    upstream.destroy();
    downstream.destroy();
    return null;
  }

  // The host reports filter failures through `closed` and the sink; an
  // exception from it is a host bug, and costs this connection only.
  const guarded = (what: string, step: () => void) => {
    try {
      step();
    } catch (error) {
      outcome ??= `host error in ${what}: ${(error as Error).message.split('\n')[0]}`;
      closeKind = 'local';
      downstream.destroy();
      upstream.destroy();
    }
  };

  const fromClient = (bytes: Uint8Array, endOfStream: boolean) => guarded('downstream data', () => {
    if (filterClosed) return;
    tally.fromClient += bytes.length;
    const result = conn.downstreamData(bytes, endOfStream);
    tally.toUpstream += result.forwarded.length;
    send(upstream, downstream, result.forwarded, result.endOfStream);
    if (result.closed) closeByFilter();
  });
  const fromUpstream = (bytes: Uint8Array, endOfStream: boolean) => guarded('upstream data', () => {
    if (filterClosed) return;
    tally.fromUpstream += bytes.length;
    const result = conn.upstreamData(bytes, endOfStream);
    tally.toClient += result.forwarded.length;
    send(downstream, upstream, result.forwarded, result.endOfStream);
    if (result.closed) closeByFilter();
  });

  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const connectTimer = setTimeout(() => {
    outcome ??= `upstream ${showHostPort(options.upstream.host, options.upstream.port)} did not connect within ${connectTimeoutMs} ms`;
    closeKind = 'local';
    upstream.destroy();
    downstream.destroy();
  }, connectTimeoutMs);
  upstream.once('close', () => clearTimeout(connectTimer));

  upstream.on('connect', () => {
    clearTimeout(connectTimer);
    downstream.on('data', (chunk: Buffer) => fromClient(chunk, false));
    downstream.on('end', () => fromClient(EMPTY, true));
    downstream.resume();
  });
  upstream.on('data', (chunk: Buffer) => fromUpstream(chunk, false));
  upstream.on('end', () => fromUpstream(EMPTY, true));

  // A reset on one side is passed on as a reset (SO_LINGER 0), as Envoy's
  // tcp_proxy does: observed in Envoy 1.40, which closes the other side with
  // ConnectionCloseType::AbortReset when it detects a remote reset.
  upstream.on('error', (error: NodeJS.ErrnoException) => {
    const code = error.code ?? error.message;
    outcome ??= code === 'ECONNREFUSED'
      ? `upstream ${showHostPort(options.upstream.host, options.upstream.port)} refused (${code})`
      : `upstream error (${code})`;
    closeKind = 'local';
    if (code === 'ECONNRESET') downstream.resetAndDestroy();
    else downstream.destroy();
  });
  downstream.on('error', (error: NodeJS.ErrnoException) => {
    const code = error.code ?? error.message;
    outcome ??= `client error (${code})`;
    if (code === 'ECONNRESET') upstream.resetAndDestroy();
    else upstream.destroy();
  });

  // Once one side is closed for good the other can carry nothing useful:
  // tcp_proxy closes it with FlushWrite. When both are closed, the filter's
  // connection context is closed too (downstream_connection_close, done,
  // log, delete), whatever the reason.
  let markFinished!: () => void;
  const finished = new Promise<void>((resolve) => { markFinished = resolve; });
  let open = 2;
  const onClose = (other: Socket) => () => {
    flushAndClose(other);
    if (--open > 0) return;
    try {
      conn.close(closeKind);
    } catch (error) {
      outcome = `${outcome ?? 'closed'}; the filter failed while closing: ${(error as Error).message.split('\n')[0]}`;
    }
    options.onConnectionLog(
      `${client} -> ${showHostPort(options.upstream.host, options.upstream.port)}: ` +
      `${tally.fromClient} B from client, ${tally.toUpstream} B upstream (filter added ${tally.toUpstream - tally.fromClient}), ` +
      `${tally.fromUpstream} B from upstream, ${tally.toClient} B to client; ${outcome ?? 'closed'}`,
    );
    markFinished();
  };
  downstream.once('close', onClose(upstream));
  upstream.once('close', onClose(downstream));

  return {
    cut: (reason) => {
      outcome ??= reason;
      closeKind = 'local';
      downstream.destroy();
      upstream.destroy();
    },
    finished,
  };
}

/** The filter's metrics as Envoy's admin /stats shows them, after a last flush. */
export function metricsLine(plugin: Plugin): string {
  if (!plugin.failed) plugin.tick();
  const metrics = plugin.metrics();
  return metrics.length === 0 ? 'none defined' : metrics.map((m) => `wasmcustom.${m.name}: ${m.value}`).join(', ');
}

/** Sends what is queued, then closes, even if the peer never half-closes. */
function flushAndClose(socket: Socket): void {
  if (socket.destroyed) return;
  if (socket.connecting || socket.writableEnded) {
    if (socket.connecting) socket.destroy();
    else if (socket.writableFinished) socket.destroy();
    else socket.once('finish', () => socket.destroy());
    return;
  }
  socket.end(() => socket.destroy());
}

export async function proxyCommand(argv: string[]): Promise<number> {
  const values = parse(argv, {
    listen: { type: 'string', value: 'HOST:PORT' },
    upstream: { type: 'string', value: 'HOST:PORT' },
    'connect-timeout': { type: 'string', value: 'MS' },
    'fail-open': { type: 'boolean' },
    'drain-timeout': { type: 'string', value: 'MS' },
    quiet: { type: 'boolean' },
    ...PLUGIN_OPTIONS,
  });
  if (values.help) {
    console.log(PROXY_HELP);
    return 0;
  }
  const at = parseHostPort('listen', stringOption(values, 'listen'));
  const upstream = parseHostPort('upstream', stringOption(values, 'upstream'));
  const connectTimeoutMs = millisecondsOption(values, 'connect-timeout', DEFAULT_CONNECT_TIMEOUT_MS, 1, 999_999_999);
  const drainMs = millisecondsOption(values, 'drain-timeout', DEFAULT_DRAIN_MS, 0, 86_400_000);
  const plugin = await loadPlugin(values, {
    failOpen: values['fail-open'] === true,
    tickTimers: true,
    onLog: stampedLog,
  });
  const quiet = values.quiet === true;
  const { server, drain } = createProxyServer({
    upstream,
    plugin,
    connectTimeoutMs,
    onConnectionLog: (line) => { if (!quiet) process.stdout.write(`${stamped(line)}\n`); },
  });
  const stop = nextSignal();
  try {
    const bound = await listen(server, at.host, at.port, 'proxy');
    status('proxy', `listening on ${showHostPort(bound.host, bound.port)}, upstream ${showHostPort(upstream.host, upstream.port)}`);
    const signal = await stop.signal;
    const again = nextSignal();
    status('proxy', `${signal}: no longer accepting; open connections may finish for up to ${drainMs} ms (${signal} again cuts them now)`);
    const { finished, cut } = await drain(drainMs, again.signal);
    again.dispose();
    status('proxy', `stopped (connections: ${finished} finished while draining, ${cut} cut)`);
    status('proxy', `filter metrics: ${metricsLine(plugin)}`);
  } finally {
    stop.dispose();
    plugin.shutdown();
  }
  return 0;
}
