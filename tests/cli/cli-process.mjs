// Runs `ppv2-wasm` as a child process for tests: one-shot runs with a bounded
// wait, and long-running servers whose stdout lines are read one by one.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/ppv2-wasm.js', import.meta.url));

/**
 * Runs the CLI to completion (killed after `timeoutMs`): { code, stdout, stderr }.
 * `bin` runs another copy (an installed package's), from `cwd`.
 */
export async function runCli(args, { timeoutMs = 20000, env, bin = BIN, cwd } = {}) {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env }, cwd });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code, signal] = await once(child, 'close');
  clearTimeout(timer);
  if (signal) throw new Error(`ppv2-wasm ${args.join(' ')} did not finish within ${timeoutMs} ms (stderr: ${stderr})`);
  return { code, stdout, stderr };
}

/**
 * Starts a long-running subcommand and waits for its "listening on HOST:PORT"
 * line on stderr. Returns the port, a reader of stdout lines and stop().
 */
export async function startCli(args, { timeoutMs = 20000, env, bin = BIN, cwd } = {}) {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env }, cwd });
  const lines = new LineQueue(child.stdout);
  let stderr = '';
  const listening = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "listening on" line within ${timeoutMs} ms; stderr: ${stderr}`)), timeoutMs);
    child.stderr.on('data', (d) => {
      stderr += d;
      const match = /listening on (\S+):(\d+)/.exec(stderr);
      if (match) { clearTimeout(timer); resolve(Number(match[2])); }
    });
    child.once('close', (code) => { clearTimeout(timer); reject(new Error(`exited with ${code} before listening; stderr: ${stderr}`)); });
  });
  let port;
  try {
    port = await listening;
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    child,
    port,
    lines,
    stderr: () => stderr,
    /** SIGTERM, then SIGKILL if it has not exited within `graceMs`; resolves with the exit code. */
    async stop(graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      const closed = once(child, 'close');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const [code] = await closed;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Lines from a stream, awaited one at a time with a bound. */
export class LineQueue {
  constructor(stream) {
    this.buffer = '';
    this.ready = [];
    this.waiters = [];
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      this.buffer += chunk;
      let at;
      while ((at = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, at);
        this.buffer = this.buffer.slice(at + 1);
        const waiter = this.waiters.shift();
        if (waiter) waiter.resolve(line); else this.ready.push(line);
      }
    });
  }

  next(timeoutMs = 10000) {
    if (this.ready.length > 0) return Promise.resolve(this.ready.shift());
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: (line) => { clearTimeout(timer); resolve(line); },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`no output line within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  async nextJson(timeoutMs) {
    return JSON.parse(await this.next(timeoutMs));
  }
}
