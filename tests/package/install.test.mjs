// The package as a user gets it: `npm pack`, then `npm install` of the
// tarball into an empty project, offline (the tarball, plus its runtime
// dependencies from the npm cache at the versions package-lock.json pins).
// From there the installed copy must run its command, load its own .wasm,
// and be importable, types included, through its `exports`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { runCli, startCli } from '../cli/cli-process.mjs';
import { exchange } from '../cli/net-client.mjs';
import { consumerLock } from './lockfile.mjs';
import { npm, npx } from './npm.mjs';
import { readOciArchive } from '../../scripts/release-artifacts.mjs';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const LOCK = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8'));

const work = mkdtempSync(join(tmpdir(), 'ppv2-package-'));
const project = join(work, 'consumer');
const installed = join(project, 'node_modules', PKG.name);
const bin = join(project, 'node_modules', '.bin', 'ppv2-wasm');
let packed;
const stops = [];

before(async () => {
  for (const built of ['build/ppv2.wasm', 'dist/cli/main.js']) {
    assert.ok(existsSync(join(ROOT, built)), `${built} is missing: npm test builds first (npm run build)`);
  }
  // The build already ran (npm test's pretest): pack what it made, without prepack's rebuild.
  const { stdout } = await npm(['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: ROOT });
  [packed] = JSON.parse(stdout);

  mkdirSync(project);
  const tarball = `../${packed.filename}`;
  writeFileSync(join(project, 'package.json'), `${JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies: { [PKG.name]: `file:${tarball}` } }, null, 2)}\n`);
  writeFileSync(join(project, 'package-lock.json'), `${JSON.stringify(consumerLock({ pkg: PKG, lock: LOCK, tarball, integrity: packed.integrity }), null, 2)}\n`);
  await npm(['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: project });
});

after(async () => {
  for (const stop of stops) await stop();
  rmSync(work, { recursive: true, force: true });
});

test('the tarball holds the built package, its docs and license, and no tests or sources', () => {
  const files = packed.files.map((f) => f.path);
  for (const needed of [
    'package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'SECURITY.md', 'bin/ppv2-wasm.js',
    'build/ppv2.wasm', 'build/ppv2.debug.wasm',
    'dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js',
    'dist/host/index.js', 'dist/host/index.d.ts', 'dist/proxy-protocol/index.js', 'dist/proxy-protocol/index.d.ts',
    'envoy/envoy.yaml', 'deploy/istio/wasmplugin.yaml', 'docs/configuration.md',
  ]) assert.ok(files.includes(needed), `${needed} is in the tarball`);
  const unwanted = files.filter((f) => /^(tests|assembly|src|bench|scripts|\.github|node_modules)\/|\.map$|\.wat$/.test(f));
  assert.deepEqual(unwanted, []);
  // Every export target is shipped.
  for (const target of Object.values(PKG.exports).flatMap((t) => (typeof t === 'string' ? [t] : Object.values(t)))) {
    assert.ok(files.includes(target.replace(/^\.\//, '')), `export target ${target} is in the tarball`);
  }
});

test('npx ppv2-wasm --version and encode run from the installed package', async () => {
  const version = await npx(['--offline', 'ppv2-wasm', '--version'], { cwd: project });
  assert.equal(version.stdout, `ppv2-wasm ${PKG.version}\n`);
  // The installed build/ppv2.wasm is the default module.
  const encoded = await npx(['--offline', 'ppv2-wasm', 'encode', '--src', '192.0.2.1:56324', '--dst', '192.0.2.11:443'], { cwd: project });
  assert.equal(encoded.stdout.split('\n')[0], '0d0a0d0a000d0a515549540a' + '2111000c' + 'c0000201' + 'c000020b' + 'dc04' + '01bb');
});

test('ppv2-wasm image runs on the runtime dependencies alone: the archive holds the installed module', async () => {
  const ref = 'registry.example.com/team/ppv2-wasm:0.1.0';
  const { stdout } = await npx(['--offline', 'ppv2-wasm', 'image', '--ref', ref, '--out', 'image/ppv2-oci.tar'], { cwd: project });
  assert.match(stdout, /^wrote image\/ppv2-oci\.tar \(OCI image layout/);
  const oci = readOciArchive(join(project, 'image', 'ppv2-oci.tar'));
  assert.ok(oci.wasm.equals(readFileSync(join(installed, 'build', 'ppv2.wasm'))), 'the image carries the package\'s build/ppv2.wasm');
  const plugin = readFileSync(join(project, 'image', 'istio', 'wasmplugin.yaml'), 'utf8');
  assert.match(plugin, new RegExp(`url: oci://${ref}\\n`));
  assert.match(plugin, new RegExp(`sha256: "?${oci.digest.slice('sha256:'.length)}`));
});

test('proxy -> inspect, both from the installed package: the backend decodes the client\'s address', async () => {
  const inspect = await startCli(['inspect', '--listen', '127.0.0.1:0'], { bin, cwd: project });
  stops.push(() => inspect.stop());
  const proxy = await startCli(['proxy', '--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${inspect.port}`], { bin, cwd: project });
  stops.push(() => proxy.stop());
  const client = await exchange({ port: proxy.port, localAddress: '127.0.0.2', send: [Buffer.from('hello')] });
  const reply = JSON.parse(client.data.toString());
  assert.equal(reply.header.version, 2);
  assert.deepEqual(reply.header.source, { address: '127.0.0.2', port: client.local.port });
  assert.deepEqual(reply.header.destination, { address: '127.0.0.1', port: proxy.port });
  assert.match(await proxy.lines.next(), /filter added 28\)/);
  assert.equal(await proxy.stop(), 0);
  assert.equal(await inspect.stop(), 0);
});

test('import(\'ppv2-wasm/host\') runs the shipped module; the decoder and the root export resolve too', async () => {
  const script = `
    import { startPlugin } from 'ppv2-wasm/host';
    import { decodeProxyHeader } from 'ppv2-wasm/proxy-protocol';
    import { wasmPath } from 'ppv2-wasm';
    const plugin = await startPlugin({ wasm: wasmPath, configuration: '{"tlvs":[{"type":"authority","value":"app.example"}]}' });
    const conn = plugin.newConnection({ source: '1.2.3.4:5678', destination: '5.6.7.8:80' });
    const { forwarded } = conn.downstreamData(Buffer.from('hi'), false);
    const decoded = decodeProxyHeader(forwarded);
    plugin.tick();
    console.log(JSON.stringify({ wasmPath, source: decoded.header.source, tlv: decoded.header.tlvs[0].text, counter: plugin.counter('ppv2.headers_written') }));
    plugin.shutdown();`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: project });
  assert.deepEqual(JSON.parse(stdout), {
    wasmPath: join(installed, 'build', 'ppv2.wasm'),
    source: { address: '1.2.3.4', port: 5678 },
    tlv: 'app.example',
    counter: 1,
  });
});

test('the example at the top of docs/host.md runs as written against the installed package', async () => {
  const doc = readFileSync(join(ROOT, 'docs', 'host.md'), 'utf8');
  const example = /```js\n([\s\S]*?)```/.exec(doc)?.[1];
  assert.ok(example?.includes("from 'ppv2-wasm/host'"), 'docs/host.md starts with an example that imports ppv2-wasm/host');
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', `${example}\nconsole.log('ran');`], { cwd: project });
  assert.equal(stdout, 'ran\n');
});

test('the exports carry type declarations: a TypeScript consumer type-checks against them', async () => {
  writeFileSync(join(project, 'consumer.ts'), `
    import { startPlugin, type Plugin, type DataResult } from 'ppv2-wasm/host';
    import { decodeProxyHeader, type ProxyHeader } from 'ppv2-wasm/proxy-protocol';
    import { wasmPath, debugWasmPath } from 'ppv2-wasm';
    export async function first(bytes: Uint8Array): Promise<ProxyHeader | null> {
      const plugin: Plugin = await startPlugin({ wasm: debugWasmPath ?? wasmPath });
      const result: DataResult = plugin.newConnection({ source: '1.2.3.4:5', destination: '5.6.7.8:9' }).downstreamData(bytes, false);
      const decoded = decodeProxyHeader(result.forwarded);
      return decoded.state === 'complete' ? decoded.header : null;
    }
    // @ts-expect-error: the export has no such name
    import { notExported } from 'ppv2-wasm/host';
    void notExported;
  `);
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  await run(process.execPath, [tsc, '--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext',
    '--typeRoots', join(ROOT, 'node_modules', '@types'), '--types', 'node', 'consumer.ts'], { cwd: project })
    .catch((error) => assert.fail(`tsc: ${error.stdout}${error.stderr}`));
});
