// An OCI image layout, as one tar file, holding the module in the Wasm image
// "compat" variant that Istio pulls (solo-io/wasm spec/spec-compat.md):
// one application/vnd.oci.image.layer.v1.tar+gzip layer containing plugin.wasm,
// and the manifest annotation module.wasm.image/variant=compat.
//
// Istio's fetcher (istio/istio pkg/wasm/imagefetcher.go) takes the manifest's
// last layer, requires exactly that media type, gunzips it and returns the tar
// entry whose base name is plugin.wasm. For oci:// URLs it compares the
// WasmPlugin's sha256 with the manifest digest (pkg/wasm/cache.go), which is
// why the build must be reproducible: fixed entry order, mtimes, owners and
// modes, and compressed bytes that do not depend on the machine.
import { createHash } from 'node:crypto';
import { gzip } from 'pako';
import tar from 'tar-stream';

export const MEDIA_TYPE = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layerTarGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

export const WASM_VARIANT_ANNOTATION = 'module.wasm.image/variant';
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';
export const PLUGIN_FILE = 'plugin.wasm';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

export interface OciImage {
  /** The whole image layout as an uncompressed tar (for `skopeo copy oci-archive:...`). */
  archive: Buffer;
  /** Descriptor of the image manifest; its digest is what Istio's `sha256` must hold for oci:// URLs. */
  manifest: Descriptor;
  config: Descriptor;
  layer: Descriptor;
  /** sha256 of the uncompressed layer tar, as listed in the config's rootfs.diff_ids. */
  diffId: string;
  /** sha256 of plugin.wasm itself (what Istio compares for http(s):// URLs). */
  wasmSha256: string;
}

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Tar bytes of the given entries, written in order with fixed metadata. */
async function tarOf(entries: readonly { name: string; data?: Buffer; dir?: boolean }[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    pack.on('data', (c: unknown) => chunks.push(c as Buffer));
    pack.on('end', () => resolve(Buffer.concat(chunks)));
    pack.on('error', reject);
  });
  for (const e of entries) {
    const header = {
      name: e.name,
      type: e.dir ? ('directory' as const) : ('file' as const),
      mode: e.dir ? 0o755 : 0o644,
      mtime: new Date(0),
      uid: 0,
      gid: 0,
      uname: '',
      gname: '',
    };
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
      if (e.dir || !e.data) pack.entry(header, cb);
      else pack.entry({ ...header, size: e.data.length }, e.data, cb);
    });
  }
  pack.finalize();
  return done;
}

/**
 * The layer's gzip bytes, equal for equal input on every machine. Istio's
 * fetcher requires a gzip layer (pkg/wasm/imagefetcher.go gunzips it), so
 * the layer cannot be stored plain. Node's zlib is whichever fork the Node
 * release bundles, and forks emit different deflate streams for the same
 * input, so the compressor is pako at an exact version, in its mode that
 * matches canonical zlib's output (legacyHash). Its gzip header has no
 * timestamp or name, and a fixed OS byte.
 */
function deterministicGzip(data: Buffer): Buffer {
  return Buffer.from(gzip(data, { level: 9, legacyHash: true }));
}

/** The WASI module name a module built for WASI preview 1 imports (wasi_snapshot_preview1). */
export const WASI_P1_MODULE = 'wasi_snapshot_preview1';

/**
 * The platform the image config states. The OCI image spec takes GOARCH and
 * GOOS names: "wasm" is the architecture, and the only GOOS for it that
 * describes an ABI is wasip1, which is right only for a module that imports
 * WASI. A Proxy-Wasm module that imports nothing but the host's env.proxy_*
 * functions runs on no operating system, so its config says so with
 * "proxy-wasm" rather than claim one.
 */
export function imagePlatform(wasm: Uint8Array): { architecture: string; os: string } {
  let module: WebAssembly.Module;
  try {
    module = new WebAssembly.Module(new Uint8Array(wasm));
  } catch (err) {
    throw new Error(`not a valid WebAssembly module: ${(err as Error).message}`);
  }
  const imports = WebAssembly.Module.imports(module);
  return { architecture: 'wasm', os: imports.some((i) => i.module === WASI_P1_MODULE) ? 'wasip1' : 'proxy-wasm' };
}

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v), 'utf8');

export interface BuildImageOptions {
  /** Tag recorded in index.json (org.opencontainers.image.ref.name), e.g. the package version. */
  refName: string;
}

export async function buildWasmImage(wasm: Uint8Array, options: BuildImageOptions): Promise<OciImage> {
  if (wasm.length < 8 || wasm[0] !== 0x00 || wasm[1] !== 0x61 || wasm[2] !== 0x73 || wasm[3] !== 0x6d) {
    throw new Error('not a WebAssembly module (no \\0asm magic)');
  }
  const layerTar = await tarOf([{ name: PLUGIN_FILE, data: Buffer.from(wasm) }]);
  const layerBlob = deterministicGzip(layerTar);
  const diffId = `sha256:${sha256Hex(layerTar)}`;
  const layer: Descriptor = { mediaType: MEDIA_TYPE.layerTarGzip, digest: `sha256:${sha256Hex(layerBlob)}`, size: layerBlob.length };

  // The image config the OCI image spec requires (architecture, os, rootfs);
  // no "created" time, to keep the digest reproducible.
  const configBlob = json({
    ...imagePlatform(wasm),
    rootfs: { type: 'layers', diff_ids: [diffId] },
    config: {},
  });
  const config: Descriptor = { mediaType: MEDIA_TYPE.config, digest: `sha256:${sha256Hex(configBlob)}`, size: configBlob.length };

  const manifestBlob = json({
    schemaVersion: 2,
    mediaType: MEDIA_TYPE.manifest,
    config,
    layers: [layer],
    annotations: { [WASM_VARIANT_ANNOTATION]: 'compat' },
  });
  const manifest: Descriptor = {
    mediaType: MEDIA_TYPE.manifest,
    digest: `sha256:${sha256Hex(manifestBlob)}`,
    size: manifestBlob.length,
    annotations: { [REF_NAME_ANNOTATION]: options.refName },
  };
  const index = json({ schemaVersion: 2, mediaType: MEDIA_TYPE.index, manifests: [manifest] });

  const blobs = [
    { digest: config.digest, data: configBlob },
    { digest: layer.digest, data: layerBlob },
    { digest: manifest.digest, data: manifestBlob },
  ].sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  const archive = await tarOf([
    { name: 'oci-layout', data: json({ imageLayoutVersion: '1.0.0' }) },
    { name: 'index.json', data: index },
    { name: 'blobs/', dir: true },
    { name: 'blobs/sha256/', dir: true },
    ...blobs.map((b) => ({ name: `blobs/sha256/${b.digest.slice('sha256:'.length)}`, data: b.data })),
  ]);
  return { archive, manifest, config, layer, diffId, wasmSha256: sha256Hex(wasm) };
}
