import type { Snapshot, SnapshotTracing } from '../../../mesh/src/snapshot/types'
import type { ProxyLogger } from './proxy-deps'
import type { Direction, ProxyMetrics } from './proxy-metrics'
import type { Counter } from './metrics-registry'
import { hopOf, isSampled, writeHop, type TraceContext } from './traceparent'

export type AttributeValue = string | number | boolean
export type Attributes = Record<string, AttributeValue>

/** One finished span, in plain data: the core knows no exporter format (see TraceExporter). */
export type FinishedSpan = {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId: string | null
  readonly traceState: string | null
  readonly name: string
  /** `server` for a request this proxy received from another proxy, `client` for one the local app sent out. */
  readonly kind: 'server' | 'client'
  readonly startMs: number
  readonly endMs: number
  readonly attributes: Attributes
  readonly events: readonly { readonly name: string; readonly timeMs: number; readonly attributes: Attributes }[]
  readonly error: boolean
}

/** Where a batch goes and who sent it: the tenant's collector, and the resource (service, tenant) of the spans. */
export type ExportTarget = SnapshotTracing & { readonly service: string; readonly tenant: string }

/**
 * The seam to an exporter: the Node sidecar wires the OpenTelemetry OTLP/HTTP exporter
 * (runtime/otel-trace-exporter.ts). Rejects when the collector did not take the batch.
 */
export type TraceExporter = {
  export(spans: readonly FinishedSpan[], target: ExportTarget): Promise<void>
  shutdown?(): Promise<void>
}

/** One access-log line: every request the proxy handles, with the reason of a response it made itself. */
export type AccessLogEntry = {
  direction: Direction
  tenant: string
  service: string
  source: string
  destination: string
  requestId: string
  traceId: string
  spanId: string
  method: string
  path: string
  status: number
  durationMs: number
  /** `address:port` of the endpoint that answered (outbound), `app` (inbound), or null when nothing was called. */
  upstream: string | null
  route: string
  /** The Weft-Reason of a proxy-made response; absent for a forwarded one. */
  reason?: string
  attempts?: number
}

/**
 * Which requests get an access-log line: `all`, or `errors`: the responses the proxy made itself (those carrying
 * `Weft-Reason`, 4xx refusals included) and the 5xx answers of upstreams, the ones an operator looks into. As in
 * Istio and Linkerd, a forwarded success writes nothing by default (the runtimes' default is `errors`; metrics
 * count every request): a line per request is ≈ 4–10 µs of a hop's CPU (README, Performance) and ≈ 450 bytes of
 * log volume.
 */
export type AccessLogMode = 'all' | 'errors'
/** What `--access-log` and `WEFT_ACCESS_LOG` take. */
export const ACCESS_LOG_SETTINGS = ['all', 'errors', 'off'] as const
export type AccessLogSetting = (typeof ACCESS_LOG_SETTINGS)[number]
export const DEFAULT_ACCESS_LOG: AccessLogSetting = 'errors'

/** The setting a flag or variable names, or null when it names none. */
export function accessLogSettingOf(value: string): AccessLogSetting | null {
  const v = value.trim().toLowerCase()
  return (ACCESS_LOG_SETTINGS as readonly string[]).includes(v) ? (v as AccessLogSetting) : null
}

export type TracingOptions = {
  exporter?: TraceExporter | null
  accessLog?: ((entry: AccessLogEntry) => void) | null
  /** Default `all`: every request handled reaches `accessLog`. */
  accessLogMode?: AccessLogMode
  /** Spans waiting for export; beyond it new spans are dropped (and counted). */
  maxQueue?: number
  /** Spans per export request. */
  maxBatch?: number
  /** How long a span may wait for a batch to fill, in ms. */
  intervalMs?: number
}

// The OpenTelemetry SDK's BatchSpanProcessor defaults, so operators meet familiar numbers.
export const DEFAULT_MAX_QUEUE = 2048
export const DEFAULT_MAX_BATCH = 512
export const DEFAULT_EXPORT_INTERVAL_MS = 5000
// Like the telemetry push's last attempt (control/telemetry-push.ts SHUTDOWN_TIMEOUT_MS).
export const SHUTDOWN_GRACE_MS = 2000

/**
 * Deterministic on the trace id (like OpenTelemetry's TraceIdRatioBased): every proxy that starts or sees
 * the same trace id with the same rate makes the same choice. The low 32 bits, because W3C random ids put
 * their randomness there too (§3.2.2.3's "random" flag concerns the right-most 7 bytes).
 */
export function sampledByRate(traceId: string, rate: number): boolean {
  if (rate >= 1) return true
  if (rate <= 0) return false
  return parseInt(traceId.slice(-8), 16) / 0x1_0000_0000 < rate
}

/**
 * Per-request spans and access-log lines, and the bounded export queue. Spans are recorded only for
 * sampled traces of a tenant that configured a collector, and only when an exporter is wired.
 */
