// Runs the AssemblyScript unit tests (as-pect, tests/assembly/*.spec.ts) under
// node:test, one subtest per spec file, so that CI counts them and a failing
// spec fails `npm test`; and type-checks assembly/ with TypeScript's own
// compiler (assembly/tsconfig.json), which is what editors show.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = path.join(root, 'node_modules/@as-pect/cli/bin/asp.js');
const specs = readdirSync(path.join(root, 'tests/assembly'))
  .filter((f) => f.endsWith('.spec.ts'))
  .sort();

/** Runs as-pect on one spec file; resolves with its exit code and output. Bounded by a timeout. */
function runSpec(spec, timeoutMs) {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      // as-pect resolves --config against the cwd; the asconfig is passed by absolute path.
      [cli, '--config', 'as-pect.config.js', '--as-config', path.join(root, 'as-pect.asconfig.json'), '--summary', '--no-logo'],
      { cwd: root, env: { ...process.env, PPV2_ASPECT_SPEC: `tests/assembly/${spec}`, FORCE_COLOR: '0' } },
    );
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => {
      output += `\n[killed after ${timeoutMs} ms]`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    });
  });
}

/** Runs a node script to completion; resolves with its exit code and output. */
function run(args, timeoutMs) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, FORCE_COLOR: '0' } });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

const tsc = path.join(root, 'node_modules/typescript/bin/tsc');

test('tsc type-checks every file of assembly/ (assembly/tsconfig.json)', { timeout: 120_000 }, async () => {
  const listed = await run([tsc, '-p', 'assembly', '--listFilesOnly'], 110_000);
  assert.equal(listed.code, 0, listed.output);
  const sources = readdirSync(path.join(root, 'assembly'), { recursive: true }).filter((f) => f.endsWith('.ts'));
  for (const file of sources) assert.ok(listed.output.includes(path.join(root, 'assembly', file)), `tsc does not see assembly/${file}`);
  const { code, output } = await run([tsc, '-p', 'assembly'], 110_000);
  assert.equal(code, 0, `tsc -p assembly:\n${output}`);
});

test('there are as-pect specs to run', () => {
  assert.ok(specs.length >= 6, `found ${specs.join(', ')}`);
});

for (const spec of specs) {
  test(`as-pect ${spec}`, { timeout: 180_000 }, async () => {
    const { code, signal, output } = await runSpec(spec, 170_000);
    // eslint-disable-next-line no-control-regex
    const plain = output.replace(/\x1b\[[0-9;]*m/g, '');
    assert.equal(code, 0, `as-pect failed for ${spec} (exit ${code}${signal ? `, ${signal}` : ''}):\n${plain}`);
    assert.match(plain, /\[Result\]: ✔ Pass!/, `no passing summary for ${spec}:\n${plain}`);
    assert.match(plain, new RegExp(`${spec.replace('.', '\\.')}`), `${spec} did not run:\n${plain}`);
  });
}
