import { Action, BufferType, MapType } from './abi'
import { silentLogger, type FilterLogger } from './filter-logger'
import { FilterMetrics } from './filter-metrics'
import { weftForeignFunctions } from './foreign-functions'
import { DEFAULT_LOG_LEVEL, FilterVm, type StreamState, type StreamWake } from './filter-vm'
import { HeaderList, normalizeAsHeaders, normalizeHeaderName, type HeaderPairs } from './header-map'
import { HeaderFields } from '../core/header-fields'
import type { FilterHttpCall, FilterHttpCallResponse, ForeignFunction, LocalResponse } from './proxy-imports'
import type { RequestProperties } from './request-properties'
import { SharedData, SharedQueues } from './shared-data'
import { FilterHostError, FilterLoadError, FilterRunawayError } from './wasm-errors'

/** What to do with a request when the filter fails (trap, abort, bad ABI use, pause past its deadline). */
export type FailurePolicy = 'closed' | 'open'

export type FilterHostOptions = {
  /** Compiled module: `new WebAssembly.Module(bytes)` on Node, the bundled CompiledWasm import on Workers. */
  module: WebAssembly.Module
  /** Plugin configuration handed to `proxy_on_configure` (a JSON string for Weft's filters). */
  config?: string | Uint8Array
  vmConfig?: string | Uint8Array
  /** `plugin_root_id`; also names the filter in logs and failure responses. */
  rootId: string
  logger?: FilterLogger
  /** Wall clock in ms since the epoch. */
  now?: () => number
  /** Default `closed`: a filter that cannot run denies the request (auth); telemetry attachments pass `open`. */
  failurePolicy?: FailurePolicy
  /** Minimum proxy-wasm log level forwarded to the logger (0 trace … 5 critical). */
  logLevel?: number
  /** How long a paused stream may wait for `proxy_continue_stream` or a local response. */
  pauseTimeoutMs?: number
  /** Shared between every filter of a proxy, like Envoy's per-VM-id store; a fresh one per host otherwise. */
  sharedData?: SharedData
  sharedQueues?: SharedQueues
  metrics?: FilterMetrics
  foreignFunctions?: Record<string, ForeignFunction>
  /**
   * Per-call budget of a metered module (meterWasm): function entries plus loop iterations. A call that uses it
   * up traps and fails per failurePolicy. Default: the budget meterWasm baked in (DEFAULT_FUEL, about 0.1 s of a
   * tight loop, unless the build chose another).
   */
  fuel?: number
  httpCall?: (call: FilterHttpCall) => Promise<FilterHttpCallResponse>
}

/** The request carries on, with the headers as the filter left them. */
export type ContinueResult = {
  action: 'continue'
  /** The headers as fetch Headers (built on first use). */
  headers: Headers
  /**
   * The same headers as pairs, exactly as `headers.entries()` would list them (`list.pairs`): pass `list` to the
   * next filter's onRequestHeaders/onResponseHeaders to skip building a Headers between filters.
   */
  list: HeaderList
  /** `:method`, `:path`, `:authority`, `:scheme` (request) or `:status` (response) as the filter left them. */
  pseudoHeaders: Record<string, string>
  /** Present when the filter failed and the failure policy is `open`. */
  failure?: FilterFailure
}

/** The proxy answers with this response instead of forwarding (a local response, or a fail-closed failure). */
export type RespondResult = {
  action: 'respond'
  status: number
  headers: Headers
  body: Uint8Array
  /** proxy_send_local_response's details, or the failure reason. */
  details: string
  failure?: FilterFailure
}

export type FilterResult = ContinueResult | RespondResult

/**
 * A body callback's result. `buffering`: the filter returned Pause before the end of the stream, which for a body
 * means "hold this data and call me again with more" (Envoy's StopIterationAndBuffer): the caller keeps `body`
 * (as the filter left it) and passes nothing on yet. On a fail-open failure `body` is the body as it arrived.
 */
export type BodyResult = (ContinueResult & { body: Uint8Array; buffering: boolean }) | RespondResult

export type FilterFailure = { filter: string; error: string; policy: FailurePolicy }

