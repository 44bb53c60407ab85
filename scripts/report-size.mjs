// Prints the release module's size after `npm run build`: the budget is 32 KiB raw.
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

const wasm = readFileSync(new URL('../build/ppv2.wasm', import.meta.url));
const budget = 32 * 1024;
const gz = gzipSync(wasm, { level: 9 }).length;
console.log(`build/ppv2.wasm: ${wasm.length} bytes (${gz} gzipped), budget ${budget}${wasm.length > budget ? ' EXCEEDED' : ''}`);
if (wasm.length > budget) process.exitCode = 1;
