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
import { ROOT, MODULE, requireIstioCheck } from './helpers.mjs';

const { buildWasmImage } = await import('../../dist/deploy/oci-image.js');
const { validateFile } = await import('../../dist/deploy/validate.js');

// Digests of customSectionModule(20000) as built by this writer; they change
// only when the image format does, never with the Node version.
const LAYER_DIGEST_20000 = 'sha256:3f63cfde50c65849bf719116a05048edd76a6adc2532f7dbecb81fc770af721e';
const MANIFEST_DIGEST_20000 = 'sha256:c4187a274c01ba89918fbbb161051af660c4d24ef13fa401cdadcfc9144ef52c';

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
  // The module imports only env.proxy_*: no WASI, so no wasip1 claim.
  assert.deepEqual([config.architecture, config.os], ['wasm', 'proxy-wasm']);
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
  const istio = await requireIstioCheck(t);
  if (istio) {
    const checked = await validateFile(pluginFile, { pluginCheck: null, envoy: null, istio });
    assert.deepEqual(checked.problems, []);
  }
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

/** A valid module of `size` bytes: the header and one custom section "ppv2" with a fixed byte pattern. */
function customSectionModule(size) {
  const payload = Buffer.alloc(size - 8 - 1 - 3 - 5);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 7 + (i >> 5)) & 0xff;
  const body = Buffer.concat([Buffer.from([4]), Buffer.from('ppv2'), payload]);
  // The section size as a three-byte LEB128.
  const len = Buffer.from([(body.length & 0x7f) | 0x80, ((body.length >> 7) & 0x7f) | 0x80, body.length >> 14]);
  return Buffer.concat([Buffer.from('0061736d01000000', 'hex'), Buffer.from([0]), len, body]);
}

test('the image is reproducible: the same module gives byte-identical archives', async () => {
  const wasm = Buffer.from('0061736d01000000', 'hex');
  const a = await buildWasmImage(wasm, { refName: 'x' });
  const b = await buildWasmImage(Buffer.from(wasm), { refName: 'x' });
  assert.ok(a.archive.equals(b.archive));
  assert.equal(a.manifest.digest, b.manifest.digest);
  const c = await buildWasmImage(customSectionModule(64), { refName: 'x' });
  assert.notEqual(c.manifest.digest, a.manifest.digest);
});

test('the layer bytes do not depend on Node: pinned digests, and the deflate stream is canonical zlib\'s', async (t) => {
  const wasm = customSectionModule(20000);
  assert.doesNotThrow(() => new WebAssembly.Module(wasm));
  const image = await buildWasmImage(wasm, { refName: '0.1.0' });
  // Literal digests: a change of compressor output on any Node version fails here.
  assert.equal(image.layer.digest, LAYER_DIGEST_20000);
  assert.equal(image.manifest.digest, MANIFEST_DIGEST_20000);

  // Independent check: Python's zlib module (the system's canonical zlib)
  // compresses the same tar to the same deflate stream at level 9.
  const files = await untar(image.archive);
  const layer = files.get(`blobs/sha256/${image.layer.digest.slice(7)}`).data;
  const python = spawnSync('python3', ['-c', 'import sys,zlib; c=zlib.compressobj(9, zlib.DEFLATED, 31); d=sys.stdin.buffer.read(); sys.stdout.buffer.write(c.compress(d)+c.flush())'], {
    input: gunzipSync(layer),
    maxBuffer: 64 * 1024 * 1024,
  });
  if (python.error) {
    if (process.env.CI === 'true') assert.fail(`python3 is not available: ${python.error.message}`);
    t.skip('python3 is not available');
    return;
  }
  assert.equal(python.status, 0, String(python.stderr));
  // Bytes 0-9 are the gzip header (pako and zlib differ only in the OS byte).
  assert.ok(python.stdout.subarray(10).equals(layer.subarray(10)), 'same deflate stream and trailer as canonical zlib');
});

test('the image config states wasip1 only for a module that imports WASI', async () => {
  const { default: initWabt } = await import('wabt');
  const wabt = await initWabt();
  const compile = (wat) => Buffer.from(wabt.parseWat('m.wat', wat).toBinary({}).buffer);
  const config = async (wasm) => {
    const image = await buildWasmImage(wasm, { refName: 'x' });
    const files = await untar(image.archive);
    return JSON.parse(files.get(`blobs/sha256/${image.config.digest.slice(7)}`).data);
  };
  const proxyOnly = await config(compile('(module (import "env" "proxy_log" (func (param i32 i32 i32) (result i32))))'));
  assert.deepEqual([proxyOnly.architecture, proxyOnly.os], ['wasm', 'proxy-wasm']);
  const wasi = await config(compile('(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32))))'));
  assert.deepEqual([wasi.architecture, wasi.os], ['wasm', 'wasip1']);
});

test('bad input and a bad --ref are refused with one line', async () => {
  await assert.rejects(buildWasmImage(Buffer.from('not wasm'), { refName: 'x' }), /not a WebAssembly module/);
  await assert.rejects(buildWasmImage(Buffer.from('0061736d0100000000', 'hex'), { refName: 'x' }), /^Error: not a valid WebAssembly module: /);
  const run = spawnSync(process.execPath, ['dist/deploy/image.js', '--ref', 'oci://registry.example.com/x:1'], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
  assert.equal(run.status, 2);
  assert.match(run.stderr, /^image: --ref takes no scheme/);
  const noTag = spawnSync(process.execPath, ['dist/deploy/image.js', '--ref', 'registry.example.com/x'], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
  assert.equal(noTag.status, 2);
  assert.match(noTag.stderr, /explicit tag/);
});

test('the written WasmPlugin describes itself: its sha256 is the manifest digest, and a missing --ref is called a placeholder', async (t) => {
  if (!requireModule(t)) return;
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ppv2-image-ref-'));
  t.after(() => fs.rmSync(out, { recursive: true, force: true }));
  const run = (...args) => spawnSync(process.execPath, ['dist/deploy/image.js', '--out', path.join(out, 'ppv2-oci.tar'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  const plugin = () => fs.readFileSync(path.join(out, 'istio', 'wasmplugin.yaml'), 'utf8');

  const placeholder = run();
  assert.equal(placeholder.status, 0, placeholder.stderr);
  assert.match(placeholder.stdout, /^note: no --ref given, so the url oci:\/\/registry\.example\.com\/ppv2-wasm:\S+ is a placeholder/m);
  assert.match(plugin(), /^# url is a PLACEHOLDER \(oci:\/\/registry\.example\.com\/ppv2-wasm:/m);
  assert.doesNotMatch(plugin(), /carries no sha256/);

  const real = run('--ref', 'registry.internal:5000/team/ppv2-wasm:1.2.3');
  assert.equal(real.status, 0, real.stderr);
  assert.doesNotMatch(real.stdout, /placeholder/);
  const text = plugin();
  assert.doesNotMatch(text, /PLACEHOLDER|carries no sha256/);
  assert.match(text, /^# sha256 is that image's manifest digest/m);
  assert.equal(parse(text).spec.url, 'oci://registry.internal:5000/team/ppv2-wasm:1.2.3');
});
