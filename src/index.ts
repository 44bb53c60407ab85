// The package's root export: where the built filter modules are, so that an
// Envoy bootstrap, an image build or `startPlugin` (ppv2-wasm/host) can name
// them without knowing the package's layout. The host API and the decoder
// have their own entry points: `ppv2-wasm/host` and `ppv2-wasm/proxy-protocol`.

import { fileURLToPath } from 'node:url';

/** The release module (what Envoy and Istio should load). */
export const wasmPath: string = fileURLToPath(new URL('../build/ppv2.wasm', import.meta.url));

/**
 * The debug module: the same filter with function names and assertions kept,
 * so that a trap in Envoy's log names the function it happened in.
 */
export const debugWasmPath: string = fileURLToPath(new URL('../build/ppv2.debug.wasm', import.meta.url));
