#!/usr/bin/env node
// The release's files, made from the tree as built and tested: everything the
// release workflow publishes that does not need GitHub to make.
//
//   node scripts/release-artifacts.mjs --tag v0.1.0 --image ghcr.io/OWNER/ppv2-wasm --repo OWNER/NAME [--out release]
//
// Writes, under OUT:
//   assets/ppv2.wasm                   the release module, as built (never rebuilt here)
//   assets/ppv2.wasm.sha256            its sha256, in sha256sum's format (sha256sum -c)
//   assets/ppv2.debug.wasm             the debug module, for diagnosing a trap
//   assets/ppv2-wasm-VERSION.oci.tar   the OCI image (npm run image) for IMAGE:TAG
//   assets/wasmplugin.yaml             the Istio WasmPlugin: url oci://IMAGE:TAG, sha256 the manifest digest
//   assets/ppv2-wasm-VERSION.tgz       the npm package (npm pack)
//   assets/SHA256SUMS                  every asset's sha256
//   notes.md                           the release text: VERSION's CHANGELOG section, then how to use the files
//   image.env                          OCI_ARCHIVE, IMAGE_REF and IMAGE_DIGEST, for the push and its check
// Exits 2 on a bad call (the tag is not v + package.json's version, no
// CHANGELOG section), 1 when a step fails or an artifact does not check out.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';

const root = fileURLToPath(new URL('..', import.meta.url));
const USAGE = 'usage: node scripts/release-artifacts.mjs --tag vX.Y.Z --image REGISTRY/OWNER/ppv2-wasm --repo OWNER/NAME [--out DIR]';

class BadCall extends Error {}

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

/** The body of `## [version]` in a Keep a Changelog file, without its heading. */
export function changelogSection(text, version) {
  const lines = text.split('\n');
  const start = lines.findIndex((line) => line.startsWith(`## [${version}]`));
  if (start < 0) return null;
  const end = lines.findIndex((line, i) => i > start && (line.startsWith('## ') || /^\[[^\]]+\]: /.test(line)));
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n').trim();
}

/**
 * Reads an OCI image layout tar (as `npm run image` writes it) without our
 * writer's code: the manifest index.json names, the blob bytes it hashes to,
 * and the plugin.wasm in its single layer.
 */
export function readOciArchive(file) {
  const entry = (name) => execFileSync('tar', ['-xOf', file, name], { maxBuffer: 64 << 20 });
  const index = JSON.parse(entry('index.json').toString());
  if (index.manifests?.length !== 1) throw new Error(`${file}: index.json lists ${index.manifests?.length ?? 0} manifests, expected 1`);
  const digest = index.manifests[0].digest;
  const blob = (d) => {
    const bytes = entry(`blobs/sha256/${d.slice('sha256:'.length)}`);
    if (`sha256:${sha256(bytes)}` !== d) throw new Error(`${file}: blob ${d} does not hash to its name`);
    return bytes;
  };
  const manifest = JSON.parse(blob(digest).toString());
  if (manifest.layers?.length !== 1) throw new Error(`${file}: the manifest has ${manifest.layers?.length ?? 0} layers, expected 1`);
  // The layer is a gzipped tar holding plugin.wasm, the file Istio's fetcher takes.
  const wasm = execFileSync('tar', ['-xzO', 'plugin.wasm'], { input: blob(manifest.layers[0].digest), maxBuffer: 64 << 20 });
  return { digest, manifest, wasm };
}

/** The part of the release text after the CHANGELOG section: each file and how to use it. */
function usageNotes({ tag, version, ref, digest, wasmSha256, download }) {
  return `### Files

| file | what it is |
|---|---|
| \`ppv2.wasm\` | the filter, for Envoy and Istio (sha256 \`${wasmSha256}\`) |
| \`ppv2.wasm.sha256\`, \`SHA256SUMS\` | checksums, for \`sha256sum -c\` |
| \`ppv2.debug.wasm\` | the same filter with function names, for diagnosing a trap |
| \`wasmplugin.yaml\` | an Istio \`WasmPlugin\` for \`oci://${ref}\`, pinned to its manifest digest |
| \`ppv2-wasm-${version}.oci.tar\` | that image as an OCI archive, for your own registry |
| \`ppv2-wasm-${version}.tgz\` | the npm package: the \`ppv2-wasm\` command, the host and the decoder |

The image is \`${ref}\`, manifest digest \`${digest}\`.

**Istio**: download \`wasmplugin.yaml\`, set its \`selector\` and \`match\` ports for your gateway, then
\`kubectl apply -f wasmplugin.yaml\`. Istio checks the pulled image against the pinned digest.

**Envoy**: \`curl -fLO ${download}/ppv2.wasm -fLO ${download}/ppv2.wasm.sha256 && sha256sum -c ppv2.wasm.sha256\`,
then point the wasm filter's \`vm_config.code.local.filename\` at it.

**npm**: \`npm install ${download}/ppv2-wasm-${version}.tgz\`, then \`npx ppv2-wasm --help\`.
`;
}

