// The backend every subject forwards to: one nginx process (Debian's nginx 1.22) with two
// listeners, one that requires a PROXY header (`listen ... proxy_protocol`) and one plain, for
// the subject that sends none. nginx is the real thing a PROXY sender talks to, and it is cheap
// enough per connection that Envoy, not the backend, is the saturated process (run.mjs checks).
//
//   GET /small    a 3-byte body: the short-connection figures
//   GET /large    a large file through sendfile: bulk download
//   POST /upload  the body is read and dropped: bulk upload
//   GET /whoami   the client address nginx read from the PROXY header: the guard
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopChild } from '../../dist/deploy/envoy-launcher.js';
import { freePort } from '../../tests/e2e/consumers.mjs';
import { findTool } from '../../tests/e2e/tools.mjs';
import { HOST } from './http.mjs';

function config(dir, { proxyPort, plainPort, maxConnections }) {
  const at = (name) => join(dir, name);
  // One process (no master), so the bench's own taskset applies to it and stopping it is one
  // signal to one pid. Keep-alive is long, so that idle connections stay open as long as the
  // bench holds them; and nginx closes idle keep-alive connections once fewer than 1/16 of its
  // worker_connections are free (ngx_drain_connections, src/core/ngx_connection.c), so there
  // are enough of them to never get there.
  const workerConnections = Math.ceil((maxConnections * 17) / 16) + 64;
  return `daemon off;
master_process off;
worker_processes 1;
pid ${at('nginx.pid')};
error_log ${at('error.log')} error;
events { worker_connections ${workerConnections}; multi_accept on; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 600s;
  keepalive_requests 1000000;
  client_max_body_size 0;
  lingering_time 120s;
  client_body_temp_path ${at('body')};
  proxy_temp_path ${at('proxy')};
  fastcgi_temp_path ${at('fastcgi')};
  uwsgi_temp_path ${at('uwsgi')};
  scgi_temp_path ${at('scgi')};
  default_type application/octet-stream;
  server {
    listen ${HOST}:${proxyPort} proxy_protocol backlog=4096;
    listen ${HOST}:${plainPort} backlog=4096;
    root ${at('www')};
    location = /small { return 200 "ok\\n"; }
    location = /large { }
    location = /upload { return 204; }
    location = /whoami { return 200 "$proxy_protocol_addr $proxy_protocol_port\\n"; }
  }
}
`;
}

function listening(port) {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Starts nginx with a sparse file of `largeBytes` at /large (read from the page cache as
 * zeros). `maxConnections` sizes worker_connections for the idle-connection figure.
 */
export async function startBackend({ largeBytes, maxConnections, pin }) {
  const binary = findTool('nginx');
  if (binary === null) throw new Error('nginx is not installed (apt-get install -y nginx)');
  let lastError;
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), 'ppv2-bench-nginx-'));
    mkdirSync(join(dir, 'www'));
    // A sparse file: no disk I/O, and nginx still serves it with sendfile.
    writeFileSync(join(dir, 'www', 'large'), '');
    truncateSync(join(dir, 'www', 'large'), largeBytes);
    const proxyPort = await freePort(HOST);
    const plainPort = await freePort(HOST);
    writeFileSync(join(dir, 'nginx.conf'), config(dir, { proxyPort, plainPort, maxConnections }));
    const [command, args] = pin(binary, ['-e', join(dir, 'error.log'), '-p', dir, '-c', join(dir, 'nginx.conf')]);
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (text) => (stderr += text));
    const stop = async () => {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    };
    const deadline = Date.now() + 10_000;
    try {
      for (;;) {
        if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode}): ${stderr.trim().split('\n')[0] ?? ''}`);
        if ((await listening(proxyPort)) && (await listening(plainPort))) break;
        if (Date.now() > deadline) throw new Error(`nginx is not listening on ${proxyPort} and ${plainPort} after 10 s`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return { pid: child.pid, proxyPort, plainPort, stop };
    } catch (error) {
      lastError = error;
      await stop();
    }
  }
  throw lastError;
}
