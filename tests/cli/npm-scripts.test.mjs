// `npm run <script> -- --help` prints the script's usage at once: no build
// first (the build outputs keep their times), exit 0. And a script's bad
// argument is one line of its own, not a stack trace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { npm } from '../package/npm.mjs';
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BUILD_OUTPUTS = ['build/ppv2.wasm', 'build/ppv2.debug.wasm', 'dist/cli/main.js', 'dist/host/index.js'];

function run(command, args) {
  return new Promise((resolve) => {
    execFile(command, args, { cwd: ROOT, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (error.code ?? error.signal) : 0, stdout, stderr });
    });
  });
}

const mtimes = () => BUILD_OUTPUTS.map((file) => statSync(`${ROOT}${file}`).mtimeMs);

test('--help on every npm script that runs a program prints its usage without building', async () => {
  const before = mtimes();
  const scripts = ['start', 'start:envoy', 'bench', 'bench:envoy', 'fuzz', 'soak', 'image', 'validate'];
  for (const script of scripts) {
    for (const flag of script === 'bench' ? ['--help', '-h'] : ['--help']) {
      const { code, stdout, stderr } = await npm(['run', '--silent', script, '--', flag], { cwd: ROOT, timeout: 60_000 })
        .then(({ stdout, stderr }) => ({ code: 0, stdout, stderr }), (error) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }));
      assert.equal(code, 0, `npm run ${script} -- ${flag}: ${stderr}`);
      assert.match(stdout, /^usage: /, `npm run ${script} -- ${flag}`);
      assert.doesNotMatch(stderr, /Error|asc |tsc /, `npm run ${script} -- ${flag}`);
    }
  }
  // An npm script with a build step would have rewritten these.
  assert.deepEqual(mtimes(), before, 'no build ran');
});

test('a script\'s bad argument is one line naming it, exit 2', async () => {
  const cases = [
    [['scripts/fuzz.mjs', '--seconds'], /^fuzz: --seconds needs a value: --seconds S\nusage: npm run fuzz/],
    [['scripts/fuzz.mjs', '--colour'], /^fuzz: unknown option --colour \(options: --seed, --seconds, --wasm, --case, --help\)\n/],
    [['scripts/soak.mjs', '--connections', '5'], /^soak: unexpected argument "--connections"\nusage: npm run soak/],
    [['scripts/start.mjs', 'now'], /^npm start: unexpected argument "now"\nusage: npm start/],
  ];
  for (const [args, expected] of cases) {
    const { code, stdout, stderr } = await run(process.execPath, args);
    assert.equal(code, 2, `${args.join(' ')}: ${stderr}`);
    assert.equal(stdout, '');
    assert.match(stderr, expected);
    assert.doesNotMatch(stderr, /^\s+at /m, 'no stack trace');
  }
});
