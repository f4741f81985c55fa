import { ABI_MARKERS, Action, BufferType, LogLevel, MapType, Status, StreamType, type AbiVersion } from './abi'
import type { FilterLogger } from './filter-logger'
import type { FilterMetrics } from './filter-metrics'
import { GuestMemory } from './guest-memory'
import type { HeaderPairs } from './header-map'
import {
  createProxyImports,
  type FilterHttpCall,
  type FilterHttpCallResponse,
  type ForeignFunction,
  type LocalResponse,
  type ProxyImportHost,
} from './proxy-imports'
import { resolveProperty, type RequestProperties } from './request-properties'
import type { SharedData, SharedQueues } from './shared-data'
import { createWasiImports, WASI_MODULES } from './wasi-imports'
import { FUEL_BUDGET_EXPORT, FUEL_EXPORT } from './meter-wasm'
import { FilterConfigError, FilterLoadError, FilterRunawayError, GuestExit, UnknownImportError } from './wasm-errors'

export type FilterVmOptions = {
  module: WebAssembly.Module
  /** The plugin's root id (`plugin_root_id`); SDKs pick their root context by it. */
  rootId: string
  config: Uint8Array
  vmConfig: Uint8Array
  logger: FilterLogger
  now: () => number
  logLevel: number
  sharedData: SharedData
  queues: SharedQueues
  metrics: FilterMetrics
  foreignFunctions: ReadonlyMap<string, ForeignFunction>
  /** Dispatches `proxy_http_call`; absent, every upstream is unknown (BAD_ARGUMENT). */
  httpCall?: (call: FilterHttpCall) => Promise<FilterHttpCallResponse>
  /** Fuel per outermost guest call of a metered module; default the budget meterWasm baked in. */
  fuel?: number
  /** Called when a guest callback run outside a request call (an HTTP call's answer, a tick) traps. */
  onAsyncTrap: (error: unknown) => void
}

/** How a paused stream ended: resumed, answered locally, or failed. */
export type StreamWake = 'continue' | 'respond' | { error: unknown }

/** One HTTP request/response pair inside a VM: a proxy-wasm stream context. */
export class StreamState {
  readonly id: number
  readonly request: RequestProperties
  readonly maps = new Map<number, HeaderPairs>()
  // Made on first use: most requests pass no body through a filter and set no property.
  #buffers: Map<number, Uint8Array> | undefined = undefined
  #properties: Map<string, Uint8Array> | undefined = undefined
  localResponse: LocalResponse | undefined
  responseStatus: number | undefined
  /** Set by proxy_continue_stream during a callback that will return Pause, or resolved later. */
  continued = false
  closed = false
  #waiter: ((wake: StreamWake) => void) | undefined

  constructor(id: number, request: RequestProperties) {
    this.id = id
    this.request = request
  }