export function releaseArtifacts({ tag, image, repo, out }) {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  if (tag !== `v${pkg.version}`) throw new BadCall(`--tag ${tag} does not match package.json's version ${pkg.version} (expected v${pkg.version})`);
  if (!/^[a-z0-9.-]+(:\d+)?(\/[a-z0-9._-]+)+$/.test(image)) {
    throw new BadCall(`--image ${JSON.stringify(image)} is not REGISTRY/REPOSITORY in lower case, without a tag (e.g. ghcr.io/owner/ppv2-wasm)`);
  }
  if (!/^[\w.-]+\/[\w.-]+$/.test(repo)) throw new BadCall(`--repo ${JSON.stringify(repo)} is not OWNER/NAME`);
  const notes = changelogSection(readFileSync(join(root, 'CHANGELOG.md'), 'utf8'), pkg.version);
  if (!notes) throw new BadCall(`CHANGELOG.md has no "## [${pkg.version}]" section with notes: write it before tagging`);
  for (const built of ['build/ppv2.wasm', 'build/ppv2.debug.wasm', 'dist/deploy/image.js']) {
    if (!existsSync(join(root, built))) throw new Error(`${built} is missing: build and test first (npm test)`);
  }

  const assets = join(out, 'assets');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(assets, { recursive: true });

  const wasm = readFileSync(join(root, 'build/ppv2.wasm'));
  copyFileSync(join(root, 'build/ppv2.wasm'), join(assets, 'ppv2.wasm'));
  writeFileSync(join(assets, 'ppv2.wasm.sha256'), `${sha256(wasm)}  ppv2.wasm\n`);
  copyFileSync(join(root, 'build/ppv2.debug.wasm'), join(assets, 'ppv2.debug.wasm'));

  // The image and its WasmPlugin, by the documented command; it writes the
  // plugin to istio/wasmplugin.yaml beside the archive.
  const ref = `${image}:${tag}`;
  const staging = mkdtempSync(join(tmpdir(), 'ppv2-release-'));
  try {
    execFileSync(process.execPath, [join(root, 'dist/deploy/image.js'), '--ref', ref, '--wasm', join(root, 'build/ppv2.wasm'), '--out', join(staging, 'image.tar')], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
    renameSync(join(staging, 'image.tar'), join(assets, `ppv2-wasm-${pkg.version}.oci.tar`));
    copyFileSync(join(staging, 'istio', 'wasmplugin.yaml'), join(assets, 'wasmplugin.yaml'));
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  const oci = readOciArchive(join(assets, `ppv2-wasm-${pkg.version}.oci.tar`));
  if (!oci.wasm.equals(wasm)) throw new Error('the image\'s plugin.wasm is not build/ppv2.wasm');
  const { spec } = parseYaml(readFileSync(join(assets, 'wasmplugin.yaml'), 'utf8'));
  const url = spec?.url;
  const pinned = spec?.sha256;
  if (url !== `oci://${ref}`) throw new Error(`wasmplugin.yaml: url is ${url}, expected oci://${ref}`);
  if (`sha256:${pinned}` !== oci.digest) throw new Error(`wasmplugin.yaml: sha256 is ${pinned}, the image's manifest digest is ${oci.digest}`);

  // The npm that runs this script, when npm does (under `npm test`, PATH's first npm is an old one from node_modules/.bin).
  const npm = /npm-cli\.js$/.test(process.env.npm_execpath ?? '') ? [process.execPath, process.env.npm_execpath] : ['npm'];
  const packed = JSON.parse(execFileSync(npm[0], [...npm.slice(1), 'pack', '--ignore-scripts', '--json', '--pack-destination', assets], { cwd: root }).toString());
  if (packed[0].filename !== `ppv2-wasm-${pkg.version}.tgz`) throw new Error(`npm pack wrote ${packed[0].filename}`);

  const names = ['ppv2.wasm', 'ppv2.debug.wasm', `ppv2-wasm-${pkg.version}.oci.tar`, 'wasmplugin.yaml', `ppv2-wasm-${pkg.version}.tgz`];
  writeFileSync(join(assets, 'SHA256SUMS'), names.map((name) => `${sha256(readFileSync(join(assets, name)))}  ${name}\n`).join(''));
  const archive = `assets/ppv2-wasm-${pkg.version}.oci.tar`;
  writeFileSync(join(out, 'image.env'), `OCI_ARCHIVE=${archive}\nIMAGE_REF=${ref}\nIMAGE_DIGEST=${oci.digest}\n`);
  const download = `https://github.com/${repo}/releases/download/${tag}`;
  writeFileSync(join(out, 'notes.md'), `${notes}\n\n${usageNotes({ tag, version: pkg.version, ref, digest: oci.digest, wasmSha256: sha256(wasm), download })}`);
  return { version: pkg.version, ref, digest: oci.digest, wasmSha256: sha256(wasm), assets: [...names, 'ppv2.wasm.sha256', 'SHA256SUMS'] };
}

function main(argv) {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: { tag: { type: 'string' }, image: { type: 'string' }, repo: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } } }));
  } catch {
    throw new BadCall('takes --tag, --image, --repo and --out, each with a value, and nothing else');
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.tag || !values.image || !values.repo) throw new BadCall('--tag, --image and --repo are required');
  const out = resolve(values.out ?? 'release');
  const made = releaseArtifacts({ tag: values.tag, image: values.image, repo: values.repo, out });
  console.log(`release-artifacts: ppv2-wasm ${made.version} in ${out}`);
  console.log(`  ppv2.wasm sha256 ${made.wasmSha256}`);
  console.log(`  image ${made.ref}, manifest ${made.digest} (the WasmPlugin's sha256)`);
  for (const name of made.assets) console.log(`  assets/${name}`);
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (error) {
    console.error(`release-artifacts: ${error.message.split('\n')[0]}${error instanceof BadCall ? `\n${USAGE}` : ''}`);
    process.exitCode = error instanceof BadCall ? 2 : 1;
  }
}
