// Real PROXY protocol consumers from Debian, each started by the test on a
// free loopback port with a temporary config (no system service is used):
// HAProxy and nginx answer an HTTP request with what they decoded, and tshark
// dissects bytes written to a pcap by text2pcap.
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer } from 'node:net';
import { once } from 'node:events';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A port that was free a moment ago (HAProxy and nginx cannot report a port 0 choice). */
export async function freePort(host = '127.0.0.1') {
  const server = createServer();
  server.listen(0, host);
  await once(server, 'listening');
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * HAProxy 2.6 with `accept-proxy`, answering every request with a JSON body
 * of the sample fetches that read the PROXY header (haproxy configuration.txt:
 * src, src_port, dst, dst_port, fc_pp_authority, fc_pp_unique_id).
 */
export async function startHaproxy(binary) {
  const body = [
    '{"src":"%[src]"', '"src_port":"%[src_port]"', '"dst":"%[dst]"', '"dst_port":"%[dst_port]"',
    '"authority":"%[fc_pp_authority]"', '"unique_id":"%[fc_pp_unique_id,hex]"}',
  ].join(',').replaceAll('"', '\\"');
  return startDaemon('haproxy', (dir, port) => {
    const config = join(dir, 'haproxy.cfg');
    writeFileSync(config, `global
  maxconn 2000

defaults
  mode http
  timeout connect 5s
  timeout client 20s
  timeout server 20s

frontend pp
  bind 127.0.0.1:${port} accept-proxy
  http-request return status 200 content-type application/json lf-string "${body}"
`);
    return [binary, ['-db', '-f', config]];
  });
}

/**
 * HAProxy 2.6 as a PROXY sender in front of 127.0.0.1:`targetPort` (TCP mode,
 * `send-proxy-v2`), adding the UNIQUE_ID TLV (`proxy-v2-options unique-id`)
 * with the value "lb-<uuid>" from `unique-id-format`. HAProxy 2.6 has no way
 * to send a custom TLV (`set-proxy-v2-tlv-fmt` came with 2.9).
 */
export async function startHaproxySender(binary, targetPort) {
  return startDaemon('haproxy', (dir, port) => {
    const config = join(dir, 'haproxy.cfg');
    writeFileSync(config, `global
  maxconn 2000
  log stderr format raw local0 info

defaults
  mode tcp
  log global
  option tcplog
  timeout connect 5s
  timeout client 20s
  timeout server 20s

frontend lb
  bind 127.0.0.1:${port}
  unique-id-format lb-%[uuid]
  default_backend envoy

backend envoy
  server envoy 127.0.0.1:${targetPort} send-proxy-v2 proxy-v2-options unique-id
`);
    return [binary, ['-db', '-f', config]];
  });
}

/**
 * nginx 1.22 with `listen ... proxy_protocol`, answering with the
 * $proxy_protocol_* variables (ngx_http_core_module; the TLV variables need
 * 1.23.2, newer than Debian bookworm's).
 */
export async function startNginx(binary) {
  return startDaemon('nginx', (dir, port) => {
    const config = join(dir, 'nginx.conf');
    const temp = (name) => join(dir, name);
    writeFileSync(config, `daemon off;
master_process off;
worker_processes 1;
pid ${temp('nginx.pid')};
error_log stderr warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${temp('body')};
  proxy_temp_path ${temp('proxy')};
  fastcgi_temp_path ${temp('fastcgi')};
  uwsgi_temp_path ${temp('uwsgi')};
  scgi_temp_path ${temp('scgi')};
  server {
    listen 127.0.0.1:${port} proxy_protocol;
    location / {
      default_type application/json;
      return 200 '{"addr":"$proxy_protocol_addr","port":"$proxy_protocol_port","server_addr":"$proxy_protocol_server_addr","server_port":"$proxy_protocol_server_port","remote_addr":"$remote_addr"}';
    }
  }
}
`);
    return [binary, ['-e', 'stderr', '-p', dir, '-c', config]];
  });
}

/**
 * Starts a daemon in the foreground on a fresh port and waits until it
 * accepts connections. Retries with another port if the first was taken in
 * the meantime.
 */
async function startDaemon(name, configure, attempts = 3) {
  let lastError;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), `ppv2-e2e-${name}-`));
    const port = await freePort();
    const [binary, args] = configure(dir, port);
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => { output += d; });
    child.stderr.on('data', (d) => { output += d; });
    const stop = async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const closed = once(child, 'close');
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await closed;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    };
    try {
      await waitForPort(port, child, () => output);
      return { port, stop, output: () => output };
    } catch (error) {
      lastError = error;
      await stop();
    }
  }
  throw lastError;
}

