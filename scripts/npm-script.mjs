#!/usr/bin/env node
// The entry of the npm scripts that need a build: runs the build, then the
// program, unless the arguments ask for help. Then the program prints its
// usage at once, with no build (`npm run bench -- --help`); only on a fresh
// clone, where dist/ does not exist yet, is the TypeScript compiled first
// (a few seconds), because the programs import it.
//
//   node scripts/npm-script.mjs BUILD PROGRAM [ARGS...]
//     BUILD    the npm scripts to run first, comma-separated: build, or build:wasm,build:ts
//     PROGRAM  the script to run, relative to the package root, with ARGS
//
// The program runs in this process (as `node PROGRAM ARGS...` would: same
// process.argv), so signals and the exit code need no passing on.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const [build, program, ...args] = process.argv.slice(2);
if (build === undefined || program === undefined) {
  console.error('usage: node scripts/npm-script.mjs BUILD[,BUILD...] PROGRAM [ARGS...]');
  process.exit(2);
}

const wantsHelp = args.includes('--help') || args.includes('-h');
const steps = wantsHelp ? (existsSync(`${root}dist`) ? [] : ['build:ts']) : build.split(',');
// The npm that started this script (PATH's first npm is an old one from node_modules/.bin).
const npm = /npm-cli\.js$/.test(process.env.npm_execpath ?? '') ? [process.execPath, process.env.npm_execpath] : ['npm'];
for (const step of steps) {
  const result = spawnSync(npm[0], [...npm.slice(1), 'run', step], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`npm run ${step} failed${result.error ? `: ${result.error.message}` : ''}; ${program} did not run`);
    process.exit(result.status ?? 1);
  }
}

const path = fileURLToPath(new URL(program, pathToFileURL(root)));
process.argv = [process.argv[0], path, ...(wantsHelp ? ['--help'] : args)];
await import(pathToFileURL(path).href);
