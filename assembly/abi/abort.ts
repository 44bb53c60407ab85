// AssemblyScript calls `abort` on a failed bounds check or assertion. Its default
// is an `env.abort` import, which Envoy does not provide (it refuses the module),
// so asconfig.json routes abort here with `--use abort=...`. We log one critical
// line through proxy_log and trap; the host then marks the VM failed and applies
// the configured failure policy. The filter is written so that this never runs.

import { proxy_log } from "./imports";
import { lineByte, lineLen, linePtr, lineStart, lineText, lineU64, utf8 } from "../bytes";

const LOG_CRITICAL: u32 = 5;

function lineString(s: string | null): void {
  if (s == null) return;
  const text = changetype<string>(s);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    lineByte(c < 0x20 || c > 0x7e ? 0x3f : c);
  }
}

export function abortToProxyLog(message: string | null, fileName: string | null, line: u32, column: u32): void {
  lineStart();
  lineText(utf8("ppv2-wasm: abort: "));
  lineString(message);
  lineText(utf8(" at "));
  lineString(fileName);
  lineByte(0x3a);
  lineU64(line);
  lineByte(0x3a);
  lineU64(column);
  proxy_log(LOG_CRITICAL, linePtr(), <usize>lineLen());
  unreachable();
}
