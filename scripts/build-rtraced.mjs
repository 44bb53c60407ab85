// `npm run build:rtraced`: the filter built with AssemblyScript's runtime
// tracing (--use ASC_RTRACE=1), for the memory-safety tests only
// (tests/reliability/rtrace.test.mjs). It imports "rtrace" hooks that Envoy
// does not offer, so it is never shipped. Written to build/ppv2.rtraced.wasm,
// or to the path given as the first argument.
//
// asconfig.json's shared options apply (runtime, exportStart, abort hook);
// no target is named, so that no target's outFile or textFile is overwritten.
import { fileURLToPath } from 'node:url';
import { main } from 'assemblyscript/asc';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = process.argv[2] ?? `${root}build/ppv2.rtraced.wasm`;
const { error, stderr } = await main(
  ['assembly/index.ts', '--debug', '--use', 'ASC_RTRACE=1', '--outFile', out],
  { stdout: process.stdout, stderr: process.stderr, baseDir: root },
);
if (error) {
  console.error(`build:rtraced: ${error.message}`);
  process.exit(1);
}
void stderr;
console.log(`build:rtraced: wrote ${out}`);
