// What the bench runs: the release module and the hand-written fixtures it is compared with, and
// the connections and configurations they all see.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { fixture, watToWasm } from '../tests/fixtures/wat.mjs';

export const RELEASE_WASM = fileURLToPath(new URL('../build/ppv2.wasm', import.meta.url));

/** IPv4, no TLVs: the header is the 28-byte one bench/fixtures/floor.wat prepends. */
export const CONNECTION = Object.freeze({ source: '1.2.3.4:5678', destination: '5.6.7.8:80' });

/**
 * The same with authority (from SNI), unique_id (from the connection id) and CRC32C: the
 * 59-byte header of bench/fixtures/floor-tlv.wat. The connection id is fixed so that every
 * connection gets the same header.
 */
export const TLV_CONNECTION = Object.freeze({ ...CONNECTION, sni: 'example.com', connectionId: 1234567 });
export const TLV_CONFIG = JSON.stringify({
  crc32c: true,
  tlvs: [
    { type: 'authority', from: 'sni' },
    { type: 'unique_id', from: 'connection_id' },
  ],
});

/** A client's first bytes. */
export const PAYLOAD = Buffer.from('GET / HTTP/1.1\r\nHost: example.com\r\nUser-Agent: bench\r\n\r\n');

function benchFixture(name) {
  const path = fileURLToPath(new URL(`./fixtures/${name}.wat`, import.meta.url));
  return watToWasm(readFileSync(path, 'utf8'), `${name}.wat`);
}

/** The module bytes, by name. Throws one line when the release module is not built. */
export function loadModules() {
  let release;
  try {
    release = readFileSync(RELEASE_WASM);
  } catch (error) {
    throw new Error(`cannot read ${RELEASE_WASM} (${error.code ?? error.message}); build it with: npm run build`);
  }
  return {
    release,
    noop: fixture('noop'),
    floor: benchFixture('floor'),
    floorTlv: benchFixture('floor-tlv'),
    floorProxy: benchFixture('floor-proxy'),
  };
}