export type FilterHostStats = {
  requests: number
  /** Traps, aborts, exits and other guest failures during a request. */
  failures: number
  /** VMs created after the first (one per failure that broke the VM). */
  reinstantiations: number
}

/** One request through one filter: the proxy-wasm stream context, from request headers to done. */
export interface FilterStream {
  onRequestHeaders(headers: HeadersInit | HeaderList, options?: { endOfStream?: boolean }): Promise<FilterResult>
  /**
   * onRequestHeaders without a promise when the filter did not pause: the result itself, or a promise of it when
   * the filter paused (waiting for an HTTP call, say). A chain of filters that all continue at once then runs
   * without a microtask per filter.
   */
  onRequestHeadersNow(headers: HeadersInit | HeaderList, options?: { endOfStream?: boolean }): FilterResult | Promise<FilterResult>
  onRequestBody(body: Uint8Array, options?: { endOfStream?: boolean }): Promise<BodyResult>
  onResponseHeaders(headers: HeadersInit | HeaderList, options: { status: number; endOfStream?: boolean }): Promise<FilterResult>
  /** onResponseHeaders without a promise unless the filter paused (onRequestHeadersNow). */
  onResponseHeadersNow(headers: HeadersInit | HeaderList, options: { status: number; endOfStream?: boolean }): FilterResult | Promise<FilterResult>
  onResponseBody(body: Uint8Array, options?: { endOfStream?: boolean }): Promise<BodyResult>
  /** proxy_on_done/on_log/on_delete; call once the response is sent (also after a respond result). */
  finish(): void
}

export interface FilterHost {
  readonly rootId: string
  readonly abi: '0.2.0' | '0.2.1'
  /** Built with meterWasm: runaway calls trap instead of hanging the proxy. */
  readonly metered: boolean
  readonly failurePolicy: FailurePolicy
  readonly stats: Readonly<FilterHostStats>
  /** Failures that were calls running past their fuel budget (counted in `stats.failures` too). */
  readonly runaways: number
  readonly metrics: FilterMetrics
  readonly sharedData: SharedData
  /** Starts one request's stream context. Never throws. */
  startStream(request: RequestProperties): FilterStream
  /** The period the filter asked for with proxy_set_tick_period_milliseconds (0: no ticks). */
  readonly tickPeriodMs: number
  /** Runs proxy_on_tick; the runtime adapter calls it every tickPeriodMs. Never throws. */
  tick(): void
}

// A filter that pauses waits for an HTTP call at most; 10 s is above the default call timeout (5 s).
const DEFAULT_PAUSE_TIMEOUT_MS = 10_000
const utf8 = new TextEncoder()
const toBytes = (v: string | Uint8Array | undefined): Uint8Array =>
  v === undefined ? new Uint8Array(0) : typeof v === 'string' ? utf8.encode(v) : v

/**
 * Loads a proxy-wasm filter and returns a host the proxy core calls per request. Loading errors (unknown
 * imports, not proxy-wasm, configuration rejected) throw here, at attach time; after that nothing throws: a
 * guest failure is counted, logged, turned into a result by `failurePolicy`, and the VM is re-instantiated.
 * @throws UnknownImportError, FilterLoadError, FilterConfigError
 * @example
 * const host = createFilterHost({ module, rootId: 'add-header', config: '{"name":"x-a","value":"1"}' })
 * const stream = host.startStream({ method: 'GET', path: '/' })
 * const result = await stream.onRequestHeaders(request.headers)
 * stream.finish()
 */
