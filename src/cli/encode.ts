// `ppv2-wasm encode`: runs the filter for one synthetic connection and shows
// the header it would prepend, as hex and then decoded by the independent
// decoder. The quickest way to see what a configuration does.

import { decodeProxyHeader } from '../proxy-protocol/index.js';
import { parse, RunError, stringOption, UsageError } from './args.js';
import { loadPlugin, PLUGIN_HELP, PLUGIN_OPTIONS } from './plugin.js';

export const ENCODE_HELP = `Usage: ppv2-wasm encode --src ADDR --dst ADDR [--sni NAME] [--property PATH=VALUE]... [options]

Runs the filter for one synthetic connection (the client sends nothing and
half-closes) and prints the header it prepends: hex on the first line, then
the header decoded as JSON.

ADDR is given to the filter as Envoy's source.address / destination.address:
"1.2.3.4:5678", "[2001:db8::1]:443", "[::ffff:1.2.3.4]:80", a UNIX path such
as "/run/app.sock", or anything else to see the unknown-address fallback.

Options:
  --src ADDR             the client's address (source.address)
  --dst ADDR             the address the client connected to (destination.address)
  --sni NAME             the TLS SNI (connection.requested_server_name), for "from": "sni"
  --property PATH=VALUE  any other string property, e.g. connection.uri_san_peer_certificate=spiffe://a/b
${PLUGIN_HELP}
  -h, --help             show this help`;

const EMPTY = new Uint8Array(0);

export async function encodeCommand(argv: string[]): Promise<number> {
  const values = parse(argv, {
    src: { type: 'string', value: 'ADDR' },
    dst: { type: 'string', value: 'ADDR' },
    sni: { type: 'string', value: 'NAME' },
    property: { type: 'string', multiple: true, value: 'PATH=VALUE' },
    ...PLUGIN_OPTIONS,
  });
  if (values.help) {
    console.log(ENCODE_HELP);
    return 0;
  }
  const source = stringOption(values, 'src');
  const destination = stringOption(values, 'dst');
  if (source === undefined) throw new UsageError('--src ADDR is required');
  if (destination === undefined) throw new UsageError('--dst ADDR is required');
  const properties: Record<string, string> = {};
  for (const entry of (values.property ?? []) as string[]) {
    const at = entry.indexOf('=');
    if (at <= 0) throw new UsageError(`--property "${entry}" is not PATH=VALUE`);
    properties[entry.slice(0, at)] = entry.slice(at + 1);
  }
  const sni = stringOption(values, 'sni');

  const plugin = await loadPlugin(values);
  try {
    const conn = plugin.newConnection({ source, destination, properties, ...(sni === undefined ? {} : { sni }) });
    const result = conn.downstreamData(EMPTY, true);
    conn.close('remote');
    if (plugin.failed) throw new RunError(`the filter failed: ${plugin.failure ?? 'unknown failure'}`);
    if (result.closed && result.forwarded.length === 0) {
      console.log('no header: the filter closed the connection (see on_unknown_address)');
      return 0;
    }
    const bytes = result.forwarded;
    console.log(Buffer.from(bytes).toString('hex'));
    const decoded = decodeProxyHeader(bytes);
    if (decoded.state !== 'complete') throw new RunError(`the filter's output is not a valid PROXY header: ${decoded.reason}`);
    if (decoded.header.length !== bytes.length) {
      throw new RunError(`the filter forwarded ${bytes.length} bytes but the header is ${decoded.header.length}`);
    }
    console.log(JSON.stringify(decoded.header, null, 2));
    return 0;
  } finally {
    plugin.shutdown();
  }
}
