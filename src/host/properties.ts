// Property values as Envoy encodes them for proxy_get_property.
// Source: envoyproxy/envoy source/extensions/filters/common/expr/context.cc (the wrappers for
// source/destination/connection/upstream) and source/extensions/common/wasm/context.cc
// (getProperty walks NUL-separated segments; serializeValue: strings and bytes raw, int64 and
// uint64 8 bytes little-endian, double 8 bytes, bool 1 byte; plugin_name, plugin_root_id,
// plugin_vm_id and connection_id are handled there too).
import { isIP } from 'node:net';

/** A property value given to the host. `null` means the property does not exist (NotFound). */
export type PropertyValue = string | bigint | number | boolean | Uint8Array | null;

const UINT64_MAX = (1n << 64n) - 1n;
const INT64_MIN = -(1n << 63n);

/**
 * Formats a socket address the way Envoy prints it in `source.address`/`destination.address`:
 * `1.2.3.4:5678`, `[2001:db8::1]:443`. An IPv4-mapped address gives `[::ffff:1.2.3.4]:5678`,
 * as Envoy prints one; Node reports the IPv4 peers of a dual-stack socket that way, where Envoy
 * reports them as plain IPv4 (`ppv2-wasm proxy` converts them, src/cli/proxy.ts).
 */
export function envoyAddress(ip: string, port: number): string {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TypeError(`envoyAddress: port must be an integer 0-65535, got ${JSON.stringify(port)}`);
  }
  const family = isIP(ip);
  if (family === 4) return `${ip}:${port}`;
  if (family === 6) return `[${ip.toLowerCase()}]:${port}`;
  throw new TypeError(`envoyAddress: not an IP address: ${JSON.stringify(ip)}`);
}

/** The port of an Envoy IP address string, or undefined for pipes, internal addresses and the like. */
export function portOf(address: string): number | undefined {
  let m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(address);
  if (m === null) m = /^\[([0-9A-Fa-f:.]+(?:%[^\]]+)?)\]:(\d{1,5})$/.exec(address);
  if (m === null || isIP(m[1]!.split('%')[0]!) === 0) return undefined;
  const port = Number(m[2]);
  return port <= 65535 ? port : undefined;
}

/** Encodes a value the way Envoy's serializeValue does. Throws a one-line TypeError for a bad value. */
export function encodeProperty(key: string, value: Exclude<PropertyValue, null>): Uint8Array {
  switch (typeof value) {
    case 'string':
      return Buffer.from(value, 'utf8');
    case 'boolean':
      return Uint8Array.of(value ? 1 : 0);
    case 'bigint': {
      if (value < INT64_MIN || value > UINT64_MAX) {
        throw new TypeError(`property ${JSON.stringify(key)}: ${value} does not fit in 64 bits`);
      }
      const out = Buffer.alloc(8);
      if (value < 0n) out.writeBigInt64LE(value);
      else out.writeBigUInt64LE(value);
      return out;
    }
    case 'number': {
      const out = Buffer.alloc(8);
      if (Number.isSafeInteger(value)) out.writeBigInt64LE(BigInt(value));
      else if (Number.isFinite(value) && !Number.isInteger(value)) out.writeDoubleLE(value);
      else throw new TypeError(`property ${JSON.stringify(key)}: ${value} is not a safe integer or a finite double; pass a bigint`);
      return out;
    }
    default:
      if (value instanceof Uint8Array) return value;
      throw new TypeError(`property ${JSON.stringify(key)}: unsupported value type ${typeof value}`);
  }
}

/**
 * Turns a caller's key into the host's lookup key: dotted paths become NUL-separated segments
 * (`source.address` -> `source\0address`); a key that already contains NUL is taken as is.
 * Keys are kept in latin1 form so that they compare equal to the raw bytes read from Wasm memory.
 */
export function propertyKey(key: string): string {
  const raw = key.includes('\0') ? key : key.split('.').join('\0');
  return Buffer.from(raw, 'utf8').toString('latin1');
}

/** Checks and converts a caller's property table; throws one line naming the bad key. */
export function toPropertyMap(props: Record<string, PropertyValue> | undefined, into = new Map<string, Uint8Array | null>()): Map<string, Uint8Array | null> {
  if (props === undefined) return into;
  if (props === null || typeof props !== 'object') throw new TypeError('properties must be an object of path -> value');
  for (const [key, value] of Object.entries(props)) {
    into.set(propertyKey(key), value === null ? null : encodeProperty(key, value));
  }
  return into;
}

/**
 * Top-level names that Envoy answers with a map-like value. Asking for the map itself cannot be
 * serialized (the wrappers list no keys), so Envoy returns SerializationFailure for them.
 */
export const STREAM_MAPS: ReadonlySet<string> = new Set(['source', 'destination', 'connection', 'upstream', 'request', 'response']);

// Encoded addresses and ports, kept by address string. The host only ever copies these into
// Wasm memory, never hands them out, so one array can serve every connection that asks. A proxy
// sees few distinct local addresses and many peer ones; the table is emptied when full.
const ENCODED_MAX = 1024;
const addresses = new Map<string, Uint8Array>();
const ports = new Map<string, Uint8Array | null>();

/** `source.address` / `destination.address`: the string's UTF-8 bytes. */
export function encodeAddress(address: string): Uint8Array {
  let b = addresses.get(address);
  if (b === undefined) {
    if (addresses.size >= ENCODED_MAX) addresses.clear();
    b = Buffer.from(address, 'utf8');
    addresses.set(address, b);
  }
  return b;
}

/** `source.port` / `destination.port`: int64 little-endian, or null (NotFound) for an address with no port. */
export function encodePort(address: string): Uint8Array | null {
  let b = ports.get(address);
  if (b === undefined) {
    if (ports.size >= ENCODED_MAX) ports.clear();
    const port = portOf(address);
    if (port === undefined) b = null;
    else {
      b = Buffer.alloc(8);
      (b as Buffer).writeBigInt64LE(BigInt(port));
    }
    ports.set(address, b);
  }
  return b;
}