export function createFilterHost(options: FilterHostOptions): FilterHost {
  const logger = options.logger ?? silentLogger
  const failurePolicy = options.failurePolicy ?? 'closed'
  const pauseTimeoutMs = options.pauseTimeoutMs ?? DEFAULT_PAUSE_TIMEOUT_MS
  const stats: FilterHostStats = { requests: 0, failures: 0, reinstantiations: 0 }
  let runaways = 0
  const sharedData = options.sharedData ?? new SharedData()
  const queues = options.sharedQueues ?? new SharedQueues()
  const metrics = options.metrics ?? new FilterMetrics()
  // Weft's own foreign functions (weft.verify_jwt) unless the proxy passes its set (filters work; see
  // foreign-functions.ts — the lead reconciles this default with the wasmhost registry).
  const foreignFunctions = new Map(Object.entries(options.foreignFunctions ?? weftForeignFunctions()))

  const newVm = (): FilterVm =>
    new FilterVm({
      module: options.module,
      rootId: options.rootId,
      config: toBytes(options.config),
      vmConfig: toBytes(options.vmConfig),
      logger,
      now: options.now ?? Date.now,
      logLevel: options.logLevel ?? DEFAULT_LOG_LEVEL,
      sharedData,
      queues,
      metrics,
      foreignFunctions,
      ...(options.fuel !== undefined ? { fuel: options.fuel } : {}),
      httpCall: options.httpCall,
      onAsyncTrap: (error) => recordFailure(error, 'async callback'),
    })

  let vm: FilterVm | undefined
  try {
    vm = newVm()
  } catch (error) {
    // A trap while starting (in _initialize or proxy_on_configure) is a load failure like any other.
    if (error instanceof FilterHostError) throw error
    throw new FilterLoadError(`filter ${options.rootId} failed to start: ${describe(error)}`, { cause: error })
  }
  const abi = vm.abi
  const metered = vm.metered
  if (!metered) logger.warn({ filter: options.rootId }, 'filter module is not metered (meterWasm): a call that never ends would hang the proxy')

  function recordFailure(error: unknown, during: string): FilterFailure {
    stats.failures += 1
    if (error instanceof FilterRunawayError) runaways += 1
    const failure: FilterFailure = { filter: options.rootId, error: describe(error), policy: failurePolicy }
    logger.error({ filter: options.rootId, during, err: failure.error, failurePolicy }, 'filter failed')
    if (vm?.broken === undefined && vm) vm.broken = error
    return failure
  }

  /** The current VM, re-instantiated when the last one broke; undefined when even a fresh one fails to start. */
  function currentVm(): FilterVm | undefined {
    if (vm && vm.broken === undefined) return vm
    for (const stream of vm?.openStreams() ?? []) stream.wake({ error: new Error('filter VM replaced') })
    try {
      vm = newVm()
      stats.reinstantiations += 1
      return vm
    } catch (error) {
      vm = undefined
      recordFailure(error, 're-instantiation')
      return undefined
    }
  }

  const context: StreamHost = { rootId: options.rootId, failurePolicy, pauseTimeoutMs, recordFailure }

  function startStream(request: RequestProperties): FilterStream {
    stats.requests += 1
    const owner = currentVm()
    let stream: StreamState | undefined
    let startError: unknown
    if (owner) {
      try {
        stream = owner.createStream(request)
      } catch (error) {
        startError = error
        owner.broken = error
      }
    } else {
      startError = new Error('filter VM unavailable')
    }
    const failed = startError === undefined ? undefined : recordFailure(startError, 'context create')
    return new HostStream(context, request, owner, stream, failed)
  }

  return {
    rootId: options.rootId,
    abi,
    metered,
    failurePolicy,
    get stats() {
      return { ...stats }
    },
    get runaways() {
      return runaways
    },
    metrics,
    sharedData,
    startStream,
    get tickPeriodMs() {
      return vm?.tickPeriodMs ?? 0
    },
    tick() {
      const owner = currentVm()
      if (!owner) return
      try {
        owner.tick()
      } catch (error) {
        recordFailure(error, 'tick')
      }
    },
  }
}

/** What a stream needs from its host. */
type StreamHost = {
  rootId: string
  failurePolicy: FailurePolicy
  pauseTimeoutMs: number
  recordFailure(error: unknown, during: string): FilterFailure
}

/** Which callback #run makes; its arguments are the stream's fields (no closure per call). */
const enum Phase {
  RequestHeaders,
  RequestBody,
  ResponseHeaders,
  ResponseBody,
}
type RunResult = FilterResult & { buffering?: boolean }

// The maps of a phase that has not run yet: never edited (the host replaces maps), so one serves every stream.
const NO_PAIRS: HeaderPairs = []

/**
 * One request's stream context through one filter. A class rather than closures per request: a stream is made
 * for every filter of every request, and its methods need no per-request allocation.
 */
