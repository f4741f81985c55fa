import type { Snapshot } from '../../../mesh/src/snapshot/types'
import {
  createFilterHost,
  FilterMetrics,
  HeaderList,
  SharedData,
  SharedQueues,
  type BodyResult,
  type FilterHost,
  type FilterHostStats,
  type FilterStream,
  type FilterHttpCall,
  type FilterHttpCallResponse,
  type ForeignFunction,
  type RequestProperties,
  type RespondResult,
} from '../wasm/index'
import type { ProxyLogger } from './proxy-deps'

export type Chain = NonNullable<Snapshot['inbound']['filterChain']>
type Attachment = Chain['filters'][number]
type Loaded = { filter: string; failurePolicy: 'open' | 'closed'; host: FilterHost | null; error: string | null }

/** A filter answered the request itself (a local response) or failed closed; the proxy sends this instead. */
export type ChainRefusal = {
  action: 'respond'
  status: number
  headers: Headers
  body: Uint8Array
  filter: string
  /** The filter failed (trap, runaway, load error) rather than answering on purpose. */
  failure: boolean
  detail: string
}

export type FilterChainOptions = {
  modules: ((sha256: string) => Promise<WebAssembly.Module>) | undefined
  logger: ProxyLogger
  now: () => number
  /** `proxy_call_foreign_function` targets, e.g. `weft.verify_jwt` (see FilterHostOptions.foreignFunctions). */
  foreignFunctions?: Record<string, ForeignFunction>
  /** `proxy_http_call` targets are mesh services: the core passes its outbound handler (Route, identity, retries). */
  outbound?: (request: Request, destination: string) => Promise<Response>
}

/** A filter's counters across the hosts it has had (swaps keep the old ones' counts). */
export type FilterStats = FilterHostStats & { runaways: number }

export type RequestFacts = { method: string; path: string; authority: string; sourcePrincipal: string | null; destinationService: string }

const EMPTY = new Uint8Array(0)
// A filter whose blob could not be fetched or compiled fails its requests by policy; its load is retried this often.
const RETRY_FAILED_LOAD_MS = 5_000

/**
 * Runs a service's FilterChain after the core policies. Hosts are keyed by what the attachment loads (digest,
 * config, failure policy), so a snapshot that changes something else keeps the running VMs and their state; a
 * chain that names a new digest is built beside the old one and swapped in once every filter is loaded:
 * requests keep using the old chain meanwhile, and requests already under way finish on the chain they began
 * with (each holds its own streams). Shared data, queues and metrics belong to the runner, so they outlive
 * swaps and re-instantiations, and the proxy exports the metrics (`metrics`).
 */
export class FilterChainRunner {
  readonly metrics = new FilterMetrics()
  readonly sharedData = new SharedData()
  readonly sharedQueues = new SharedQueues()
  private readonly hosts = new Map<string, Promise<Loaded>>()
  private readonly loading = new Map<string, Promise<Loaded[]>>()
  /** The chain in use; `incomplete` when a filter failed to load (retried every RETRY_FAILED_LOAD_MS). */
  private ready: { key: string; loaded: Loaded[]; at: number; incomplete: boolean } | null = null
  /** The chain the newest snapshot asks for; an older chain that finishes loading late is not swapped in. */
  private wanted: string | null = null
  private readonly lastTick = new WeakMap<FilterHost, number>()
  /** Failure counts of hosts swapped out, by filter, so exported counters never go down. */
  private readonly retired = new Map<string, FilterStats>()

  constructor(private readonly options: FilterChainOptions) {}

  /** Set once by the core, which creates its outbound handler after the runner. */
  useOutbound(outbound: (request: Request, destination: string) => Promise<Response>): void {
    this.options.outbound = outbound
  }

  /** One request through the chain: request phase in order, response phase in reverse. */
  async start(chain: Chain, facts: RequestFacts): Promise<FilterChainRun> {
    const loaded = await this.resolve(chain)
    this.tick(loaded)
    return new FilterChainRun(loaded, facts, this.options.logger)
  }

  /**
   * Loads a chain ahead of its first request: the sidecar calls it when a snapshot arrives, so a new digest is
   * fetched, verified and compiled before traffic needs it. Never rejects (a failed load fails by policy).
   */
  async prepare(chain: Chain | null): Promise<void> {
    if (chain !== null && chain.filters.length > 0) await this.loadChain(chain)
  }

