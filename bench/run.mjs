// `npm run bench`: every figure beside its target, as a markdown table on stdout and
// as JSON in bench/results.json (with the machine and Node version). Not part of `npm test`.
//
//   node bench/run.mjs [--only lifecycle,counts,encoder,memory,size,proxy]
//
// Each section checks the module's output with the independent decoder before timing it, so a
// broken build fails the bench instead of producing a flattering number. Timings are medians of
// interleaved rounds, reported as ratios to a baseline measured in the same run.
import { fileURLToPath } from 'node:url';
import { parse } from '../dist/cli/args.js';
import { countBench } from './counts.mjs';
import { encoderBench } from './encoder.mjs';
import { lifecycleBench } from './lifecycle.mjs';
import { memoryBench } from './memory.mjs';
import { proxyBench } from './proxy.mjs';
import { Report } from './report.mjs';
import { sizeBench } from './size.mjs';
import { loadModules, RELEASE_WASM } from './subjects.mjs';

const SECTIONS = {
  lifecycle: ['1. Per connection, in V8', lifecycleBench],
  counts: ['2. Host calls and allocations', countBench],
  encoder: ['3. Encoder alone', encoderBench],
  memory: ['4. Memory', memoryBench],
  size: ['5. Binary size', sizeBench],
  proxy: ['6. Through the proxy', proxyBench],
};
const RESULTS = fileURLToPath(new URL('./results.json', import.meta.url));

const USAGE = `usage: npm run bench [-- --only SECTION[,SECTION...]]
  --only SECTIONS   run these sections only: ${Object.keys(SECTIONS).join(', ')} (default: all)
  -h, --help        show this help
Prints a markdown table on stdout and writes the figures to bench/results.json.`;

async function main() {
  const values = parse(process.argv.slice(2), { only: { type: 'string', value: 'SECTIONS' } });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const only = values.only === undefined ? Object.keys(SECTIONS) : values.only.split(',').map((s) => s.trim());
  for (const name of only) {
    if (!Object.hasOwn(SECTIONS, name)) throw new Error(`--only: unknown section "${name}" (sections: ${Object.keys(SECTIONS).join(', ')})`);
  }
  const modules = loadModules();
  const report = new Report();
  const started = Date.now();
  let failures = 0;
  for (const name of only) {
    const [title, run] = SECTIONS[name];
    const t = Date.now();
    process.stderr.write(`bench: ${title} ...`);
    try {
      await run(report, modules);
      process.stderr.write(` ${((Date.now() - t) / 1000).toFixed(1)} s\n`);
    } catch (error) {
      failures++;
      const reason = (error instanceof Error ? error.message : String(error)).split('\n')[0];
      process.stderr.write(` FAILED: ${reason}\n`);
      report.failed(title, reason);
    }
  }
  const seconds = (Date.now() - started) / 1000;
  const m = report.machine();
  console.log(report.table());
  console.log(`\n${m.cpu}, ${m.cores} cores, Node ${m.node} (V8 ${m.v8}), ${m.platform}; load average ${m.loadAverage}; ${new Date().toISOString().slice(0, 10)}; ${seconds.toFixed(0)} s`);
  const missed = report.figures.filter((f) => f.met === false).length;
  console.log(missed === 0 ? 'Every target met.' : `${missed} target(s) missed.`);
  report.write(RESULTS, { module: RELEASE_WASM, sections: only, seconds });
  console.log(`Figures written to ${RESULTS}`);
  if (failures > 0) process.exitCode = 1;
}

main().catch((error) => {
  console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
