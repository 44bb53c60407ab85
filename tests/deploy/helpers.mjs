// Shared by the deploy tests: the repository root, and the "load this plugin
// configuration into build/ppv2.wasm" checker, which needs the built module
// and the host (dist/host). Under CI=true their absence fails the test;
// elsewhere it is skipped with the reason.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const MODULE = path.join(ROOT, 'build', 'ppv2.wasm');
export const fixture = (...p) => path.join(ROOT, 'tests', 'deploy', 'fixtures', ...p);

const { pluginCheckFor, PluginCheckUnavailable } = await import('../../dist/deploy/plugin-check.js');

let cached;
/** The module checker, or null after failing (CI) / skipping (elsewhere) test `t`. */
export async function requirePluginCheck(t) {
  if (cached === undefined) {
    try {
      cached = { check: await pluginCheckFor(MODULE) };
    } catch (err) {
      if (!(err instanceof PluginCheckUnavailable)) throw err;
      cached = { unavailable: err.message };
    }
  }
  if (cached.check) return cached.check;
  if (process.env.CI === 'true') assert.fail(`${cached.unavailable}; CI=true makes that a failure`);
  t.skip(cached.unavailable);
  return null;
}

/** Every file under `dir` (relative to the root) whose name ends with one of `exts`. */
export function filesUnder(dir, exts) {
  const out = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (exts.some((x) => e.name.endsWith(x))) out.push(path.relative(ROOT, p));
    }
  };
  walk(path.join(ROOT, dir));
  return out.sort();
}

/** The ppv2-istio binary (tests/istio, built on first use); or null after failing (CI) / skipping test `t` when Go is missing. */
export async function requireIstioTool(t) {
  const { istioTool, IstioToolUnavailable } = await import('../../dist/deploy/istio-go.js');
  try {
    return await istioTool({ onBuild: (m) => t.diagnostic(m) });
  } catch (err) {
    if (!(err instanceof IstioToolUnavailable)) throw err;
    if (process.env.CI === 'true') assert.fail(`${err.message}; CI=true makes that a failure`);
    t.skip(err.message);
    return null;
  }
}

/** The Envoy `envoy --mode validate` runs (PPV2_ENVOY or .tools/bin/envoy); or null after failing (CI) / skipping test `t`. */
export async function requireEnvoyValidator(t) {
  const { requireEnvoy } = await import('../e2e/tools.mjs');
  const binary = requireEnvoy(t);
  if (!binary) return null;
  const { findValidatingEnvoy } = await import('../../dist/deploy/envoy-validate.js');
  const envoy = findValidatingEnvoy({ ...process.env, PPV2_ENVOY: binary });
  assert.ok(envoy, `${binary} --version failed`);
  return envoy;
}

/** ppv2-istio and istio.io/api's CRD file, for ValidateOptions.istio; or null after failing (CI) / skipping test `t`. */
export async function requireIstioCheck(t) {
  const tool = await requireIstioTool(t);
  if (!tool) return null;
  const { istioApiCrds } = await import('../../dist/deploy/istio-go.js');
  return { tool, crds: await istioApiCrds() };
}