class HostStream implements FilterStream {
  #requestHeaders: HeaderPairs = NO_PAIRS
  #responseHeaders: HeaderPairs = NO_PAIRS
  /** The headers as they arrived, when already normal: passed on as they are when the filter leaves them. */
  #requestIn: HeaderList | undefined
  #responseIn: HeaderList | undefined
  /** The arguments of the callback #run makes next. */
  #endOfStream = false
  #status = 0
  #body: Uint8Array | undefined

  constructor(
    private readonly host: StreamHost,
    private readonly request: RequestProperties,
    private readonly owner: FilterVm | undefined,
    private readonly stream: StreamState | undefined,
    private failed: FilterFailure | undefined,
  ) {}

  onRequestHeaders(headers: HeadersInit | HeaderList, opts?: { endOfStream?: boolean }): Promise<FilterResult> {
    return Promise.resolve(this.onRequestHeadersNow(headers, opts))
  }

  onRequestHeadersNow(headers: HeadersInit | HeaderList, opts?: { endOfStream?: boolean }): FilterResult | Promise<FilterResult> {
    const list = listOf(headers)
    const pairs = list instanceof HeaderList ? list.pairs : list
    const request = this.request
    let authority = request.authority
    if (authority === undefined) {
      authority = ''
      for (const [k, v] of pairs) if (k === 'host') { authority = v; break }
    }
    this.#requestIn = list instanceof HeaderList ? list : undefined
    const pseudo = pseudoHeaders(request, authority)
    const map: HeaderPairs = [pseudo[0]!, pseudo[1]!, pseudo[2]!, pseudo[3]!]
    for (let i = 0; i < pairs.length; i++) map.push(pairs[i]!)
    this.#requestHeaders = map
    this.#endOfStream = opts?.endOfStream ?? false
    return this.#run('request headers', Phase.RequestHeaders, MapType.HTTP_REQUEST_HEADERS, map)
  }

  onRequestBody(body: Uint8Array, opts?: { endOfStream?: boolean }): Promise<BodyResult> {
    return this.#runBody('request body', BufferType.HTTP_REQUEST_BODY, body, opts?.endOfStream ?? true, Phase.RequestBody,
      MapType.HTTP_REQUEST_HEADERS, this.#requestHeaders)
  }

  onResponseHeaders(headers: HeadersInit | HeaderList, opts: { status: number; endOfStream?: boolean }): Promise<FilterResult> {
    return Promise.resolve(this.onResponseHeadersNow(headers, opts))
  }

  onResponseHeadersNow(headers: HeadersInit | HeaderList, opts: { status: number; endOfStream?: boolean }): FilterResult | Promise<FilterResult> {
    const list = listOf(headers)
    const pairs = list instanceof HeaderList ? list.pairs : list
    this.#responseIn = list instanceof HeaderList ? list : undefined
    const map: HeaderPairs = [[':status', String(opts.status)]]
    for (const pair of pairs) map.push(pair)
    this.#responseHeaders = map
    this.#endOfStream = opts.endOfStream ?? false
    this.#status = opts.status
    return this.#run('response headers', Phase.ResponseHeaders, MapType.HTTP_RESPONSE_HEADERS, map)
  }

  onResponseBody(body: Uint8Array, opts?: { endOfStream?: boolean }): Promise<BodyResult> {
    return this.#runBody('response body', BufferType.HTTP_RESPONSE_BODY, body, opts?.endOfStream ?? true, Phase.ResponseBody,
      MapType.HTTP_RESPONSE_HEADERS, this.#responseHeaders)
  }

  finish(): void {
    const { owner, stream } = this
    if (!owner || !stream || owner.broken !== undefined) return
    try {
      owner.finishStream(stream)
    } catch (error) {
      this.host.recordFailure(error, 'done')
    }
  }

  /** The headers as the filter left them; the incoming pairs themselves when the filter did not touch the map. */
  #pass(mapType: number, original: HeaderPairs): Continue {
    const pairs = this.stream?.maps.get(mapType) ?? original
    const isRequest = mapType === MapType.HTTP_REQUEST_HEADERS
    const untouched = pairs === (isRequest ? this.#requestHeaders : this.#responseHeaders)
    const incoming = isRequest ? this.#requestIn : this.#responseIn
    return continueResult(pairs, untouched ? incoming : undefined, incoming)
  }