  get buffers(): Map<number, Uint8Array> {
    return (this.#buffers ??= new Map())
  }

  get properties(): Map<string, Uint8Array> {
    return (this.#properties ??= new Map())
  }

  /** Resolves when the filter continues the stream, answers it, or it fails; the caller applies a deadline. */
  waitForWake(): Promise<StreamWake> {
    if (this.localResponse) return Promise.resolve('respond')
    if (this.continued) return Promise.resolve('continue')
    return new Promise((resolve) => {
      this.#waiter = resolve
    })
  }

  wake(wake: StreamWake): void {
    const waiter = this.#waiter
    this.#waiter = undefined
    waiter?.(wake)
  }
}

type Exports = Record<string, WebAssembly.ExportValue>
type GuestFn = (...args: Array<number | bigint>) => number | bigint | undefined
/**
 * An export with its declared arity, read once: `length` of a wasm function is a native accessor that costs about
 * as much as the call itself, and a request makes some twenty guest calls.
 */
type GuestExport = { fn: GuestFn; arity: number }

/** Finds the module's ABI marker. @throws FilterLoadError when it exports none. */
export function detectAbi(module: WebAssembly.Module): AbiVersion {
  const names = new Set(WebAssembly.Module.exports(module).map((e) => e.name))
  for (const [marker, version] of ABI_MARKERS) if (names.has(marker)) return version
  throw new FilterLoadError(
    `not a proxy-wasm module: exports neither ${ABI_MARKERS.map(([m]) => m).join(' nor ')}`,
  )
}

/**
 * One instance of a filter module with its root context configured. It runs guest callbacks synchronously and
 * lets traps propagate: the FilterHost decides what a trap means for the request and replaces the VM.
 */
export class FilterVm implements ProxyImportHost {
  readonly abi: AbiVersion
  readonly logger: FilterLogger
  readonly sharedData: SharedData
  readonly queues: SharedQueues
  readonly metrics: FilterMetrics
  readonly foreignFunctions: ReadonlyMap<string, ForeignFunction>
  readonly rootContextId = 1
  logLevel: number
  tickPeriodMs = 0
  /** Set when a guest call trapped: the instance's state can no longer be trusted. */
  broken: unknown = undefined

  #options: FilterVmOptions
  #exports: Exports
  #memory: GuestMemory
  #streams = new Map<number, StreamState>()
  #nextContextId = 2
  #effective: number
  /** The stream of the effective context (undefined for the root): host calls reach it without a lookup. */
  #effectiveStream: StreamState | undefined = undefined
  /** Buffers and maps only valid during one callback (plugin config, an HTTP call's answer). */
  #callbackBuffers = new Map<number, Uint8Array>()
  #callbackMaps = new Map<number, HeaderPairs>()
  #callStatus = { code: 0, message: '' }
  #pendingCalls = new Map<number, number>()
  #nextCallId = 1
  /** The metering global, when the module was metered; refilled before each outermost guest call. */
  #fuel: WebAssembly.Global | undefined
  #budget = 0
  #depth = 0
  /** The callbacks every stream calls, looked up once (a name lookup per call was measurable in the chain). */
  #onContextCreate: GuestExport | undefined
  #onRequestHeaders: GuestExport | undefined
  #onRequestBody: GuestExport | undefined
  #onResponseHeaders: GuestExport | undefined
  #onResponseBody: GuestExport | undefined
  #onDone: GuestExport | undefined
  #onLog: GuestExport | undefined
  #onDelete: GuestExport | undefined

  /**
   * Instantiates, runs `_initialize`/`_start`, creates the root context and configures it.
   * @throws UnknownImportError naming every import the host does not provide.
   * @throws FilterLoadError when the module is not proxy-wasm.
   * @throws FilterConfigError when `proxy_on_vm_start` or `proxy_on_configure` returns false.
   */
  constructor(options: FilterVmOptions) {
    this.#options = options
    this.abi = detectAbi(options.module)
    this.logger = options.logger
    this.logLevel = options.logLevel
    this.sharedData = options.sharedData
    this.queues = options.queues
    this.metrics = options.metrics
    this.foreignFunctions = options.foreignFunctions
    this.#effective = this.rootContextId

    const memoryRef = (): GuestMemory => this.#memory
    const env = createProxyImports(this)
    const wasi = createWasiImports({ memory: memoryRef, logger: options.logger, now: options.now })
    const imports = linkImports(options.module, { env, ...Object.fromEntries(WASI_MODULES.map((m) => [m, wasi])) })

    // Synchronous instantiation: it works in Node and workerd alike for a compiled Module, and lets a trapped VM
    // be replaced between two requests without an await.
    const instance = new WebAssembly.Instance(options.module, imports)
    this.#exports = instance.exports
    this.#onContextCreate = this.#export('proxy_on_context_create')
    this.#onRequestHeaders = this.#export('proxy_on_request_headers')
    this.#onRequestBody = this.#export('proxy_on_request_body')
    this.#onResponseHeaders = this.#export('proxy_on_response_headers')
    this.#onResponseBody = this.#export('proxy_on_response_body')
    this.#onDone = this.#export('proxy_on_done')
    this.#onLog = this.#export('proxy_on_log')
    this.#onDelete = this.#export('proxy_on_delete')
    const fuel = this.#exports[FUEL_EXPORT]
    this.#fuel = fuel instanceof WebAssembly.Global ? fuel : undefined
    const budget = this.#exports[FUEL_BUDGET_EXPORT]
    this.#budget = options.fuel ?? (budget instanceof WebAssembly.Global ? (budget.value as number) : 0)
    const memory = this.#exports.memory
    if (!(memory instanceof WebAssembly.Memory)) throw new FilterLoadError('filter module exports no memory')
    const allocator = this.#export('proxy_on_memory_allocate') ?? this.#export('malloc')
    this.#memory = new GuestMemory(memory, allocator ? (size) => Number(this.#guest(allocator, size)) : undefined)

    this.#start()
    this.#call('proxy_on_context_create', this.rootContextId, 0)
    this.#callbackBuffers.set(BufferType.VM_CONFIGURATION, options.vmConfig)
    const vmStarted = this.#call('proxy_on_vm_start', this.rootContextId, options.vmConfig.length)
    this.#callbackBuffers.clear()
    if (vmStarted === 0) throw new FilterConfigError('filter rejected its VM configuration (proxy_on_vm_start)')
    this.#callbackBuffers.set(BufferType.PLUGIN_CONFIGURATION, options.config)
    const configured = this.#call('proxy_on_configure', this.rootContextId, options.config.length)
    this.#callbackBuffers.clear()
    if (configured === 0) throw new FilterConfigError('filter rejected its configuration (proxy_on_configure)')
  }

  #start(): void {
    try {
      if (this.#exports._initialize) {
        this.#call('_initialize')
        if (this.#exports.main) this.#call('main', 0, 0)
      } else if (this.#exports._start) {
        this.#call('_start')
      }
    } catch (error) {
      // A command module's `_start` ends with proc_exit(0) once main returns; its exports stay usable.
      if (!(error instanceof GuestExit && error.exitCode === 0)) throw error
    }
  }

  /** Whether the module meters itself (meter-wasm.ts): only then can a runaway call be stopped. */
  get metered(): boolean {
    return this.#fuel !== undefined
  }

  #guest({ fn, arity }: GuestExport, a = 0, b = 0, c = 0, d = 0, e = 0): number | bigint | undefined {
    // A host function may call back into the guest (the allocator): one budget covers the outermost call.
    const outermost = this.#depth === 0
    if (outermost && this.#fuel) this.#fuel.value = this.#budget
    this.#depth++
    try {
      // With exactly the arity the export declares, V8 keeps its specialised JS-to-wasm call path.
      switch (arity) {
        case 0: return fn()
        case 1: return fn(a)
        case 2: return fn(a, b)
        case 3: return fn(a, b, c)
        case 4: return fn(a, b, c, d)
        default: return fn(a, b, c, d, e)
      }
    } catch (error) {
      if (outermost && this.#fuel && (this.#fuel.value as number) < 0) {
        throw new FilterRunawayError(`filter ran past its time budget (${this.#budget} units of fuel)`, { cause: error })
      }
      throw error
    } finally {
      this.#depth--
    }
  }

  #export(name: string): GuestExport | undefined {
    const fn = this.#exports[name]
    return typeof fn === 'function' ? { fn: fn as GuestFn, arity: fn.length } : undefined
  }

  /** Calls an optional export (at most five arguments); undefined when the module does not export it. */
  #call(name: string, a?: number, b?: number, c?: number, d?: number, e?: number): number | undefined {
    return this.#invoke(this.#export(name), a, b, c, d, e)
  }