  /** The loaded chain to run: the new one when it is ready, the previous one while the new one warms up. */
  private async resolve(chain: Chain): Promise<Loaded[]> {
    const ready = this.ready
    const loading = this.loadChain(chain)
    if (Array.isArray(loading)) return loading
    if (ready !== null && ready.loaded.length > 0) {
      // Warming: the previous chain serves until the new one is loaded (a registry fetch and compile can take a
      // while); a fresh proxy has nothing to fall back on. One timer turn lets an already-compiled module win.
      let timer: ReturnType<typeof setTimeout> | undefined
      const settled = await Promise.race([loading, new Promise<null>((r) => (timer = setTimeout(() => r(null), 0)))])
      clearTimeout(timer)
      return settled ?? ready.loaded
    }
    return loading
  }

  /** The chain when it is in use already, else its loading (started here unless under way). */
  private loadChain(chain: Chain): Loaded[] | Promise<Loaded[]> {
    const key = chainKey(chain)
    const ready = this.ready
    if (ready?.key === key && !(ready.incomplete && this.options.now() - ready.at >= RETRY_FAILED_LOAD_MS)) return ready.loaded
    this.wanted = key
    let loading = this.loading.get(key)
    if (!loading) {
      // Hosts that loaded are reused from `hosts`; a failed load was dropped there, so this retries it.
      const started = Promise.all(chain.filters.map((f) => this.host(f)))
      loading = started
      this.loading.set(key, started)
      void started.then((loaded) => {
        this.loading.delete(key)
        if (this.wanted !== key) return
        this.ready = { key, loaded, at: this.options.now(), incomplete: loaded.some((l) => l.host === null) }
        this.forgetUnused(loaded)
      })
    }
    return loading
  }

  /** Drops hosts no chain in use refers to, so an old digest's VM can be collected once its requests end. */
  private forgetUnused(inUse: Loaded[]): void {
    const keep = new Set(inUse)
    for (const [key, host] of this.hosts) {
      void host.then((h) => {
        if (keep.has(h) || this.hosts.get(key) !== host) return
        this.hosts.delete(key)
        if (h.host) this.retired.set(h.filter, addStats(this.retired.get(h.filter), h.host))
      })
    }
  }

  /** Per filter: requests, failures (traps, runaways, exits) and VM re-instantiations, for `/metrics`. */
  stats(): Map<string, FilterStats> {
    const out = new Map<string, FilterStats>()
    for (const [filter, stats] of this.retired) out.set(filter, { ...stats })
    for (const { host, filter } of this.ready?.loaded ?? []) if (host) out.set(filter, addStats(out.get(filter), host))
    return out
  }

  private host(f: Attachment): Promise<Loaded> {
    const key = attachmentKey(f)
    let loaded = this.hosts.get(key)
    if (!loaded) {
      loaded = this.load(f)
      this.hosts.set(key, loaded)
      // A failed load is retried with the next snapshot that names it rather than cached forever.
      void loaded.then((l) => {
        if (l.host === null && this.hosts.get(key) === loaded) this.hosts.delete(key)
      })
    }
    return loaded
  }

  private async load(f: Attachment): Promise<Loaded> {
    const { logger } = this.options
    try {
      if (!this.options.modules) throw new Error('this proxy cannot load filter modules')
      const module = await this.options.modules(f.sha256)
      const host = createFilterHost({
        module,
        rootId: f.filter,
        config: f.config === null || f.config === undefined ? '' : JSON.stringify(f.config),
        failurePolicy: f.failurePolicy,
        now: this.options.now,
        sharedData: this.sharedData,
        sharedQueues: this.sharedQueues,
        metrics: this.metrics,
        ...(this.options.foreignFunctions ? { foreignFunctions: this.options.foreignFunctions } : {}),
        ...(this.options.outbound ? { httpCall: meshHttpCall(this.options.outbound) } : {}),
        logger: {
          trace: (o, m) => logger.debug({ filter: f.filter, ...o }, m),
          debug: (o, m) => logger.debug({ filter: f.filter, ...o }, m),
          info: (o, m) => logger.info({ filter: f.filter, ...o }, m),
          warn: (o, m) => logger.warn({ filter: f.filter, ...o }, m),
          error: (o, m) => logger.error({ filter: f.filter, ...o }, m),
        },
      })
      logger.info({ filter: f.filter, sha256: f.sha256, abi: host.abi }, 'filter loaded')
      return { filter: f.filter, failurePolicy: f.failurePolicy, host, error: null }
    } catch (err) {
      logger.error({ filter: f.filter, sha256: f.sha256, err: String(err) }, 'filter failed to load')
      return { filter: f.filter, failurePolicy: f.failurePolicy, host: null, error: String(err) }
    }
  }

  /**
   * Ticks are driven by traffic: before a request, every filter whose tick period has passed gets its
   * `proxy_on_tick`. The same code works in a Worker, which has no timers between requests.
   */
  private tick(loaded: Loaded[]): void {
    const now = this.options.now()
    for (const { host } of loaded) {
      if (!host || host.tickPeriodMs <= 0) continue
      const last = this.lastTick.get(host)
      if (last === undefined) this.lastTick.set(host, now)
      else if (now - last >= host.tickPeriodMs) {
        this.lastTick.set(host, now)
        host.tick()
      }
    }
  }
}

