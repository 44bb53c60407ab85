// AssemblyScript calls `abort` on a failed bounds check or assertion. Its default
// is an `env.abort` import, which Envoy does not provide (it refuses the module),
// so asconfig.json routes abort here with `--use abort=...`. We log one critical
// line through proxy_log and trap; the host then marks the VM failed and applies
// the configured failure policy. The filter is written so that this never runs.

import { lineStart, lineText, lineU64 } from "../bytes";
import { LOG_CRITICAL, logLine } from "../hostcalls";

export function abortToProxyLog(message: string | null, fileName: string | null, line: u32, column: u32): void {
  lineStart();
  lineText("ppv2-wasm: abort: ");
  if (message !== null) lineText(message);
  lineText(" at ");
  if (fileName !== null) lineText(fileName);
  lineText(":");
  lineU64(line);
  lineText(":");
  lineU64(column);
  logLine(LOG_CRITICAL);
  unreachable();
}
