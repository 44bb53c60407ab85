// Long-running subcommands (proxy, inspect) run until SIGINT or SIGTERM,
// then close their server and open sockets and return exit code 0.

import type { Server, Socket } from 'node:net';
import { RunError, showHostPort } from './args.js';
import { status } from './output.js';

export interface SignalWait {
  /** Resolves with the signal's name the first time SIGINT or SIGTERM arrives. */
  signal: Promise<NodeJS.Signals>;
  /** Stops listening for the signals (when it is no longer wanted). */
  dispose(): void;
}

/** Waits for the next SIGINT or SIGTERM; while it waits, they do not end the process. */
export function nextSignal(): SignalWait {
  let onSignal!: (signal: NodeJS.Signals) => void;
  const dispose = () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  const signal = new Promise<NodeJS.Signals>((resolve) => {
    onSignal = (name) => {
      dispose();
      resolve(name);
    };
  });
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return { signal, dispose };
}

/** The accept queue we ask for; the kernel caps it at net.core.somaxconn. */
export const LISTEN_BACKLOG = 4096;

/** Listens, turning EADDRINUSE and friends into one RunError line. */
export function listen(server: Server, host: string, port: number, command: string): Promise<{ host: string; port: number }> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      const why = error.code === 'EADDRINUSE' ? 'address already in use'
        : error.code === 'EADDRNOTAVAIL' ? 'address not available on this machine'
        : error.code === 'EACCES' ? 'permission denied'
        : error.message;
      reject(new RunError(`cannot listen on ${showHostPort(host, port)}: ${why}`));
    };
    server.once('error', onError);
    // A deep accept queue, as Envoy's listeners have (tcp_backlog_size defaults
    // to the kernel's somaxconn): Node's 511 is overflowed by a burst of 1,000
    // clients (npm run soak), and the kernel resets some before they are accepted.
    server.listen({ host, port, exclusive: true, backlog: LISTEN_BACKLOG }, () => {
      server.off('error', onError);
      // Later errors (e.g. EMFILE on accept) are reported, never fatal.
      server.on('error', (error: NodeJS.ErrnoException) => status(command, `server error: ${error.code ?? error.message}`));
      const address = server.address();
      if (address === null || typeof address === 'string') {
        resolve({ host, port });
      } else {
        resolve({ host: address.address, port: address.port });
      }
    });
  });
}

/** Tracks a server's sockets so that stopping can end them all. */
export class SocketSet {
  private readonly sockets = new Set<Socket>();

  add(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  get size(): number {
    return this.sockets.size;
  }

  destroyAll(): void {
    for (const socket of this.sockets) socket.destroy();
  }
}

/** Closes the server and every tracked socket. */
export function closeServer(server: Server, sockets: SocketSet): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    sockets.destroyAll();
  });
}
