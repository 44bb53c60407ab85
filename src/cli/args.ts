// Command-line parsing shared by the subcommands: node:util parseArgs with
// errors turned into one line, and HOST:PORT endpoints.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { isIP } from 'node:net';

/** A mistake in how the command was called: printed as one line, exit code 2. */
export class UsageError extends Error {}

/** A failure at run time (port in use, missing wasm, rejected config): exit code 1. */
export class RunError extends Error {}

export type Options = NonNullable<ParseArgsConfig['options']>;

export type Values = Record<string, string | boolean | Array<string | boolean> | undefined>;

export function parse(argv: string[], options: Options): Values {
  try {
    const { values } = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false });
    return values;
  } catch (error) {
    // parseArgs messages can carry a second line of advice; keep the first.
    throw new UsageError((error as Error).message.split('\n')[0]!);
  }
}

/** A string option's value (the last one when given twice). */
export function stringOption(values: Values, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

export interface HostPort {
  host: string;
  port: number;
}

/**
 * "HOST:PORT", with IPv6 in brackets ("[::1]:9000"). HOST may be a name
 * ("localhost"); PORT is 0-65535, and 0 asks the system for a free port
 * where that makes sense (listen).
 */
export function parseHostPort(flag: string, text: string | undefined): HostPort {
  if (text === undefined) throw new UsageError(`--${flag} HOST:PORT is required`);
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):([0-9]+)$/.exec(text);
  if (!match) throw new UsageError(`--${flag} "${text}" is not HOST:PORT (IPv6 in brackets: [::1]:9000)`);
  const host = match[1] ?? match[2]!;
  if (match[1] !== undefined && isIP(host) !== 6) throw new UsageError(`--${flag} "${text}": "${host}" in brackets is not an IPv6 address`);
  const port = Number(match[3]);
  if (port > 65535) throw new UsageError(`--${flag} "${text}": port ${port} is more than 65535`);
  return { host, port };
}

/** "host:port" for messages, with IPv6 in brackets. */
export function showHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}