/**
 * One request's pass through a chain. The request phase runs the filters in order, the response phase in
 * reverse (like Envoy's decoder and encoder chains). Bodies stream through the filters chunk by chunk; a filter
 * that returns Pause before the end of a body has it buffered for it until it continues (buffering on demand).
 * `finish()` (proxy_on_done/on_log/on_delete) runs once the response body has been sent, or at once otherwise.
 */
export class FilterChainRun {
  private readonly streams: Array<{ loaded: Loaded; stream: FilterStream }> = []
  private finished = false
  /** Set when a filter refused during the request body: the proxy answers with it instead of the app's response. */
  refusal: ChainRefusal | null = null
  private properties: RequestProperties | undefined

  constructor(
    private readonly loaded: Loaded[],
    private readonly facts: RequestFacts,
    private readonly logger: ProxyLogger,
  ) {}

  /** The request's properties, one object for every filter of the chain (hosts only read it). */
  private requestProperties(): RequestProperties {
    const { facts } = this
    return (this.properties ??= {
      method: facts.method,
      path: facts.path,
      authority: facts.authority,
      ...(facts.sourcePrincipal ? { sourcePrincipal: facts.sourcePrincipal } : {}),
      destinationService: facts.destinationService,
    })
  }

  async onRequestHeaders(headers: Headers, endOfStream: boolean): Promise<{ action: 'continue'; headers: Headers } | ChainRefusal> {
    // Filters hand their maps on as a HeaderList (ContinueResult.list); one Headers is built at the end, if any ran.
    let current: Headers | HeaderList = headers
    let last: { headers: Headers } | null = null
    for (const f of this.loaded) {
      if (!f.host) {
        if (f.failurePolicy === 'open') continue
        return { action: 'respond', status: 503, headers: new Headers(), body: EMPTY, filter: f.filter, failure: true, detail: `filter ${f.filter} could not load: ${f.error}` }
      }
      const stream = f.host.startStream(this.requestProperties())
      this.streams.push({ loaded: f, stream })
      // A filter that does not pause answers at once: no promise (and no microtask) per filter.
      let result = stream.onRequestHeadersNow(current, { endOfStream })
      if (result instanceof Promise) result = await result
      if (result.action === 'respond') return refusalOf(f.filter, result)
      current = result.list
      last = result
    }
    return { action: 'continue', headers: last === null ? headers : last.headers }
  }

  /** The request body as the filters leave it; a refusal errors the stream and is kept in `refusal`. */
  requestBody(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
    return this.pipeBody(body, this.streams, (s, bytes, eos) => s.onRequestBody(bytes, { endOfStream: eos }), 'request')
  }

  /**
   * Response headers through the filters in reverse; a local response replaces the app's. The body is piped
   * through the filters' response-body callbacks, and the streams finish when it ends.
   */
  async onResponse(response: Response): Promise<{ action: 'continue'; response: Response } | ChainRefusal> {
    const reversed = [...this.streams].reverse()
    let current: Headers | HeaderList = response.headers
    let last: { headers: Headers } | null = null
    let status = response.status
    for (const { loaded, stream } of reversed) {
      let result = stream.onResponseHeadersNow(current, { status, endOfStream: response.body === null })
      if (result instanceof Promise) result = await result
      if (result.action === 'respond') {
        await response.body?.cancel().catch(() => {})
        return refusalOf(loaded.filter, result)
      }
      current = result.list
      last = result
      const changed = Number(result.pseudoHeaders[':status'])
      if (Number.isInteger(changed) && changed >= 200 && changed <= 599) status = changed
    }
    const headers = last === null ? response.headers : last.headers
    if (response.body === null) {
      this.finish()
      return { action: 'continue', response: new Response(null, { status, statusText: response.statusText, headers }) }
    }
    // Filters may change the body's length; the response is sent chunked.
    headers.delete('content-length')
    const body = this.pipeBody(response.body, reversed, (s, bytes, eos) => s.onResponseBody(bytes, { endOfStream: eos }), 'response')
    return { action: 'continue', response: new Response(body, { status, statusText: response.statusText, headers }) }
  }

  /** proxy_on_done/on_log/on_delete for every filter the request reached; runs once. */
  finish(): void {
    if (this.finished) return
    this.finished = true
    for (const { stream } of this.streams) stream.finish()
  }

