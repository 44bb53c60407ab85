// How the long-running commands (proxy, inspect) write their lines: each
// starts with the time, ISO 8601 in UTC with milliseconds, so that lines from
// the proxy, the backend and Envoy's own log can be put side by side.

/** `line` with the current time in front: "2026-01-02T03:04:05.678Z line". */
export function stamped(line: string): string {
  return `${new Date().toISOString()} ${line}`;
}

/** A command's own status line on stderr: "<time> ppv2-wasm proxy: listening on ...". */
export function status(command: string, message: string): void {
  console.error(stamped(`ppv2-wasm ${command}: ${message}`));
}
