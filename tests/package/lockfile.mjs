// A package-lock.json for a project that depends only on a packed
// ppv2-wasm tarball, made from this repository's own lock: the tarball's
// runtime dependencies at exactly the versions `npm ci` put in the npm
// cache here. With it, `npm install --offline` needs no registry metadata
// (npm ci fetches tarballs by integrity and keeps no package documents, so
// resolving "yaml@^2" offline would fail on a fresh machine).

/**
 * The lock entries (path → entry) that Node's module resolution reaches
 * from `dependencies`, starting at the root of `lock`.
 */
export function runtimeClosure(lock, dependencies) {
  const packages = lock.packages;
  const chosen = new Map();
  const visit = (fromPath, name) => {
    // Node looks in fromPath/node_modules, then each ancestor's.
    for (let dir = fromPath; ; dir = parentOf(dir)) {
      const candidate = `${dir === '' ? '' : `${dir}/`}node_modules/${name}`;
      if (packages[candidate]) {
        if (!chosen.has(candidate)) {
          chosen.set(candidate, packages[candidate]);
          for (const dep of Object.keys(packages[candidate].dependencies ?? {})) visit(candidate, dep);
          for (const [dep, meta] of Object.entries(packages[candidate].peerDependenciesMeta ?? {})) {
            if (!meta.optional) visit(candidate, dep);
          }
          for (const dep of Object.keys(packages[candidate].peerDependencies ?? {})) {
            if (!packages[candidate].peerDependenciesMeta?.[dep]?.optional) visit(candidate, dep);
          }
        }
        return;
      }
      if (dir === '') throw new Error(`package-lock.json has no entry for ${name} (needed by ${fromPath || 'the package'})`);
    }
  };
  for (const name of Object.keys(dependencies ?? {})) visit('', name);
  return chosen;
}

/** "node_modules/a/node_modules/b" → "node_modules/a"; "node_modules/a" → "". */
function parentOf(path) {
  const at = path.lastIndexOf('/node_modules/');
  return at < 0 ? '' : path.slice(0, at);
}

/**
 * The lockfile of a project { dependencies: { [pkg.name]: `file:${tarball}` } }.
 * `integrity` is the tarball's sha512 integrity string (npm pack --json gives it).
 */
export function consumerLock({ pkg, lock, tarball, integrity }) {
  const packages = {
    '': { dependencies: { [pkg.name]: `file:${tarball}` } },
    [`node_modules/${pkg.name}`]: {
      version: pkg.version,
      resolved: `file:${tarball}`,
      integrity,
      license: pkg.license,
      ...(pkg.dependencies ? { dependencies: pkg.dependencies } : {}),
      ...(pkg.bin ? { bin: pkg.bin } : {}),
      ...(pkg.engines ? { engines: pkg.engines } : {}),
    },
  };
  for (const [path, entry] of runtimeClosure(lock, pkg.dependencies)) {
    const { dev: _dev, devOptional: _devOptional, ...kept } = entry;
    packages[path] = kept;
  }
  return { name: 'consumer', lockfileVersion: 3, requires: true, packages };
}
