// `npm run image`'s output unpacked and checked piece by piece: every blob's
// digest and size, the manifest Istio's fetcher reads (last layer
// tar+gzip, compat annotation), the config's diff_id, and that the layer holds
// exactly build/ppv2.wasm as plugin.wasm. Unpacked twice: with tar-stream and
// with GNU tar, so a bug in one reader cannot hide one in the writer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { parse } from 'yaml';
import { ROOT, MODULE } from './helpers.mjs';

const { buildWasmImage } = await import('../../dist/deploy/oci-image.js');
const { validateFile } = await import('../../dist/deploy/validate.js');

const sha = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function untar(buf) {
  const entries = new Map();
  const extract = tar.extract();
  const done = new Promise((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const chunks = [];
      stream.on('data', (c) => chunks.push(c));
      stream.on('end', () => {
        entries.set(header.name, { header, data: Buffer.concat(chunks) });
        next();
      });
      stream.on('error', reject);
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  extract.end(buf);
  await done;
  return entries;
}

function requireModule(t) {
  if (fs.existsSync(MODULE)) return fs.readFileSync(MODULE);
  if (process.env.CI === 'true') assert.fail(`${MODULE} is missing (npm run build); CI=true makes that a failure`);
  t.skip(`${MODULE} is missing (run npm run build)`);
  return null;
}

test('npm run image writes an OCI layout whose digests, sizes and layer content check out', async (t) => {
  const wasm = requireModule(t);
  if (!wasm) return;
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ppv2-image-'));
  t.after(() => fs.rmSync(out, { recursive: true, force: true }));
  const tarFile = path.join(out, 'ppv2-oci.tar');
  const run = spawnSync(process.execPath, ['dist/deploy/image.js', '--out', tarFile, '--ref', 'registry.example.com/team/ppv2-wasm:1.2.3'], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(run.status, 0, run.stderr);

  const files = await untar(fs.readFileSync(tarFile));
  assert.deepEqual(JSON.parse(files.get('oci-layout').data), { imageLayoutVersion: '1.0.0' });
  for (const [name, { header, data }] of files) {
    assert.equal(header.mtime.getTime(), 0, `${name} mtime`);
    assert.equal(header.uid, 0);
    if (name.startsWith('blobs/sha256/') && header.type === 'file') {
      assert.equal(sha(data), `sha256:${name.slice('blobs/sha256/'.length)}`, `${name} is stored under its own digest`);
    }
  }
  const blob = (d) => files.get(`blobs/sha256/${d.digest.slice(7)}`)?.data;
  const index = JSON.parse(files.get('index.json').data);
  assert.equal(index.schemaVersion, 2);
  assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json');
  assert.equal(index.manifests.length, 1);
  const md = index.manifests[0];
  assert.equal(md.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  assert.equal(md.annotations['org.opencontainers.image.ref.name'], '1.2.3');
  const manifestBytes = blob(md);
  assert.equal(manifestBytes.length, md.size);
  assert.equal(sha(manifestBytes), md.digest);

  const manifest = JSON.parse(manifestBytes);
  assert.equal(manifest.schemaVersion, 2);
  assert.equal(manifest.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  assert.deepEqual(manifest.annotations, { 'module.wasm.image/variant': 'compat' });
  assert.equal(manifest.layers.length, 1);
  const layer = manifest.layers.at(-1); // Istio reads the last layer
  assert.equal(layer.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
  const layerBytes = blob(layer);
  assert.equal(layerBytes.length, layer.size);
  assert.equal(sha(layerBytes), layer.digest);

  assert.equal(manifest.config.mediaType, 'application/vnd.oci.image.config.v1+json');
  const configBytes = blob(manifest.config);
  assert.equal(configBytes.length, manifest.config.size);
  assert.equal(sha(configBytes), manifest.config.digest);
  const config = JSON.parse(configBytes);
  const layerTar = gunzipSync(layerBytes);
  assert.deepEqual(config.rootfs, { type: 'layers', diff_ids: [sha(layerTar)] });
  assert.equal(typeof config.architecture, 'string');
  assert.equal(typeof config.os, 'string');
  assert.equal(layerBytes.readUInt32LE(4), 0, 'gzip MTIME is zero');

  const inLayer = await untar(layerTar);
  assert.deepEqual([...inLayer.keys()], ['plugin.wasm']);
  assert.ok(inLayer.get('plugin.wasm').data.equals(wasm), 'the layer holds exactly build/ppv2.wasm');
  assert.equal(files.size, 7, [...files.keys()].join()); // oci-layout, index.json, 2 dirs, 3 blobs

  // The WasmPlugin written next to it points at the ref, with the manifest digest as sha256.
  const pluginFile = path.join(out, 'istio', 'wasmplugin.yaml');
  const plugin = parse(fs.readFileSync(pluginFile, 'utf8'));
  assert.equal(plugin.spec.url, 'oci://registry.example.com/team/ppv2-wasm:1.2.3');
  assert.equal(plugin.spec.sha256, md.digest.slice(7));
  const checked = await validateFile(pluginFile, { pluginCheck: null });
  assert.deepEqual(checked.problems, []);
  assert.match(run.stdout, new RegExp(`manifest  ${md.digest}`));
  assert.match(run.stdout, /skopeo copy oci-archive:/);
});

test('GNU tar reads the same archive and the same plugin.wasm', async (t) => {
  const wasm = requireModule(t);
  if (!wasm) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ppv2-image-tar-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const image = await buildWasmImage(wasm, { refName: 'test' });
  fs.writeFileSync(path.join(dir, 'img.tar'), image.archive);
  const x = spawnSync('tar', ['-xf', 'img.tar'], { cwd: dir, encoding: 'utf8' });
  if (x.error) {
    if (process.env.CI === 'true') assert.fail(`tar is not available: ${x.error.message}`);
    t.skip('tar is not available');
    return;
  }
  assert.equal(x.status, 0, x.stderr);
  const layerPath = path.join(dir, 'blobs', 'sha256', image.layer.digest.slice(7));
  const y = spawnSync('tar', ['-xzf', layerPath, '-O', 'plugin.wasm'], { cwd: dir, maxBuffer: 64 * 1024 * 1024 });
  assert.equal(y.status, 0, String(y.stderr));
  assert.ok(y.stdout.equals(wasm));
});

test('the image is reproducible: the same module gives byte-identical archives', async () => {
  const wasm = Buffer.from('0061736d01000000', 'hex');
  const a = await buildWasmImage(wasm, { refName: 'x' });
  const b = await buildWasmImage(Buffer.from(wasm), { refName: 'x' });
  assert.ok(a.archive.equals(b.archive));
  assert.equal(a.manifest.digest, b.manifest.digest);
  const c = await buildWasmImage(Buffer.from('0061736d0100000000', 'hex'), { refName: 'x' });
  assert.notEqual(c.manifest.digest, a.manifest.digest);
});

test('bad input and a bad --ref are refused with one line', async () => {
  await assert.rejects(buildWasmImage(Buffer.from('not wasm'), { refName: 'x' }), /not a WebAssembly module/);
  const run = spawnSync(process.execPath, ['dist/deploy/image.js', '--ref', 'oci://registry.example.com/x:1'], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
  assert.equal(run.status, 2);
  assert.match(run.stderr, /^image: --ref takes no scheme/);
  const noTag = spawnSync(process.execPath, ['dist/deploy/image.js', '--ref', 'registry.example.com/x'], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
  assert.equal(noTag.status, 2);
  assert.match(noTag.stderr, /explicit tag/);
});