export class ProxyTracing {
  readonly #exporter: TraceExporter | null
  readonly #accessLog: ((entry: AccessLogEntry) => void) | null
  readonly #accessLogAll: boolean
  readonly #maxQueue: number
  readonly #maxBatch: number
  readonly #intervalMs: number
  readonly #spans: Counter
  #queue: { span: FinishedSpan; target: ExportTarget }[] = []
  #timer: ReturnType<typeof setTimeout> | null = null
  #exporting: Promise<void> = Promise.resolve()
  /** Spans taken off the queue whose export has not finished. */
  #inFlight = 0

  constructor(
    private readonly now: () => number,
    private readonly logger: ProxyLogger,
    metrics: ProxyMetrics,
    options: TracingOptions = {},
  ) {
    this.#exporter = options.exporter ?? null
    this.#accessLog = options.accessLog ?? null
    this.#accessLogAll = (options.accessLogMode ?? 'all') === 'all'
    this.#maxQueue = options.maxQueue ?? DEFAULT_MAX_QUEUE
    this.#maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH
    this.#intervalMs = options.intervalMs ?? DEFAULT_EXPORT_INTERVAL_MS
    this.#spans = metrics.registry.counter(
      'weft_spans_total',
      'Spans recorded for export: "exported", "failed" (the collector refused or was unreachable) or "dropped" (the export queue was full).',
      ['outcome'],
    )
  }

  /** Starts the span of one request; `incoming` are the request's headers (their `traceparent` is the parent). */
  begin(direction: Direction, incoming: Headers, snapshot: Snapshot | null, method: string, path: string): RequestTrace {
    const config = snapshot?.tracing ?? null
    const hop = hopOf(incoming.get('traceparent'), config === null ? undefined : (traceId) => sampledByRate(traceId, config.sampleRate))
    const recording = this.#exporter !== null && config !== null && isSampled(hop.flags)
    return new RequestTrace(this, direction, hop, incoming, snapshot, method, path, this.now(), recording)
  }

  /** @internal Whether a request that ended so gets an access-log line (`reason` '' for a forwarded answer). */
  wantsAccessLine(status: number, reason: string): boolean {
    return this.#accessLog !== null && (this.#accessLogAll || reason !== '' || status >= 500)
  }

  /** @internal RequestTrace hands finished work here; `entry` is null when wantsAccessLine said no. */
  finish(span: FinishedSpan | null, target: ExportTarget | null, entry: AccessLogEntry | null): void {
    if (entry !== null && this.#accessLog !== null) {
      try {
        this.#accessLog(entry)
      } catch (err) {
        this.logger.warn({ err: String(err) }, 'access log write failed')
      }
    }
    if (span === null || target === null) return
    // Bounded by everything not yet exported, batches waiting on a slow collector included.
    if (this.#queue.length + this.#inFlight >= this.#maxQueue) {
      this.#spans.inc(['dropped'])
      return
    }
    this.#queue.push({ span, target })
    if (this.#queue.length >= this.#maxBatch) void this.flush()
    else if (this.#timer === null) {
      this.#timer = setTimeout(() => void this.flush(), this.#intervalMs)
      // A pending batch must not keep a Node process alive; flush() at shutdown sends it.
      ;(this.#timer as { unref?: () => void }).unref?.()
    }
  }

  /** Sends every queued span (one export at a time, in batches of maxBatch). Never rejects. */
  flush(): Promise<void> {
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
    const batch = this.#queue
    this.#queue = []
    if (batch.length === 0) return this.#exporting
    this.#inFlight += batch.length
    this.#exporting = this.#exporting.then(() => this.#send(batch)).finally(() => (this.#inFlight -= batch.length))
    return this.#exporting
  }

  /**
   * Flushes, then lets the exporter close its connections; gives up after `graceMs` (a stopping proxy must not
   * wait on a collector that is gone: the SDK retries an unreachable one for up to its 10 s timeout).
   */
  async shutdown(graceMs: number = SHUTDOWN_GRACE_MS): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined
    const gaveUp = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), graceMs)))
    const done = (async () => {
      await this.flush()
      await this.#exporter?.shutdown?.().catch(() => {})
    })()
    const outcome = await Promise.race([done, gaveUp])
    clearTimeout(timer)
    if (outcome === 'timeout') this.logger.warn({ spans: this.#inFlight, graceMs }, 'spans not exported at shutdown: the collector did not answer in time')
  }

  async #send(batch: { span: FinishedSpan; target: ExportTarget }[]): Promise<void> {
    // A snapshot may change the collector while spans wait: each goes where it was configured to when it ended.
    const byTarget = new Map<string, { target: ExportTarget; spans: FinishedSpan[] }>()
    for (const { span, target } of batch) {
      const key = JSON.stringify([target.endpoint, target.headers, target.service, target.tenant])
      const group = byTarget.get(key) ?? { target, spans: [] }
      group.spans.push(span)
      byTarget.set(key, group)
    }
    for (const { target, spans } of byTarget.values()) {
      for (let i = 0; i < spans.length; i += this.#maxBatch) {
        const chunk = spans.slice(i, i + this.#maxBatch)
        try {
          await this.#exporter!.export(chunk, target)
          this.#spans.inc(['exported'], chunk.length)
        } catch (err) {
          this.#spans.inc(['failed'], chunk.length)
          this.logger.warn({ endpoint: target.endpoint, spans: chunk.length, err: String(err) }, 'span export failed; the batch is dropped')
        }
      }
    }
  }
}

