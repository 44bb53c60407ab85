// Shared by the host tests: fixture loading and small byte helpers.
export { fixture, watToWasm } from '../fixtures/wat.mjs';

/** The plugin's log messages, optionally only those logged from index `from` on. */
export const messages = (plugin, from = 0) => plugin.logs.slice(from).map((e) => e.message);

/** A 4-byte little-endian number. */
export const u32le = (n) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};

/** Lowercase hex of a string's UTF-8 bytes, as the fixtures' $hex helper prints it. */
export const hex = (s) => Buffer.from(s).toString('hex');

export const bytes = (s) => Buffer.from(s);
export const text = (u8) => Buffer.from(u8).toString();

/**
 * A minimal module around `fields`: memory, the ABI marker and a bump-free malloc, unless
 * disabled, so refusal cases can leave one of them out.
 */
export function mod(fields, { abi = 'proxy_abi_version_0_2_1', malloc = true, memory = true } = {}) {
  return `(module
    ${fields}
    ${memory ? '(memory (export "memory") 1)' : ''}
    ${abi ? `(func (export "${abi}"))` : ''}
    ${malloc ? '(func (export "malloc") (param i32) (result i32) (i32.const 4096))' : ''}
  )`;
}
