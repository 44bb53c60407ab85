// The npm that runs `npm test`, for the tests that pack and install. Under
// `npm test` the PATH starts with node_modules/.bin, where a dependency of
// @as-pect/cli puts an npm 6 (too old for `npm pack --pack-destination`);
// npm_execpath names the npm that started the run.
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const cli = process.env.npm_execpath;
const usable = cli !== undefined && /npm-cli\.js$/.test(cli);

/** Runs `npm ARGS` with that npm: { stdout, stderr }, or rejects. */
export function npm(args, options = {}) {
  return usable ? run(process.execPath, [cli, ...args], options) : run('npm', args, options);
}

/** Runs `npx ARGS` with the same npm's npx. */
export function npx(args, options = {}) {
  return usable ? run(process.execPath, [join(dirname(cli), 'npx-cli.js'), ...args], options) : run('npx', args, options);
}
