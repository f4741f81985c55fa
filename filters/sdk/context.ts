import { Action, BufferType } from "./abi";
import { getBufferBytes } from "./host";

/** Per-request context: override the callbacks the filter needs. */
export class HttpContext {
  constructor(public id: u32, public root: RootContext) {}

  onRequestHeaders(numHeaders: u32, endOfStream: bool): Action {
    return Action.Continue;
  }

  onRequestBody(bodySize: u32, endOfStream: bool): Action {
    return Action.Continue;
  }

  onResponseHeaders(numHeaders: u32, endOfStream: bool): Action {
    return Action.Continue;
  }

  onResponseBody(bodySize: u32, endOfStream: bool): Action {
    return Action.Continue;
  }

  /** The answer to an httpCall this context made; numHeaders is 0 when the call failed. */
  onHttpCallResponse(callId: u32, numHeaders: u32, bodySize: u32, numTrailers: u32): void {}

  /**
   * A foreign function this context called answered later (Weft: a `weft.verify_jwt` that had to wait for
   * WebCrypto); read the answer with getForeignFunctionData(dataSize).
   */
  onForeignFunction(functionId: u32, dataSize: u32): void {}

  onLog(): void {}

  /** Return false to keep the context alive past the request (rare). */
  onDone(): bool {
    return true;
  }

  onDelete(): void {}
}

/** The plugin context: parses the configuration once and makes one HttpContext per request. */
export class RootContext {
  constructor(public id: u32) {}

  onVmStart(vmConfigurationSize: u32): bool {
    return true;
  }

  /** Receives the plugin configuration (Weft passes the attachment's JSON); false rejects it. */
  onConfigure(configuration: string): bool {
    return true;
  }

  onTick(): void {}

  onHttpCallResponse(callId: u32, numHeaders: u32, bodySize: u32, numTrailers: u32): void {}

  onForeignFunction(functionId: u32, dataSize: u32): void {}

  createHttpContext(id: u32): HttpContext {
    return new HttpContext(id, this);
  }

  /** Reads the plugin configuration during proxy_on_configure. */
  readConfiguration(size: u32): string {
    const bytes = getBufferBytes(BufferType.PluginConfiguration, 0, size);
    return bytes == null ? "" : String.UTF8.decode(bytes);
  }
}

type RootFactory = (id: u32) => RootContext;

let rootFactory: RootFactory | null = null;

/**
 * Registers the filter's root context; call once at the top level of the filter's entry file.
 * @example registerRootContext((id: u32): RootContext => new AddHeaderRoot(id));
 */
export function registerRootContext(factory: RootFactory): void {
  rootFactory = factory;
}

export const roots = new Map<u32, RootContext>();
export const streams = new Map<u32, HttpContext>();

// The host calls one stream's callbacks in a row (context create, headers, done, log, delete): the last one
// found answers without a map lookup.
let lastStreamId: u32 = 0;
let lastStream: HttpContext | null = null;

/** The stream context `id`, or null when there is none (a root context, or one already deleted). */
export function streamContext(id: u32): HttpContext | null {
  if (id == lastStreamId && lastStream != null) return lastStream;
  if (!streams.has(id)) return null;
  const stream = streams.get(id);
  lastStreamId = id;
  lastStream = stream;
  return stream;
}

/** Forgets stream context `id` (proxy_on_delete). */
export function deleteStreamContext(id: u32): void {
  streams.delete(id);
  if (id == lastStreamId) lastStream = null;
}

// Every stream names the same root (a filter has one): the last one found answers without a map lookup.
let lastRootId: u32 = 0;
let lastRoot: RootContext | null = null;

/** Forgets root context `id` (proxy_on_delete of a root). */
export function deleteRootContext(id: u32): void {
  roots.delete(id);
  if (id == lastRootId) lastRoot = null;
}

export function createContext(id: u32, parentId: u32): void {
  if (parentId == 0) {
    const factory = rootFactory;
    // A filter without a registered root still loads; it simply does nothing.
    roots.set(id, factory == null ? new RootContext(id) : factory(id));
    if (id == lastRootId) lastRoot = null;
    return;
  }
  let root = lastRoot;
  if (root == null || parentId != lastRootId) {
    if (!roots.has(parentId)) return;
    root = roots.get(parentId);
    lastRootId = parentId;
    lastRoot = root;
  }
  const stream = root.createHttpContext(id);
  streams.set(id, stream);
  lastStreamId = id;
  lastStream = stream;
}