  /**
   * Runs one callback and maps any failure through the policy: the result at once, or a promise of it when the
   * filter paused (#waitOut). With `pauseBuffers` (a body chunk before the end of the stream) a Pause returns at
   * once with `buffering` set instead of waiting.
   */
  #run(during: string, phase: Phase, mapType: number, original: HeaderPairs, pauseBuffers = false): RunResult | Promise<RunResult> {
    if (this.failed) return this.#failureResult(this.failed, original)
    const { owner, stream } = this
    if (!owner || !stream || owner.broken !== undefined) {
      this.failed = this.host.recordFailure(new Error('filter VM was replaced during the request'), during)
      return this.#failureResult(this.failed, original)
    }
    try {
      const action = this.#call(phase, owner, stream)
      if (stream.closed) throw new Error('filter closed the stream')
      if (!stream.localResponse && action === Action.PAUSE) {
        if (pauseBuffers && !stream.continued) {
          const result = this.#pass(mapType, original)
          result.buffering = true
          return result
        }
        return this.#waitOut(during, stream, mapType, original)
      }
      if (stream.localResponse) return localResult(stream.localResponse)
      return this.#pass(mapType, original)
    } catch (error) {
      this.failed = this.host.recordFailure(error, during)
      return this.#failureResult(this.failed, original)
    }
  }

  #call(phase: Phase, owner: FilterVm, stream: StreamState): number {
    switch (phase) {
      case Phase.RequestHeaders: return owner.onRequestHeaders(stream, this.#requestHeaders, this.#endOfStream)
      case Phase.RequestBody: return owner.onRequestBody(stream, this.#body!, this.#endOfStream)
      case Phase.ResponseHeaders: return owner.onResponseHeaders(stream, this.#responseHeaders, this.#status, this.#endOfStream)
      case Phase.ResponseBody: return owner.onResponseBody(stream, this.#body!, this.#endOfStream)
    }
  }

  /** The rest of #run for a filter that paused: waits for it to continue or answer, within the pause deadline. */
  async #waitOut(during: string, stream: StreamState, mapType: number, original: HeaderPairs): Promise<RunResult> {
    try {
      const wake = await withDeadline(stream.waitForWake(), this.host.pauseTimeoutMs)
      if (typeof wake === 'object') throw wake.error
      if (stream.localResponse) return localResult(stream.localResponse)
      return this.#pass(mapType, original)
    } catch (error) {
      this.failed = this.host.recordFailure(error, during)
      return this.#failureResult(this.failed, original)
    }
  }

  /** A body callback: the body as the filter left it, or as it arrived when the filter failed open. */
  async #runBody(during: string, bufferType: number, body: Uint8Array, endOfStream: boolean, phase: Phase, mapType: number,
    original: HeaderPairs): Promise<BodyResult> {
    this.#body = body
    this.#endOfStream = endOfStream
    const result = await this.#run(during, phase, mapType, original, !endOfStream)
    if (result.action === 'respond') return result
    const bodyResult = result as ContinueResult & { body: Uint8Array; buffering: boolean }
    bodyResult.body = result.failure ? body : (this.stream?.buffers.get(bufferType) ?? body)
    bodyResult.buffering = result.buffering === true
    return bodyResult
  }

  /** Failing open ignores the filter: the request goes on as it arrived, not as a failed filter left it. */
  #failureResult(failure: FilterFailure, original: HeaderPairs): FilterResult {
    if (this.host.failurePolicy === 'open') {
      const result = continueResult(original, undefined)
      result.failure = failure
      return result
    }
    const body = JSON.stringify({
      type: 'https://weft.dev/problems/proxy/filter-failure',
      title: 'A filter failed',
      status: 503,
      detail: `filter ${failure.filter} failed: ${failure.error}`,
      reason: 'filter-failure',
    })
    return {
      action: 'respond',
      status: 503,
      headers: new Headers({ 'content-type': 'application/problem+json', 'weft-reason': 'filter-failure' }),
      body: utf8.encode(body),
      details: 'filter-failure',
      failure,
    }
  }
}

