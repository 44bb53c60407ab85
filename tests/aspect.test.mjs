// Runs the AssemblyScript unit tests (as-pect, tests/assembly/*.spec.ts) under
// node:test, one subtest per spec file, so that CI counts them and a failing
// spec fails `npm test`.
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
      // The asconfig is passed by absolute path so that asc resolves the relative
      // path of our utf8 transform against it (see assembly/transform/utf8.mjs).
      // as-pect resolves --config against the cwd, so that one stays relative.
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