/** One request's span and access-log line. Created by ProxyTracing.begin; ended exactly once. */
export class RequestTrace {
  // Made when first used: most requests are not recorded and set no attribute.
  #events: { name: string; timeMs: number; attributes: Attributes }[] | null = null
  #attributes: Attributes | null = null
  #upstream: string | null = null
  #attempts = 0
  #ended = false

  constructor(
    private readonly tracing: ProxyTracing,
    readonly direction: Direction,
    readonly hop: TraceContext,
    private readonly incoming: Headers,
    private readonly snapshot: Snapshot | null,
    private readonly method: string,
    private readonly path: string,
    private readonly startMs: number,
    readonly recording: boolean,
  ) {}

  get traceId(): string {
    return this.hop.traceId
  }

  /** Sets this hop's `traceparent` on the headers going to the next hop (the app, or the callee's proxy). */
  propagate(headers: Headers): void {
    writeHop(headers, this.hop)
  }

  /**
   * One attempt to an endpoint (outbound): an event on the span; the last one is the access log's upstream.
   * `outcome` is needed only when the span is `recording`.
   */
  attempt(upstream: string, atMs: number, outcome: Attributes | null): void {
    this.#attempts++
    this.#upstream = upstream
    if (this.recording) (this.#events ??= []).push({ name: this.#attempts === 1 ? 'attempt' : 'retry', timeMs: atMs, attributes: { 'weft.attempt': this.#attempts, 'server.address': upstream, ...outcome } })
  }

  /** Marks the request as forwarded to the local app (inbound). */
  forwardedToApp(): void {
    this.#upstream = 'app'
  }

  setAttribute(name: string, value: AttributeValue): void {
    ;(this.#attributes ??= {})[name] = value
  }

  end(o: { status: number; reason: string; source: string; destination: string; route: string; endMs: number }): void {
    if (this.#ended) return
    this.#ended = true
    const tenant = this.snapshot?.tenant.slug ?? 'unknown'
    const service = this.snapshot?.service.name ?? 'unknown'
    const config = this.snapshot?.tracing ?? null
    const recorded = this.recording && config !== null
    const logged = this.tracing.wantsAccessLine(o.status, o.reason)
    if (!recorded && !logged) return
    const requestId = this.incoming.get('x-request-id') ?? `${this.hop.traceId}-${this.hop.spanId}`
    let entry: AccessLogEntry | null = null
    if (logged) {
      entry = {
        direction: this.direction,
        tenant,
        service,
        source: o.source,
        destination: o.destination,
        requestId,
        traceId: this.hop.traceId,
        spanId: this.hop.spanId,
        method: this.method,
        path: this.path,
        status: o.status,
        durationMs: Math.max(0, o.endMs - this.startMs),
        upstream: this.#upstream,
        route: o.route,
      }
      if (o.reason !== '') entry.reason = o.reason
      if (this.#attempts > 0) entry.attempts = this.#attempts
    }
    if (!recorded) return this.tracing.finish(null, null, entry)
    const attributes: Attributes = {
      ...this.#attributes,
      'http.request.method': this.method,
      'url.path': this.path,
      'http.response.status_code': o.status,
      'weft.direction': this.direction,
      'weft.source': o.source,
      'weft.destination': o.destination,
      'weft.request_id': requestId,
    }
    if (o.route !== '') attributes['http.route'] = o.route
    if (o.reason !== '') attributes['weft.reason'] = o.reason
    const span: FinishedSpan = {
      traceId: this.hop.traceId,
      spanId: this.hop.spanId,
      parentSpanId: this.hop.parentSpanId,
      traceState: this.hop.parentSpanId === null ? null : this.incoming.get('tracestate'),
      name: `${this.method} ${this.direction === 'outbound' ? o.destination : service}`,
      kind: this.direction === 'inbound' ? 'server' : 'client',
      startMs: this.startMs,
      endMs: o.endMs,
      attributes,
      events: this.#events ?? [],
      // OpenTelemetry's HTTP conventions: a server span errs on 5xx; a client span on 4xx too.
      error: o.status >= 500 || (this.direction === 'outbound' && o.status >= 400),
    }
    this.tracing.finish(span, { ...config, service, tenant }, entry)
  }
}
