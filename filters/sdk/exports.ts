// The callbacks a proxy-wasm host calls. A filter's entry file re-exports them with
// `export * from "../sdk/exports";` so they become the module's exports.
import { Action } from "./abi";
import { createContext, deleteRootContext, deleteStreamContext, roots, streamContext } from "./context";
import { allocateReturn } from "./host";
// Parsed so the build can point `abort` at it (--use abort=sdk/abort/proxyAbort).
import "./abort";

export function proxy_abi_version_0_2_1(): void {}

/** The host allocates its return buffers here; the SDK frees them once copied (host.ts, allocateReturn). */
export function proxy_on_memory_allocate(size: usize): usize {
  return allocateReturn(size);
}

export function proxy_on_context_create(id: u32, parentId: u32): void {
  createContext(id, parentId);
}

export function proxy_on_vm_start(id: u32, size: u32): u32 {
  return !roots.has(id) || roots.get(id).onVmStart(size) ? 1 : 0;
}

export function proxy_on_configure(id: u32, size: u32): u32 {
  if (!roots.has(id)) return 1;
  const root = roots.get(id);
  return root.onConfigure(root.readConfiguration(size)) ? 1 : 0;
}

export function proxy_on_tick(id: u32): void {
  if (roots.has(id)) roots.get(id).onTick();
}

export function proxy_on_http_call_response(id: u32, callId: u32, numHeaders: u32, bodySize: u32, numTrailers: u32): void {
  const stream = streamContext(id);
  if (stream != null) stream.onHttpCallResponse(callId, numHeaders, bodySize, numTrailers);
  else if (roots.has(id)) roots.get(id).onHttpCallResponse(callId, numHeaders, bodySize, numTrailers);
}

/** ABI 0.2.1's callback for a foreign function's later answer; Weft delivers it to the calling context. */
export function proxy_on_foreign_function(id: u32, functionId: u32, dataSize: u32): void {
  const stream = streamContext(id);
  if (stream != null) stream.onForeignFunction(functionId, dataSize);
  else if (roots.has(id)) roots.get(id).onForeignFunction(functionId, dataSize);
}

export function proxy_on_request_headers(id: u32, numHeaders: u32, endOfStream: u32): u32 {
  const stream = streamContext(id);
  return stream == null ? Action.Continue : stream.onRequestHeaders(numHeaders, endOfStream != 0);
}

export function proxy_on_request_body(id: u32, bodySize: u32, endOfStream: u32): u32 {
  const stream = streamContext(id);
  return stream == null ? Action.Continue : stream.onRequestBody(bodySize, endOfStream != 0);
}

export function proxy_on_response_headers(id: u32, numHeaders: u32, endOfStream: u32): u32 {
  const stream = streamContext(id);
  return stream == null ? Action.Continue : stream.onResponseHeaders(numHeaders, endOfStream != 0);
}

export function proxy_on_response_body(id: u32, bodySize: u32, endOfStream: u32): u32 {
  const stream = streamContext(id);
  return stream == null ? Action.Continue : stream.onResponseBody(bodySize, endOfStream != 0);
}

export function proxy_on_done(id: u32): u32 {
  const stream = streamContext(id);
  return stream == null || stream.onDone() ? 1 : 0;
}

export function proxy_on_log(id: u32): void {
  const stream = streamContext(id);
  if (stream != null) stream.onLog();
}

export function proxy_on_delete(id: u32): void {
  const stream = streamContext(id);
  if (stream != null) {
    stream.onDelete();
    deleteStreamContext(id);
  } else if (roots.has(id)) {
    deleteRootContext(id);
  }
}
