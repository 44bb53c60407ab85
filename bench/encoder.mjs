// Figure 3: the PROXY v2 encoder alone, in ns per header. The release module exports only the
// Proxy-Wasm ABI, so bench/encoder.ts wraps the same encoder sources (assembly/ppv2.ts,
// assembly/address.ts) and is compiled here, in memory, with the release target's options.
import asc from 'assemblyscript/asc';
import { fileURLToPath } from 'node:url';
import { expectHeader } from './guard.mjs';
import { median } from './report.mjs';

const SECTION = '3. Encoder alone (assembly/ppv2.ts, same optimisation as the release module)';
const root = fileURLToPath(new URL('..', import.meta.url));

async function compile() {
  const files = {};
  const stderr = asc.createMemoryStream();
  const { error } = await asc.main(
    [
      'bench/encoder.ts',
      '--baseDir', root,
      '--config', 'bench/encoder.asconfig.json',
      '--outFile', 'encoder.wasm',
    ],
    { stdout: asc.createMemoryStream(), stderr, writeFile: (name, contents) => { files[name] = contents; } },
  );
  if (error !== null || files['encoder.wasm'] === undefined) {
    const detail = stderr.toString().split('\n').find((l) => l.trim() !== '') ?? String(error);
    throw new Error(`cannot compile bench/encoder.ts: ${detail.trim()}`);
  }
  const { instance } = await WebAssembly.instantiate(files['encoder.wasm'], {});
  return instance.exports;
}

const SOURCE_4 = '1.2.3.4:5678';
const DESTINATION_4 = '5.6.7.8:80';
const SOURCE_6 = '[2001:db8::1]:5678';
const DESTINATION_6 = '[2001:db8:0:1::2]:443';
const TLVS = ['example.com', '1234567', 'h2']; // authority, unique_id, alpn

const PP2_TYPE_ALPN = 1;
const PP2_TYPE_AUTHORITY = 2;
const PP2_TYPE_UNIQUE_ID = 5;

export async function encoderBench(report, _modules, { perRound = 300_000, rounds = 9 } = {}) {
  const x = await compile();
  const u8 = () => new Uint8Array(x.memory.buffer);
  const input = x.inputPtr();

  /** Writes the two addresses (and the TLV values) into the harness; returns the family byte. */
  const setup = (source, destination) => {
    const s = Buffer.from(source);
    const d = Buffer.from(destination);
    const t = TLVS.map((v) => Buffer.from(v));
    const all = Buffer.concat([s, d, ...t]);
    if (all.length > 256) throw new Error('encoder bench: inputs exceed the harness buffer');
    u8().set(all, input);
    x.setTlvs(s.length + d.length, t[0].length, t[1].length, t[2].length);
    const family = x.setAddresses(s.length, s.length, d.length);
    if (family === 0) throw new Error(`encoder bench: the harness could not parse ${source} / ${destination}`);
    return family;
  };
  const header = (length) => u8().slice(x.headerPtr(), x.headerPtr() + length);
  const withPort0 = (address) => address.replace(/:\d+$/, ':0'); // the harness's last header has port 0

  const cases = [
    { name: 'IPv4, no TLVs', source: SOURCE_4, destination: DESTINATION_4, tlvs: false, family: 'TCP4' },
    { name: 'IPv6, no TLVs', source: SOURCE_6, destination: DESTINATION_6, tlvs: false, family: 'TCP6' },
    { name: 'IPv4 + 3 TLVs (authority, unique_id, alpn) + CRC32C', source: SOURCE_4, destination: DESTINATION_4, tlvs: true, family: 'TCP4' },
  ];
  const ns = {};
  for (const c of cases) {
    const family = setup(c.source, c.destination);
    // Guard: one header, decoded by the independent decoder (CRC32C verified there).
    const length = x.encode(1, family, c.tlvs);
    expectHeader(`encoder harness, ${c.name}`, header(length), {
      source: withPort0(c.source),
      destination: c.destination,
      family: c.family,
      tlvs: c.tlvs ? [[PP2_TYPE_AUTHORITY, TLVS[0]], [PP2_TYPE_UNIQUE_ID, TLVS[1]], [PP2_TYPE_ALPN, TLVS[2]]] : [],
    });
    ns[c.name] = [];
    x.encode(perRound, family, c.tlvs); // warm-up
    for (let r = 0; r < rounds; r++) {
      const start = process.hrtime.bigint();
      x.encode(perRound, family, c.tlvs);
      ns[c.name].push(Number(process.hrtime.bigint() - start) / perRound);
    }
  }
  setup(SOURCE_4, DESTINATION_4);
  ns.parse = [];
  x.parse(perRound);
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint();
    x.parse(perRound);
    ns.parse.push(Number(process.hrtime.bigint() - start) / perRound);
  }

  const note = `${(perRound * rounds).toLocaleString('en-US')} headers each`;
  cases.forEach((c, i) => report.add(SECTION, `ns per header, ${c.name}`, median(ns[c.name]), 'ns', null, i === 0 ? note : ''));
  report.add(SECTION, 'parsing both IPv4 address strings (assembly/address.ts), for comparison', median(ns.parse), 'ns');
  report.details.encoder = { perRound, rounds, nsPerHeader: ns };
}
