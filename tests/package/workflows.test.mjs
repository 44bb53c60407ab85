// The GitHub workflows: valid for GitHub (actionlint checks their schema,
// expressions and the inputs of the local action), and matching what the
// project claims: CI on Debian bookworm and Ubuntu 24.04, on the lowest Node
// `engines` admits and the newer lines, on the oldest supported and the
// pinned Envoy; releases from v* tags through scripts/release-artifacts.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { findTool } from '../e2e/tools.mjs';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const WORKFLOWS = ['.github/workflows/ci.yml', '.github/workflows/release.yml'];
const workflow = (file) => parseYaml(readFileSync(join(ROOT, file), 'utf8'));

test('actionlint finds nothing wrong in the workflows', async (t) => {
  const pinned = join(ROOT, '.tools', 'bin', 'actionlint');
  const actionlint = existsSync(pinned) ? pinned : findTool('actionlint');
  if (!actionlint) {
    const install = 'bash scripts/install-test-tools.sh (npm test runs it first)';
    if (process.env.CI === 'true') assert.fail(`actionlint is not installed, and CI=true makes that a failure (install it: ${install})`);
    t.skip(`actionlint is not installed (install it: ${install})`);
    return;
  }
  // shellcheck is left out so that the result does not depend on what else is installed.
  const result = await run(actionlint, ['-shellcheck=', '-pyflakes=', ...WORKFLOWS], { cwd: ROOT }).catch((error) => error);
  assert.equal(result.code ?? 0, 0, `actionlint:\n${result.stdout}${result.stderr}`);
});

test('CI runs npm test on Debian bookworm and Ubuntu 24.04, every Node line from engines\' minimum, the oldest and the pinned Envoy', () => {
  const ci = workflow('.github/workflows/ci.yml');
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  assert.deepEqual(ci.jobs.debian.container, { image: 'debian:bookworm', options: '--privileged' });
  assert.equal(ci.jobs.debian['runs-on'], 'ubuntu-24.04');
  assert.equal(ci.jobs.ubuntu['runs-on'], 'ubuntu-24.04');
  assert.equal(ci.jobs.ubuntu.container, undefined);
  const lowest = Number(/^>=\s*(\d+)/.exec(pkg.engines.node)?.[1]);
  const pinned = readFileSync(join(ROOT, '.envoy-version'), 'utf8').trim();
  for (const name of ['debian', 'ubuntu']) {
    const job = ci.jobs[name];
    const cells = job.strategy.matrix.include;
    const nodes = new Set(cells.map((c) => c.node));
    for (const major of [lowest, lowest + 2, lowest + 4]) assert.ok(nodes.has(String(major)), `${name}: Node ${major} is in the matrix`);
    assert.ok(nodes.has('latest'), `${name}: the newest Node is in the matrix`);
    assert.deepEqual(new Set(cells.map((c) => c.envoy)), new Set([pinned, '1.36.2']), `${name}: the Envoy versions`);
    const test = job.steps.find((step) => step.uses === './.github/actions/npm-test');
    assert.deepEqual(test?.with, { node: '${{ matrix.node }}', envoy: '${{ matrix.envoy }}' }, `${name} runs the npm-test action with its cell`);
  }
  // The steps themselves, as .ci/run: install-test-tools.sh, PPV2_ENVOY, npm test under CI=true.
  const action = workflow('.github/actions/npm-test/action.yml');
  const runs = action.runs.steps.map((step) => step.run ?? '').join('\n');
  assert.match(runs, /bash scripts\/install-test-tools\.sh/);
  assert.match(runs, /PPV2_ENVOY=\$PWD\/\.tools\/envoy\/\$ENVOY_VERSION\/bin\/envoy-\$ENVOY_VERSION/);
  const npmTest = action.runs.steps.find((step) => /^\s*npm test$/m.test(step.run ?? ''));
  assert.equal(npmTest?.env?.CI, 'true');
});

test('a v* tag runs the whole CI, then the release job tests, makes the artifacts and publishes them', () => {
  const release = workflow('.github/workflows/release.yml');
  assert.deepEqual(release.on, { push: { tags: ['v*'] } });
  assert.equal(release.jobs.ci.uses, './.github/workflows/ci.yml');
  assert.ok('workflow_call' in workflow('.github/workflows/ci.yml').on);
  const job = release.jobs.release;
  assert.equal(job.needs, 'ci');
  assert.deepEqual(job.permissions, { contents: 'write', packages: 'write' });
  const steps = job.steps.map((step) => `${step.uses ?? ''}\n${step.run ?? ''}`);
  const at = (pattern) => steps.findIndex((text) => pattern.test(text));
  const order = [/^\.\/\.github\/actions\/npm-test$/m, /node scripts\/release-artifacts\.mjs --tag "\$GITHUB_REF_NAME" --image "ghcr\.io\/\$\{OWNER,,\}\/ppv2-wasm"/, /skopeo copy --preserve-digests/, /gh release create "\$GITHUB_REF_NAME" release\/assets\/\*/];
  const positions = order.map(at);
  assert.ok(positions.every((p) => p >= 0), `every step is there: ${positions}`);
  assert.deepEqual([...positions].sort((a, b) => a - b), positions, 'test, artifacts, push, release, in that order');
});
