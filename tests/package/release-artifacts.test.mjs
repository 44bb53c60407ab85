// scripts/release-artifacts.mjs: what a v* tag publishes, made here up to the
// point that needs GitHub (the push to ghcr.io and the release itself). Each
// artifact is checked by something other than the code that wrote it:
// sha256sum, skopeo reading the OCI archive, tar, and the yaml package.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { requireTool } from '../e2e/tools.mjs';
import { changelogSection } from '../../scripts/release-artifacts.mjs';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCRIPT = join(ROOT, 'scripts', 'release-artifacts.mjs');
const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const TAG = `v${version}`;
const IMAGE = 'ghcr.io/example-owner/ppv2-wasm';
const REPO = 'Example-Owner/ppv2-wasm';
const work = mkdtempSync(join(tmpdir(), 'ppv2-release-test-'));
const out = join(work, 'release');
const assets = join(out, 'assets');
let printed;

before(async () => {
  ({ stdout: printed } = await run(process.execPath, [SCRIPT, '--tag', TAG, '--image', IMAGE, '--repo', REPO, '--out', out], { cwd: ROOT }));
});
after(() => rmSync(work, { recursive: true, force: true }));

test('a tag makes the module, its checksum, the debug module, the OCI image, the WasmPlugin and the npm package', async () => {
  assert.deepEqual(readdirSync(assets).sort(), [
    'SHA256SUMS', `ppv2-wasm-${version}.oci.tar`, `ppv2-wasm-${version}.tgz`, 'ppv2.debug.wasm', 'ppv2.wasm', 'ppv2.wasm.sha256', 'wasmplugin.yaml',
  ].sort());
  assert.ok(readFileSync(join(assets, 'ppv2.wasm')).equals(readFileSync(join(ROOT, 'build', 'ppv2.wasm'))), 'the tested build, not a rebuild');
  // As a user checks a download.
  const checked = await run('sha256sum', ['-c', 'ppv2.wasm.sha256', 'SHA256SUMS'], { cwd: assets });
  assert.match(checked.stdout, /^ppv2\.wasm: OK$/m);
  assert.equal(checked.stdout.trim().split('\n').length, 6);
  const packed = await run('tar', ['-tzf', join(assets, `ppv2-wasm-${version}.tgz`)]);
  assert.match(packed.stdout, /^package\/build\/ppv2\.wasm$/m);
  assert.match(printed, new RegExp(`ppv2\\.wasm sha256 ${readFileSync(join(assets, 'ppv2.wasm.sha256'), 'utf8').slice(0, 64)}`));
});

test('the WasmPlugin names the image by its tag and pins the manifest digest skopeo reads from the archive', async (t) => {
  const plugin = parseYaml(readFileSync(join(assets, 'wasmplugin.yaml'), 'utf8'));
  assert.equal(plugin.kind, 'WasmPlugin');
  assert.equal(plugin.spec.url, `oci://${IMAGE}:${TAG}`);
  const env = Object.fromEntries(readFileSync(join(out, 'image.env'), 'utf8').trim().split('\n').map((line) => line.split('=')));
  assert.deepEqual(env, { OCI_ARCHIVE: `assets/ppv2-wasm-${version}.oci.tar`, IMAGE_REF: `${IMAGE}:${TAG}`, IMAGE_DIGEST: `sha256:${plugin.spec.sha256}` });
  const skopeo = requireTool(t, 'skopeo');
  if (!skopeo) return;
  const archive = `oci-archive:${join(assets, `ppv2-wasm-${version}.oci.tar`)}`;
  const { stdout: manifest } = await run(skopeo, ['inspect', '--raw', archive], { encoding: 'buffer' });
  const { createHash } = await import('node:crypto');
  assert.equal(createHash('sha256').update(manifest).digest('hex'), plugin.spec.sha256);
});

test('the release notes are the version\'s CHANGELOG section, then each file and how to use it', () => {
  const notes = readFileSync(join(out, 'notes.md'), 'utf8');
  const section = changelogSection(readFileSync(join(ROOT, 'CHANGELOG.md'), 'utf8'), version);
  assert.ok(notes.startsWith(`${section}\n\n### Files\n`), notes.slice(0, 200));
  assert.match(notes, /^### Added$/m);
  assert.doesNotMatch(notes, /^## /m);
  const plugin = parseYaml(readFileSync(join(assets, 'wasmplugin.yaml'), 'utf8'));
  assert.ok(notes.includes(`manifest digest \`sha256:${plugin.spec.sha256}\``));
  assert.ok(notes.includes(`https://github.com/${REPO}/releases/download/${TAG}/ppv2.wasm.sha256 && sha256sum -c ppv2.wasm.sha256`));
  assert.ok(notes.includes(`npm install https://github.com/${REPO}/releases/download/${TAG}/ppv2-wasm-${version}.tgz`));
  const sample = '# Changelog\n\n## [Unreleased]\n\n## [1.1.0] - 2030-01-01\n\n### Fixed\n\n- a\n\n## [1.0.0]\n\n- b\n\n[1.1.0]: x\n';
  assert.equal(changelogSection(sample, '1.1.0'), '### Fixed\n\n- a');
  assert.equal(changelogSection(sample, '1.0.0'), '- b');
  assert.equal(changelogSection(sample, '2.0.0'), null);
});

test('a bad call is one line and exit 2: a tag other than the package version, a bad image or repository name', async () => {
  const repo = ['--repo', REPO];
  const cases = [
    [['--tag', 'v99.0.0', '--image', IMAGE, ...repo], `--tag v99.0.0 does not match package.json's version ${version} (expected v${version})`],
    [['--tag', TAG, '--image', 'ghcr.io/Owner/ppv2-wasm', ...repo], '--image "ghcr.io/Owner/ppv2-wasm" is not REGISTRY/REPOSITORY in lower case'],
    [['--tag', TAG, '--image', `${IMAGE}:latest`, ...repo], 'is not REGISTRY/REPOSITORY in lower case, without a tag'],
    [['--tag', TAG, '--image', IMAGE, '--repo', 'nobody'], '--repo "nobody" is not OWNER/NAME'],
    [['--tag', TAG, '--image', IMAGE], '--tag, --image and --repo are required'],
    [['--tag'], 'takes --tag, --image, --repo and --out, each with a value'],
  ];
  for (const [args, message] of cases) {
    const error = await run(process.execPath, [SCRIPT, ...args, '--out', join(work, 'unused')], { cwd: ROOT }).then(() => null, (e) => e);
    assert.ok(error, `${args.join(' ')} should fail`);
    assert.equal(error.code, 2, error.stderr);
    assert.ok(error.stderr.startsWith('release-artifacts: ') && error.stderr.includes(message), error.stderr);
  }
});