async function waitForPort(port, child, output, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode} before listening on ${port}: ${output()}`);
    const ok = await new Promise((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('connect', () => { socket.destroy(); resolve(true); });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`not listening on ${port} within ${timeoutMs} ms: ${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Sends raw bytes (a PROXY header, then an HTTP/1.0 request) and returns the
 * JSON body of the response. Used to validate the harness with golden headers.
 */
export async function httpOverRaw(port, header, { timeoutMs = 15000 } = {}) {
  const socket = connect({ host: '127.0.0.1', port });
  const chunks = [];
  socket.on('data', (d) => chunks.push(d));
  // A consumer that rejects the header may reset the connection: what
  // arrived before (usually nothing) is then the answer.
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.write(Buffer.concat([Buffer.from(header), Buffer.from('GET / HTTP/1.0\r\nHost: test\r\n\r\n')]));
  const timer = setTimeout(() => socket.destroy(new Error(`no response within ${timeoutMs} ms`)), timeoutMs);
  try {
    await new Promise((resolve) => socket.once('close', resolve));
  } finally {
    clearTimeout(timer);
  }
  return parseHttpJson(Buffer.concat(chunks).toString('latin1'));
}

export function parseHttpJson(response) {
  const match = /^HTTP\/1\.[01] (\d{3})[^\r]*\r\n[\s\S]*?\r\n\r\n([\s\S]*)$/.exec(response);
  if (!match) throw new Error(`not an HTTP response: ${JSON.stringify(response.slice(0, 200))}`);
  if (match[1] !== '200') throw new Error(`HTTP ${match[1]}: ${JSON.stringify(response.slice(0, 300))}`);
  return JSON.parse(match[2]);
}

/** tshark fields read from the PROXY dissector (Wireshark epan/dissectors/packet-proxy.c). */
export const TSHARK_FIELDS = [
  'proxy.version', 'proxy.v2.cmd', 'proxy.v2.addr_family_protocol', 'proxy.v1.proto',
  'proxy.src.ipv4', 'proxy.dst.ipv4', 'proxy.src.ipv6', 'proxy.dst.ipv6',
  'proxy.srcport', 'proxy.dstport', 'proxy.v2.length', 'proxy.v2.tlv.type',
];

/**
 * Writes `bytes` as one TCP segment into a pcap with text2pcap (from an
 * od-style dump, so no capture is needed) and returns tshark's PROXY fields,
 * or null values where tshark found no such field.
 */
export async function tsharkDecode(tools, bytes) {
  const dir = mkdtempSync(join(tmpdir(), 'ppv2-e2e-tshark-'));
  try {
    const dump = join(dir, 'segment.txt');
    const pcap = join(dir, 'segment.pcap');
    let text = '';
    for (let at = 0; at < bytes.length; at += 16) {
      const row = [...bytes.subarray(at, at + 16)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
      text += `${at.toString(16).padStart(6, '0')} ${row}\n`;
    }
    writeFileSync(dump, text);
    // Ports no other dissector claims, so the PROXY heuristic gets the segment.
    await run(tools.text2pcap, ['-q', '-T', '40000,40001', dump, pcap], { timeout: 30000 });
    const args = ['-r', pcap, '-T', 'fields', '-E', 'separator=\t', '-E', 'occurrence=f'];
    for (const field of TSHARK_FIELDS) args.push('-e', field);
    const { stdout } = await run(tools.tshark, args, { timeout: 60000 });
    const values = stdout.replace(/\n$/, '').split('\t');
    return Object.fromEntries(TSHARK_FIELDS.map((field, i) => [field, values[i] ? values[i] : null]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
