// Command-line parsing shared by the subcommands: node:util's tokenizer, with
// every mistake turned into one line of our own (parseArgs' strict messages,
// such as "argument is ambiguous" for `--header-timeout -5`, explain its
// internals rather than the command), and HOST:PORT endpoints.

import { parseArgs } from 'node:util';
import { isIP } from 'node:net';

/** A mistake in how the command was called: printed as one line, exit code 2. */
export class UsageError extends Error {}

/** A failure at run time (port in use, missing wasm, rejected config): exit code 1. */
export class RunError extends Error {}

export interface OptionSpec {
  type: 'string' | 'boolean';
  multiple?: boolean;
  short?: string;
  /** What a string option takes, for messages: "HOST:PORT", "MS", "FILE". */
  value?: string;
}

export type Options = Record<string, OptionSpec>;

export type Values = Record<string, string | boolean | string[] | undefined>;

const HELP_OPTION: OptionSpec = { type: 'boolean', short: 'h' };

/**
 * The options in `argv`, or a UsageError naming the first mistake. A string
 * option takes the next argument as its value even when it starts with "-"
 * (`--header-timeout -5` reaches the option's own check), unless it is
 * another option ("--listen --upstream ..." means --listen has no value).
 */
export function parse(argv: string[], options: Options): Values {
  const all: Options = { ...options, help: HELP_OPTION };
  const { tokens } = parseArgs({ args: argv, options: all, strict: false, allowPositionals: true, tokens: true });
  const values: Values = {};
  for (const token of tokens) {
    if (token.kind === 'positional') {
      throw new UsageError(`unexpected argument "${token.value}": this command takes options only`);
    }
    if (token.kind === 'option-terminator') {
      throw new UsageError('unexpected "--": this command takes options only');
    }
    const spec = Object.hasOwn(all, token.name) ? all[token.name]! : undefined;
    if (spec === undefined) {
      throw new UsageError(`unknown option ${token.rawName} (options: ${optionList(options)})`);
    }
    if (spec.type === 'boolean') {
      if (token.inlineValue) throw new UsageError(`${token.rawName} takes no value (got "${token.value}")`);
      values[token.name] = true;
      continue;
    }
    const value = token.value;
    if (value === undefined || (!token.inlineValue && isOptionName(value, all))) {
      throw new UsageError(`${token.rawName} needs a value: ${token.rawName} ${spec.value ?? 'VALUE'}`);
    }
    if (spec.multiple) values[token.name] = [...((values[token.name] as string[] | undefined) ?? []), value];
    else values[token.name] = value;
  }
  return values;
}

/** "--x" or "--x=..." where x is an option, "-h": an option, not a value. */
function isOptionName(text: string, options: Options): boolean {
  if (text.startsWith('--')) return Object.hasOwn(options, text.slice(2).split('=')[0]!);
  return text.length === 2 && Object.values(options).some((spec) => spec.short === text[1]);
}

function optionList(options: Options): string {
  return `${Object.keys(options).map((name) => `--${name}`).join(', ')}, --help`;
}

/** A string option's value (the last one when given twice). */
export function stringOption(values: Values, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

/** A whole number of milliseconds in [min, max], or a UsageError quoting the text. */
export function millisecondsOption(values: Values, name: string, fallback: number, min: number, max: number): number {
  const text = stringOption(values, name);
  if (text === undefined) return fallback;
  const ms = /^[0-9]{1,10}$/.test(text) ? Number(text) : NaN;
  if (!(ms >= min && ms <= max)) {
    throw new UsageError(`--${name} "${text}" is not a whole number of milliseconds from ${min} to ${max}`);
  }
  return ms;
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