// The last request's pseudo-header pairs: every filter of a chain starts its map with the same four, and pairs
// are never edited in place (the host replaces maps), so they can be shared.
let lastRequest: RequestProperties | undefined
let lastPseudo: HeaderPairs = []

function pseudoHeaders(request: RequestProperties, authority: string): HeaderPairs {
  const scheme = request.scheme ?? 'http'
  const last = lastPseudo
  if (request === lastRequest && last[0]![1] === request.method && last[1]![1] === request.path && last[2]![1] === authority
    && last[3]![1] === scheme) return last
  lastRequest = request
  lastPseudo = [[':method', request.method], [':path', request.path], [':authority', authority], [':scheme', scheme]]
  return lastPseudo
}

function localResult(local: LocalResponse): RespondResult {
  const headers = new Headers()
  for (const [k, v] of local.headers) if (!k.startsWith(':')) headers.append(k, v)
  return { action: 'respond', status: local.status, headers, body: local.body, details: local.details }
}

/** A filter's "continue" answer; the fetch Headers and the pseudo-headers are made only when someone asks. */
class Continue implements ContinueResult {
  readonly action = 'continue' as const
  failure?: FilterFailure = undefined
  body?: Uint8Array = undefined
  buffering?: boolean = undefined
  #headers: Headers | undefined = undefined
  #pseudoHeaders: Record<string, string> | undefined = undefined
  /** The ABI map the filter left (never changed in place: the host replaces maps). */
  readonly #map: HeaderPairs

  constructor(readonly list: HeaderList, map: HeaderPairs) {
    this.#map = map
  }

  get pseudoHeaders(): Record<string, string> {
    if (this.#pseudoHeaders === undefined) {
      const pseudoHeaders: Record<string, string> = {}
      for (const pair of this.#map) if (pair[0].charCodeAt(0) === 0x3a) pseudoHeaders[pair[0]] = pair[1]
      this.#pseudoHeaders = pseudoHeaders
    }
    return this.#pseudoHeaders
  }

  get headers(): Headers {
    if (this.#headers === undefined) {
      const headers = new Headers()
      const pairs = this.list.pairs
      for (let i = 0; i < pairs.length; i++) headers.append(pairs[i]![0], pairs[i]![1])
      this.#headers = headers
    }
    return this.#headers
  }
}

/**
 * Splits the ABI's pairs into the pseudo-headers and the rest, normalised as fetch Headers would hold them.
 * `known`: the non-pseudo part when it is known already (the map came back untouched). `incoming`: the list the
 * map was made from, whose pairs need no checking again (normalizeAsHeaders).
 * @throws TypeError on a name or value fetch Headers refuses.
 */
function continueResult(map: HeaderPairs, known: HeaderList | undefined, incoming?: HeaderList): Continue {
  if (known !== undefined) return new Continue(known, map)
  const plain: HeaderPairs = []
  for (const pair of map) if (pair[0].charCodeAt(0) !== 0x3a) plain.push(pair)
  return new Continue(normalizeAsHeaders(plain, incoming), map)
}

/** Pairs to build a map from, or the HeaderList they already are (a Headers' entries are one). */
function listOf(init: HeadersInit | HeaderList): HeaderList | HeaderPairs {
  if (init instanceof HeaderList) return init
  if (init instanceof Headers || init instanceof HeaderFields) return HeaderList.ofHeaders(init)
  if (Array.isArray(init)) return init.map(([k, v]) => [normalizeHeaderName(String(k)), String(v)])
  return Object.entries(init).map(([k, v]) => [normalizeHeaderName(k), v])
}

function withDeadline(wait: Promise<StreamWake>, ms: number): Promise<StreamWake> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const deadline = new Promise<StreamWake>((resolve) => {
    timer = setTimeout(() => resolve({ error: new Error(`filter paused for more than ${ms} ms`) }), ms)
  })
  return Promise.race([wait, deadline]).finally(() => clearTimeout(timer))
}

function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`
  return String(error)
}
