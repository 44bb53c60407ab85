// Entry point: the ABI exports, nothing else. See docs/ARCHITECTURE.md.
// Routes AssemblyScript's abort to proxy_log (asconfig.json: --use abort=...).
import "./abi/abort";
export {
  proxy_abi_version_0_2_1,
  proxy_on_memory_allocate,
  malloc,
  proxy_on_context_create,
  proxy_on_vm_start,
  proxy_on_configure,
  proxy_on_tick,
  proxy_on_new_connection,
  proxy_on_downstream_data,
  proxy_on_upstream_data,
  proxy_on_downstream_connection_close,
  proxy_on_upstream_connection_close,
  proxy_on_done,
  proxy_on_log,
  proxy_on_delete,
} from "./abi/exports";
