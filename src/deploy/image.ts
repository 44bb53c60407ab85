// `npm run image`: writes build/ppv2-oci.tar (see oci-image.ts) and a
// ready-to-apply build/istio/wasmplugin.yaml whose url and sha256 match it.
//   node dist/deploy/image.js [--ref REGISTRY/REPO:TAG] [--wasm FILE] [--out FILE]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMap, isScalar, parseDocument } from 'yaml';
import { buildWasmImage, type OciImage } from './oci-image.js';

export const DEFAULT_TEMPLATE = 'deploy/istio/wasmplugin.yaml';

/** The reference `npm run image` uses when --ref is not given: not a registry anyone can push to. */
export const PLACEHOLDER_REGISTRY = 'registry.example.com';

/** The comment above the written WasmPlugin: what this copy is, since the template's words are about the template. */
function renderedHeader(ref: string, placeholder: boolean): string {
  return [
    ' ppv2-wasm on the Istio ingress gateway: every TCP connection the gateway',
    ' proxies on listener port 57002 gets a PROXY protocol v2 header in front of',
    ` its first bytes. Written by \`npm run image\` from ${DEFAULT_TEMPLATE}.`,
    '',
    placeholder
      ? ` url is a PLACEHOLDER (oci://${ref}): run npm run image -- --ref REGISTRY/REPO:TAG`
      : ` url is the image \`npm run image\` built, once pushed to oci://${ref};`,
    placeholder ? ' with the registry you push to, or edit url before applying it.' : ' sha256 is that image\'s manifest digest, which Istio compares for oci:// urls.',
    ' Check your edits: node dist/deploy/validate.js build/istio/wasmplugin.yaml',
  ].join('\n');
}

/** The WasmPlugin template with url and sha256 set for a pushed image; the spec's comments are kept. */
export function renderWasmPlugin(template: string, ref: string, image: OciImage, placeholder = false): string {
  const doc = parseDocument(template);
  const spec = doc.get('spec');
  if (!isMap(spec)) throw new Error(`${DEFAULT_TEMPLATE}: no spec mapping`);
  // The template's own header (about the template) sits on the document's first node.
  const contents = doc.contents;
  if (isMap(contents)) {
    contents.commentBefore = null;
    const firstKey = contents.items[0]?.key;
    if (isScalar(firstKey)) firstKey.commentBefore = null;
  }
  doc.commentBefore = renderedHeader(ref, placeholder);
  doc.setIn(['spec', 'url'], `oci://${ref}`);
  // For oci:// URLs Istio checks sha256 against the manifest digest
  // (istio/istio pkg/wasm/cache.go: the fetcher's digest is the image's).
  const sha = image.manifest.digest.slice('sha256:'.length);
  const at = spec.items.findIndex((p) => isScalar(p.key) && p.key.value === 'url');
  const existing = spec.items.findIndex((p) => isScalar(p.key) && p.key.value === 'sha256');
  if (existing >= 0) doc.setIn(['spec', 'sha256'], sha);
  else spec.items.splice(at + 1, 0, doc.createPair('sha256', sha));
  return doc.toString();
}

/** A reference like registry.example.com/ppv2-wasm:0.1.0 (no scheme, no digest). */
export function checkRef(ref: string): string | null {
  if (/^[a-z]+:\/\//i.test(ref)) return `--ref takes no scheme, got ${JSON.stringify(ref)} (write registry/repo:tag)`;
  if (!/^[a-z0-9.-]+(:\d+)?(\/[a-z0-9._-]+)+:[\w][\w.-]{0,127}$/.test(ref)) {
    return `--ref must look like registry.example.com/ppv2-wasm:0.1.0 (lower-case repository, explicit tag), got ${JSON.stringify(ref)}`;
  }
  return null;
}

const USAGE = 'usage: ppv2-wasm image [--ref REGISTRY/REPO:TAG] [--wasm FILE] [--out FILE]   (in a clone: npm run image -- ...)';

/** This package's root: its package.json, template and module, wherever it is installed. */
const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** `ppv2-wasm image` (and `npm run image`): exit code 0, 1 (failed) or 2 (bad arguments). */
export async function main(argv: string[]): Promise<number> {
  const pkg = JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
  let ref: string | undefined;
  let wasmFile = path.relative(process.cwd(), path.join(PACKAGE_ROOT, 'build', 'ppv2.wasm'));
  let out = 'build/ppv2-oci.tar';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[i + 1];
    if ((a === '--ref' || a === '--wasm' || a === '--out') && v !== undefined) {
      if (a === '--ref') ref = v;
      else if (a === '--wasm') wasmFile = v;
      else out = v;
      i++;
    } else if (a === '-h' || a === '--help') {
      console.log(USAGE);
      return 0;
    } else {
      console.error(`image: unknown or incomplete option ${a}\n${USAGE}`);
      return 2;
    }
  }
  const placeholder = ref === undefined;
  ref ??= `${PLACEHOLDER_REGISTRY}/ppv2-wasm:${pkg.version}`;
  const bad = checkRef(ref);
  if (bad) {
    console.error(`image: ${bad}`);
    return 2;
  }
  if (!fs.existsSync(wasmFile)) {
    console.error(`image: ${wasmFile} does not exist (run npm run build)`);
    return 1;
  }
  const tag = ref.slice(ref.lastIndexOf(':') + 1);
  const image = await buildWasmImage(fs.readFileSync(wasmFile), { refName: tag });
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, image.archive);
  const pluginOut = path.join(path.dirname(out), 'istio', 'wasmplugin.yaml');
  fs.mkdirSync(path.dirname(pluginOut), { recursive: true });
  fs.writeFileSync(pluginOut, renderWasmPlugin(fs.readFileSync(path.join(PACKAGE_ROOT, DEFAULT_TEMPLATE), 'utf8'), ref, image, placeholder));
  const hex = (d: string): string => d.slice('sha256:'.length);
  console.log(`wrote ${out} (OCI image layout, Wasm compat variant, ${image.archive.length} bytes)`);
  console.log(`  manifest  ${image.manifest.digest}  (${image.manifest.size} bytes)`);
  console.log(`  config    ${image.config.digest}  (${image.config.size} bytes)`);
  console.log(`  layer     ${image.layer.digest}  (${image.layer.size} bytes, plugin.wasm)`);
  console.log(`  ${wasmFile} sha256 ${image.wasmSha256}`);
  console.log(`wrote ${pluginOut} (url: oci://${ref}, sha256: ${hex(image.manifest.digest)})`);
  if (placeholder) {
    console.log('');
    console.log(`note: no --ref given, so the url oci://${ref} is a placeholder: nothing can be pushed there.`);
    console.log('      Run npm run image -- --ref REGISTRY/REPO:TAG with the registry you push to.');
  }
  console.log('');
  console.log('push it (any one of):');
  console.log(`  skopeo copy oci-archive:${out} docker://${ref}`);
  console.log(`  mkdir -p build/ppv2-oci && tar -xf ${out} -C build/ppv2-oci && crane push build/ppv2-oci ${ref}`);
  console.log(`  mkdir -p build/ppv2-oci && tar -xf ${out} -C build/ppv2-oci && oras cp --from-oci-layout build/ppv2-oci:${tag} ${ref}`);
  console.log(`then: kubectl apply -f ${pluginOut}`);
  console.log(`WasmPlugin sha256: for url oci://... use the manifest digest ${hex(image.manifest.digest)};`);
  console.log(`                   for url https://.../plugin.wasm use the file's sha256 ${image.wasmSha256}`);
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`image: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
}
