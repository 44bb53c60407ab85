// Figure 5: the release module's size, raw and gzipped (what an OCI layer or an HTTP fetch carries).
import { gzipSync } from 'node:zlib';
import { target } from './report.mjs';

const SECTION = '5. Binary size (build/ppv2.wasm)';

export async function sizeBench(report, modules) {
  const raw = modules.release.length;
  const gz = gzipSync(modules.release, { level: 9 }).length;
  report.add(SECTION, 'release .wasm', raw, 'B', target('<=', 32 * 1024), '32 KiB');
  report.add(SECTION, 'release .wasm, gzip -9', gz, 'B');
}