  #invoke(fn: GuestExport | undefined, a?: number, b?: number, c?: number, d?: number, e?: number): number | undefined {
    if (fn === undefined) return undefined
    const result = this.#guest(fn, a, b, c, d, e)
    return typeof result === 'bigint' ? Number(result) : result
  }

  /** Runs one callback with `stream` as the effective context; restores the root context afterwards. */
  #inContext<T>(contextId: number, run: () => T): T {
    const previous = this.#effective
    const previousStream = this.#effectiveStream
    this.#effective = contextId
    this.#effectiveStream = this.#streams.get(contextId)
    try {
      return run()
    } finally {
      this.#effective = previous
      this.#effectiveStream = previousStream
    }
  }

  /** #call with `stream` as the effective context (#inContext without a closure, for per-request calls). */
  #callIn(stream: StreamState, fn: GuestExport | undefined, a?: number, b?: number, c?: number): number | undefined {
    const previous = this.#effective
    const previousStream = this.#effectiveStream
    this.#effective = stream.id
    this.#effectiveStream = stream
    try {
      return this.#invoke(fn, a, b, c)
    } finally {
      this.#effective = previous
      this.#effectiveStream = previousStream
    }
  }

  memory(): GuestMemory {
    return this.#memory
  }

  now(): number {
    return this.#options.now()
  }

  // --- streams -------------------------------------------------------------------------------------------

  createStream(request: RequestProperties): StreamState {
    const stream = new StreamState(this.#nextContextId++, request)
    this.#streams.set(stream.id, stream)
    this.#callIn(stream, this.#onContextCreate, stream.id, this.rootContextId)
    return stream
  }

  onRequestHeaders(stream: StreamState, headers: HeaderPairs, endOfStream: boolean): number {
    stream.maps.set(MapType.HTTP_REQUEST_HEADERS, headers)
    return this.#action(stream, this.#onRequestHeaders, headers.length, endOfStream ? 1 : 0)
  }

  onRequestBody(stream: StreamState, body: Uint8Array, endOfStream: boolean): number {
    stream.buffers.set(BufferType.HTTP_REQUEST_BODY, body)
    return this.#action(stream, this.#onRequestBody, body.length, endOfStream ? 1 : 0)
  }

  onResponseHeaders(stream: StreamState, headers: HeaderPairs, status: number, endOfStream: boolean): number {
    stream.responseStatus = status
    stream.maps.set(MapType.HTTP_RESPONSE_HEADERS, headers)
    return this.#action(stream, this.#onResponseHeaders, headers.length, endOfStream ? 1 : 0)
  }

  onResponseBody(stream: StreamState, body: Uint8Array, endOfStream: boolean): number {
    stream.buffers.set(BufferType.HTTP_RESPONSE_BODY, body)
    return this.#action(stream, this.#onResponseBody, body.length, endOfStream ? 1 : 0)
  }

  #action(stream: StreamState, callback: GuestExport | undefined, size: number, endOfStream: number): number {
    stream.continued = false
    const action = this.#callIn(stream, callback, stream.id, size, endOfStream)
    return action ?? Action.CONTINUE
  }

  /** proxy_on_done, proxy_on_log, proxy_on_delete; the stream is forgotten even when the guest traps. */
  finishStream(stream: StreamState): void {
    if (!this.#streams.has(stream.id)) return
    const previous = this.#effective
    const previousStream = this.#effectiveStream
    this.#effective = stream.id
    this.#effectiveStream = stream
    try {
      this.#invoke(this.#onDone, stream.id)
      this.#invoke(this.#onLog, stream.id)
      this.#invoke(this.#onDelete, stream.id)
    } finally {
      this.#effective = previous
      this.#effectiveStream = previousStream
      this.#streams.delete(stream.id)
    }
  }

  /** Drives `proxy_on_tick` on the root context; the proxy calls it every `tickPeriodMs`. */
  tick(): void {
    this.#call('proxy_on_tick', this.rootContextId)
  }

  // --- ProxyImportHost -----------------------------------------------------------------------------------

  #stream(): StreamState | undefined {
    return this.#effectiveStream
  }

  headerMap(mapType: number): HeaderPairs | undefined {
    // An HTTP call's answer maps exist only inside proxy_on_http_call_response: most calls skip that lookup.
    return (this.#callbackMaps.size === 0 ? undefined : this.#callbackMaps.get(mapType)) ?? this.#effectiveStream?.maps.get(mapType)
  }

  setHeaderMap(mapType: number, pairs: HeaderPairs): boolean {
    const stream = this.#stream()
    if (!stream || this.#callbackMaps.has(mapType)) return false
    if (mapType !== MapType.HTTP_REQUEST_HEADERS && mapType !== MapType.HTTP_RESPONSE_HEADERS
      && mapType !== MapType.HTTP_REQUEST_TRAILERS && mapType !== MapType.HTTP_RESPONSE_TRAILERS) return false
    stream.maps.set(mapType, pairs)
    return true
  }

  buffer(bufferType: number): Uint8Array | undefined {
    return this.#callbackBuffers.get(bufferType) ?? this.#stream()?.buffers.get(bufferType)
  }

  setBuffer(bufferType: number, bytes: Uint8Array): boolean {
    const stream = this.#stream()
    if (!stream?.buffers.has(bufferType)) return false
    stream.buffers.set(bufferType, bytes)
    return true
  }

  property(path: string): Uint8Array | undefined {
    const stream = this.#stream()
    return resolveProperty(path, {
      rootId: this.#options.rootId,
      request: stream?.request,
      requestHeaders: stream?.maps.get(MapType.HTTP_REQUEST_HEADERS),
      responseHeaders: stream?.maps.get(MapType.HTTP_RESPONSE_HEADERS),
      responseStatus: stream?.responseStatus,
      overrides: stream?.properties,
    })
  }

  setProperty(path: string, value: Uint8Array): boolean {
    const stream = this.#stream()
    if (!stream) return false
    stream.properties.set(path.replaceAll('\0', '.'), value)
    return true
  }

  sendLocalResponse(response: LocalResponse): number {
    const stream = this.#stream()
    if (!stream) return Status.BAD_ARGUMENT
    stream.localResponse = response
    stream.wake('respond')
    return Status.OK
  }

  continueStream(streamType: number): number {
    if (streamType !== StreamType.HTTP_REQUEST && streamType !== StreamType.HTTP_RESPONSE) {
      return streamType <= StreamType.UPSTREAM ? Status.UNIMPLEMENTED : Status.BAD_ARGUMENT
    }
    const stream = this.#stream()
    if (!stream) return Status.BAD_ARGUMENT
    stream.continued = true
    stream.wake('continue')
    return Status.OK
  }

  closeStream(streamType: number): number {
    if (streamType > StreamType.UPSTREAM) return Status.BAD_ARGUMENT
    const stream = this.#stream()
    if (!stream) return Status.BAD_ARGUMENT
    // Closing an HTTP stream resets it: the proxy answers as for a filter failure, without the policy choice.
    stream.closed = true
    stream.wake({ error: new Error('filter closed the stream') })
    return Status.OK
  }

  setEffectiveContext(id: number): number {
    const stream = this.#streams.get(id)
    if (id !== this.rootContextId && !stream) return Status.BAD_ARGUMENT
    this.#effective = id
    this.#effectiveStream = stream
    return Status.OK
  }

  done(): number {
    // Weft finishes contexts synchronously in finishStream, so none is ever pending finalisation.
    return Status.NOT_FOUND
  }

  callStatus(): { code: number; message: string } {
    return this.#callStatus
  }

  httpCall(call: FilterHttpCall): number | { callId: number } {
    const dispatch = this.#options.httpCall
    if (!dispatch) return Status.BAD_ARGUMENT
    const callId = this.#nextCallId++
    const contextId = this.#effective
    this.#pendingCalls.set(callId, contextId)
    const timeout = call.timeoutMs > 0 ? call.timeoutMs : 5_000
    const answer = Promise.race([
      dispatch(call),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('http call timed out')), timeout)),
    ])
    answer.then(
      (response) => this.#deliverCall(callId, contextId, response),
      (error: unknown) => {
        this.logger.warn({ upstream: call.upstream, err: String(error) }, 'filter http call failed')
        this.#deliverCall(callId, contextId, undefined)
      },
    )
    return { callId }
  }

  #deliverCall(callId: number, contextId: number, response: FilterHttpCallResponse | undefined): void {
    if (!this.#pendingCalls.delete(callId) || this.broken) return
    const isStream = contextId !== this.rootContextId
    if (isStream && !this.#streams.has(contextId)) return
    const headers = response?.headers ?? []
    const statusHeader = headers.find(([k]) => k === ':status')
    this.#callStatus = { code: statusHeader ? Number(statusHeader[1]) : 0, message: '' }
    this.#callbackMaps.set(MapType.HTTP_CALL_RESPONSE_HEADERS, headers)
    this.#callbackMaps.set(MapType.HTTP_CALL_RESPONSE_TRAILERS, response?.trailers ?? [])
    const body = response?.body ?? new Uint8Array(0)
    this.#callbackBuffers.set(BufferType.HTTP_CALL_RESPONSE_BODY, body)
    try {
      this.#inContext(contextId, () =>
        this.#call('proxy_on_http_call_response', contextId, callId, headers.length, body.length,
          response?.trailers?.length ?? 0))
    } catch (error) {
      this.broken = error
      this.#streams.get(contextId)?.wake({ error })
      this.#options.onAsyncTrap(error)
    } finally {
      this.#callbackMaps.clear()
      this.#callbackBuffers.clear()
    }
  }

  // Deferred foreign functions (seam for weft.verify_jwt, see proxy-imports.ts ForeignCall): answered like an
  // HTTP call, through proxy_on_foreign_function on the context that made the call.
  deferForeignFunction(answer: Promise<Uint8Array>): number {
    const id = this.#nextCallId++
    const contextId = this.#effective
    this.#pendingCalls.set(id, contextId)
    answer.then(
      (data) => this.#deliverForeign(id, contextId, data),
      (error: unknown) => {
        if (!this.#pendingCalls.delete(id)) return
        this.#streams.get(contextId)?.wake({ error })
      },
    )
    return id
  }

  #deliverForeign(id: number, contextId: number, data: Uint8Array): void {
    if (!this.#pendingCalls.delete(id) || this.broken) return
    if (contextId !== this.rootContextId && !this.#streams.has(contextId)) return
    this.#callbackBuffers.set(BufferType.FOREIGN_FUNCTION_ARGUMENTS, data)
    try {
      this.#inContext(contextId, () => this.#call('proxy_on_foreign_function', contextId, id, data.length))
    } catch (error) {
      this.broken = error
      this.#streams.get(contextId)?.wake({ error })
      this.#options.onAsyncTrap(error)
    } finally {
      this.#callbackBuffers.clear()
      }
    }

  onQueueReady(queueId: number): void {
    if (this.broken !== undefined) return
    try {
      this.#inContext(this.rootContextId, () => this.#call('proxy_on_queue_ready', this.rootContextId, queueId))
    } catch (error) {
      this.broken = error
      this.#options.onAsyncTrap(error)
    }
  }

  /** Streams still open in this VM, so a host can fail them when the VM is replaced. */
  openStreams(): Iterable<StreamState> {
    return this.#streams.values()
  }
}

/**
 * Checks every import the module declares against what the host provides, reporting all missing ones at once.
 * @throws UnknownImportError naming each missing import as `module.name`.
 */
export function linkImports(
  module: WebAssembly.Module,
  provided: Record<string, Record<string, unknown>>,
): WebAssembly.Imports {
  const missing: string[] = []
  const imports: Record<string, Record<string, WebAssembly.ImportValue>> = {}
  for (const { module: mod, name, kind } of WebAssembly.Module.imports(module)) {
    const value = provided[mod]?.[name]
    if (kind !== 'function' || typeof value !== 'function') {
      missing.push(`${mod}.${name}${kind === 'function' ? '' : ` (${kind})`}`)
      continue
    }
    imports[mod] ??= {}
    imports[mod][name] = value as WebAssembly.ImportValue
  }
  if (missing.length > 0) throw new UnknownImportError(missing)
  return imports
}

export const DEFAULT_LOG_LEVEL = LogLevel.INFO