  private pipeBody(
    source: ReadableStream<Uint8Array>,
    order: Array<{ loaded: Loaded; stream: FilterStream }>,
    call: (stream: FilterStream, bytes: Uint8Array, endOfStream: boolean) => Promise<BodyResult>,
    phase: 'request' | 'response',
  ): ReadableStream<Uint8Array> {
    const held: Uint8Array[] = order.map(() => EMPTY)
    const run = this
    /** One chunk through the filters in `order`; returns what comes out of the last one. */
    async function through(bytes: Uint8Array, endOfStream: boolean): Promise<Uint8Array> {
      let chunk = bytes
      for (let i = 0; i < order.length; i++) {
        const { loaded, stream } = order[i]!
        const input = held[i]!.length === 0 ? chunk : concat(held[i]!, chunk)
        if (input.length === 0 && !endOfStream) return EMPTY
        const result = await call(stream, input, endOfStream)
        if (result.action === 'respond') throw run.refuse(loaded.filter, result, phase)
        if (result.buffering) {
          held[i] = result.body
          return EMPTY
        }
        held[i] = EMPTY
        chunk = result.body
      }
      return chunk
    }
    // The response's streams end with its body: sent, failed or cancelled by a client that went away.
    const end = (): void => {
      if (phase === 'response') run.finish()
    }
    const reader = source.getReader()
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          for (;;) {
            const next = await reader.read()
            const out = await through(next.done ? EMPTY : next.value, next.done)
            if (out.length > 0) controller.enqueue(out)
            if (next.done) {
              controller.close()
              end()
              return
            }
            if (out.length > 0) return
          }
        } catch (err) {
          end()
          controller.error(err)
          reader.cancel(err).catch(() => {})
        }
      },
      cancel(reason) {
        end()
        return reader.cancel(reason)
      },
    })
  }

  private refuse(filter: string, result: RespondResult, phase: 'request' | 'response'): Error {
    const refusal = refusalOf(filter, result)
    if (phase === 'request') this.refusal ??= refusal
    else {
      // The response headers are already on their way: all that can be done is to cut the body short.
      this.logger.warn({ filter, status: result.status, detail: refusal.detail }, 'a filter refused during the response body; the response was cut short')
      this.finish()
    }
    return new Error(refusal.detail)
  }
}

function refusalOf(filter: string, result: RespondResult): ChainRefusal {
  return {
    action: 'respond',
    status: result.status,
    headers: result.headers,
    body: result.body,
    filter,
    failure: result.failure !== undefined,
    detail: result.failure ? `filter ${filter} failed: ${result.failure.error}` : `filter ${filter} answered: ${result.details || result.status}`,
  }
}

/**
 * A filter's `proxy_http_call` as a mesh call: `upstream` names the service, the pseudo-headers give method, path
 * and authority, and the answer comes back as pairs with `:status` first, the body as bytes.
 */
function meshHttpCall(outbound: (request: Request, destination: string) => Promise<Response>) {
  return async (call: FilterHttpCall): Promise<FilterHttpCallResponse> => {
    const pseudo = new Map(call.headers.filter(([k]) => k.startsWith(':')))
    const headers = new Headers()
    for (const [k, v] of call.headers) if (!k.startsWith(':')) headers.append(k, v)
    const method = pseudo.get(':method') ?? 'GET'
    const path = pseudo.get(':path') ?? '/'
    const init: RequestInit = { method, headers, signal: AbortSignal.timeout(call.timeoutMs > 0 ? call.timeoutMs : 5_000) }
    if (call.body.length > 0 && method !== 'GET' && method !== 'HEAD') init.body = call.body as Uint8Array<ArrayBuffer>
    const response = await outbound(new Request(`http://${call.upstream}${path.startsWith('/') ? path : `/${path}`}`, init), call.upstream)
    const body = new Uint8Array(await response.arrayBuffer())
    return { headers: [[':status', String(response.status)], ...response.headers.entries()], body }
  }
}

function addStats(a: FilterStats | undefined, host: FilterHost): FilterStats {
  const b = host.stats
  if (!a) return { ...b, runaways: host.runaways }
  return { requests: a.requests + b.requests, failures: a.failures + b.failures, reinstantiations: a.reinstantiations + b.reinstantiations, runaways: a.runaways + host.runaways }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (b.length === 0) return a
  const out = new Uint8Array(a.length + b.length)
  out.set(a)
  out.set(b, a.length)
  return out
}

function attachmentKey(f: Attachment): string {
  return JSON.stringify([f.filter, f.sha256, f.config ?? null, f.failurePolicy])
}

const chainKeys = new WeakMap<Chain, string>()

/** Computed once per chain object: snapshots are immutable and requests ask per request. */
function chainKey(chain: Chain): string {
  let key = chainKeys.get(chain)
  if (key === undefined) {
    key = chain.filters.map(attachmentKey).join('\n')
    chainKeys.set(chain, key)
  }
  return key
}
