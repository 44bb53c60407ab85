// `npm run fuzz`: seeded fuzzing of build/ppv2.wasm through the host, for a
// bounded time (default 5 minutes), against the oracle in tests/reliability/.
// Prints the seed and the counts; exits 1 when an invariant broke.
//
//   npm run fuzz                          random seed, 300 s
//   FUZZ_SEED=1234 FUZZ_SECONDS=60 npm run fuzz
//   npm run fuzz -- --seed 1234 --seconds 60 --wasm build/ppv2.debug.wasm
//   npm run fuzz -- --seed 1234 --case 812  replays one case and prints it
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from '../dist/cli/args.js';
import { buildCase, fuzz, runCase } from '../tests/reliability/engine.mjs';

const USAGE = `usage: npm run fuzz [-- --seed N] [--seconds S] [--wasm FILE] [--case N]
  --seed N      the run's seed, 0-4294967295 (default: FUZZ_SEED, else random)
  --seconds S   how long to run (default: FUZZ_SECONDS, else 300)
  --wasm FILE   the module to fuzz (default build/ppv2.wasm)
  --case N      replay case N of the seed and print it
  -h, --help    show this help`;

let values;
try {
  values = parse(process.argv.slice(2), {
    seed: { type: 'string', value: 'N' },
    seconds: { type: 'string', value: 'S' },
    wasm: { type: 'string', value: 'FILE' },
    case: { type: 'string', value: 'N' },
  });
} catch (error) {
  console.error(`fuzz: ${error.message}\n${USAGE}`);
  process.exit(2);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
values.seed ??= process.env.FUZZ_SEED;
values.seconds ??= process.env.FUZZ_SECONDS ?? '300';
values.wasm ??= fileURLToPath(new URL('../build/ppv2.wasm', import.meta.url));
const number = (name, text, max) => {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > max) {
    console.error(`fuzz: --${name} must be an integer 0-${max}, got ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return n;
};
const seed = values.seed === undefined ? (Math.random() * 2 ** 32) >>> 0 : number('seed', values.seed, 2 ** 32 - 1);
const seconds = number('seconds', values.seconds, 86400);
let module;
try {
  module = await WebAssembly.compile(readFileSync(values.wasm));
} catch (error) {
  console.error(`fuzz: cannot load ${values.wasm}: ${error.message} (build it with: npm run build)`);
  process.exit(2);
}
// The full run also tries configurations with tens of thousands of TLVs (refused at the 65th).
const hugeCounts = [64, 65, 1000, 21845, 65535, 70000];

if (values.case !== undefined) {
  const c = buildCase(seed, number('case', values.case, 2 ** 31), { hugeCounts });
  try {
    console.log(JSON.stringify(await runCase(module, c)));
  } catch (error) {
    console.log(`${error.message}\n${JSON.stringify(error.details, null, 2)}`);
    process.exit(1);
  }
  process.exit(0);
}

console.log(`fuzz: seed ${seed}, ${seconds} s, ${values.wasm} (replay: FUZZ_SEED=${seed} npm run fuzz, or --seed ${seed} --case N)`);
const started = Date.now();
const { tally, findings } = await fuzz({
  wasm: module,
  seed,
  deadline: started + seconds * 1000,
  hugeCounts,
  onFinding: (f) => console.log(`FINDING (case ${f.details?.case}): ${f.message}\n  ${JSON.stringify(f.details)}`),
  onProgress: (t) => console.log(`  ${t.cases} cases, ${t.connections} connections, ${((Date.now() - started) / 1000).toFixed(0)} s`),
});
const mib = (tally.bytes / 2 ** 20).toFixed(1);
console.log(`fuzz: seed ${seed}: ${tally.cases} cases in ${((Date.now() - started) / 1000).toFixed(0)} s`);
console.log(`  configurations: ${tally.accepted} accepted, ${tally.refused} refused; by kind ${JSON.stringify(tally.byKind)}`);
console.log(`  connections: ${tally.connections}, ${tally.bytes} payload bytes (${mib} MiB) compared byte for byte`);
console.log(`  outcomes: ${JSON.stringify(tally.outcomes)}`);
console.log(findings.length === 0 ? '  no new finding: no trap, no lost byte, no wrong header' : `  ${findings.length} finding(s), listed above`);
process.exit(findings.length === 0 ? 0 : 1);
