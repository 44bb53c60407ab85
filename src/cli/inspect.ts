// `ppv2-wasm inspect`: a backend that requires a PROXY header (v1 or v2),
// decodes it strictly, prints one JSON line per connection, then echoes the
// rest of the stream or closes. A bad header is reported with its reason and
// that connection aborted, as doc/proxy-protocol.txt section 2.1 asks; the
// server keeps serving.

import { createServer, type Server, type Socket } from 'node:net';
import { decodeProxyHeader, type ProxyHeader } from '../proxy-protocol/index.js';
import { millisecondsOption, parse, parseHostPort, showHostPort, stringOption } from './args.js';
import { closeServer, listen, nextSignal, SocketSet } from './lifecycle.js';
import { status } from './output.js';

export const INSPECT_HELP = `Usage: ppv2-wasm inspect --listen HOST:PORT [--echo] [--header-timeout MS]

A backend that requires a PROXY protocol header (v1 or v2) on every connection.
It decodes the header strictly (CRC32C verified when present, TLVs named) and
prints one JSON line per connection on stdout, with the time it was decoded:
  {"time":"2026-01-02T03:04:05.678Z","peer":"127.0.0.1:40312","local":"127.0.0.1:9000","header":{...},"headerHex":"0d0a..."}
or, for a connection without a valid header, the reason, and closes it:
  {"time":"...","peer":"127.0.0.1:40314","local":"127.0.0.1:9000","error":"v2 header: ...","receivedHex":"..."}

Options:
  --listen HOST:PORT     address to listen on; IPv6 in brackets ([::1]:9000); port 0 picks a free port
  --echo                 after the header, echo the rest of the stream back (half-close passes through)
                         default: send the JSON line back to the client, then close
  --header-timeout MS    give up on a client that has not sent a complete header (default 5000)
  -h, --help             show this help`;

export interface InspectRecord {
  /** When the header was decoded or refused (ISO 8601, UTC). */
  time: string;
  peer: string;
  local: string;
  header?: ProxyHeader;
  headerHex?: string;
  error?: string;
  receivedHex?: string;
}

export interface InspectOptions {
  echo: boolean;
  headerTimeoutMs: number;
  onRecord: (record: InspectRecord) => void;
}

/** How many received bytes a failure record shows. */
const SHOWN_BYTES = 64;

export function createInspectServer(options: InspectOptions): { server: Server; sockets: SocketSet } {
  const sockets = new SocketSet();
  // allowHalfOpen: with --echo, a client's FIN must not close our side
  // before the echoed bytes are written.
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    handleConnection(socket, options);
  });
  return { server, sockets };
}

function handleConnection(socket: Socket, options: InspectOptions): void {
  const peer = showHostPort(socket.remoteAddress ?? '?', socket.remotePort ?? 0);
  const local = showHostPort(socket.localAddress ?? '?', socket.localPort ?? 0);
  let buffered = Buffer.alloc(0);
  let settled = false;

  const fail = (error: string) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    const shown = buffered.subarray(0, SHOWN_BYTES).toString('hex');
    options.onRecord({ time: new Date().toISOString(), peer, local, error, receivedHex: buffered.length > SHOWN_BYTES ? `${shown}...` : shown });
    socket.destroy();
  };

  const timer = setTimeout(
    () => fail(`no complete PROXY header within ${options.headerTimeoutMs} ms (received ${buffered.length} bytes)`),
    options.headerTimeoutMs,
  );

  const onData = (chunk: Buffer) => {
    // Bounded: the decoder settles by 107 bytes (v1) or 16 + 65535 (v2).
    buffered = Buffer.concat([buffered, chunk]);
    const result = decodeProxyHeader(buffered);
    if (result.state === 'incomplete') return;
    if (result.state === 'malformed') return fail(result.reason);
    settled = true;
    clearTimeout(timer);
    socket.off('data', onData);
    const { header } = result;
    const record: InspectRecord = { time: new Date().toISOString(), peer, local, header, headerHex: buffered.subarray(0, header.length).toString('hex') };
    options.onRecord(record);
    const rest = buffered.subarray(header.length);
    if (options.echo) {
      if (rest.length > 0) socket.write(rest);
      socket.pipe(socket); // backpressure and half-close handled by pipe
    } else {
      socket.end(`${JSON.stringify(record)}\n`);
      socket.resume(); // discard whatever else the client sends
    }
  };

  socket.on('data', onData);
  socket.on('end', () => {
    if (!settled) {
      const last = decodeProxyHeader(buffered);
      fail(`connection ended after ${buffered.length} bytes, before a complete header${last.state === 'incomplete' ? ` (${last.reason})` : ''}`);
    }
  });
  socket.on('error', (error: NodeJS.ErrnoException) => fail(`connection error before a complete header: ${error.code ?? error.message}`));
  socket.on('close', () => clearTimeout(timer));
}

export async function inspectCommand(argv: string[]): Promise<number> {
  const values = parse(argv, {
    listen: { type: 'string', value: 'HOST:PORT' },
    echo: { type: 'boolean' },
    'header-timeout': { type: 'string', value: 'MS' },
  });
  if (values.help) {
    console.log(INSPECT_HELP);
    return 0;
  }
  const at = parseHostPort('listen', stringOption(values, 'listen'));
  const headerTimeoutMs = millisecondsOption(values, 'header-timeout', 5000, 1, 9_999_999);
  const { server, sockets } = createInspectServer({
    echo: values.echo === true,
    headerTimeoutMs,
    onRecord: (record) => process.stdout.write(`${JSON.stringify(record)}\n`),
  });
  const stop = nextSignal();
  try {
    const bound = await listen(server, at.host, at.port, 'inspect');
    status('inspect', `listening on ${showHostPort(bound.host, bound.port)}${values.echo ? ' (echo)' : ''}`);
    const signal = await stop.signal;
    status('inspect', `${signal}, stopping`);
    await closeServer(server, sockets);
  } finally {
    stop.dispose();
  }
  return 0;
}
