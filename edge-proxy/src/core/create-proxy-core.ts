import { TokenBucketStore } from '../../../mesh/src/policy/index'
import type { SvidVerifierStats } from '../../../mesh/src/identity/index'
import type { Snapshot } from '../../../mesh/src/snapshot/types'
import { CallerVerifier } from './caller-identity'
import { CircuitBreakers } from './circuit-breaker'
import type { CoreContext } from './core-context'
import { EndpointPools } from './endpoint-pool'
import { EndpointRegistry, endpointKey } from './endpoint-state'
import { FilterChainRunner } from './filter-chain'
import { renderFilterMetrics } from './filter-metrics-export'
import { createInboundHandler } from './inbound'
import { LogSampler } from './log-sampler'
import { createOutboundHandler } from './outbound'
import { OutlierDetector } from './outlier-detector'
import { DEFAULT_LIMITS, type ProxyCoreDeps, type ProxyLimits } from './proxy-deps'
import { createProxyMetrics, type ProxyMetrics } from './proxy-metrics'
import { RetryBudgets } from './retry-budget'
import { ProxyTracing } from './tracing'

export type ProxyCore = {
  /** A request from another workload's proxy, to be admitted and forwarded to the local app. */
  inbound(request: Request): Promise<Response>
  /**
   * A request from the local app to `destination` (a service name; by default the request URL's host, as an
   * HTTP proxy sees `http://payments/charge`).
   */
  outbound(request: Request, destination?: string): Promise<Response>
  /**
   * Loads the snapshot's FilterChain before its first request (fetch by digest, verify, compile, instantiate);
   * resolves when the chain is ready to swap in. Runtimes call it when a snapshot arrives. Never rejects.
   */
  prepareFilters(snapshot: Snapshot): Promise<void>
  /** Prometheus text for `/metrics`; the request counter and duration histogram for the telemetry push. */
  readonly metrics: { render(): string; readonly requests: ProxyMetrics['requests']; readonly duration: ProxyMetrics['duration'] }
  /** For `/config_dump` and tests: per-endpoint state the proxy has learnt. */
  endpoints(): EndpointReport[]
  /** Counters of the caller verifier (cache hits, signature checks); null before the first token. */
  stats(): { callerVerification: SvidVerifierStats | null }
  /** Sends the spans waiting for export (at shutdown: `shutdown()`, which also closes the exporter). */
  readonly tracing: { flush(): Promise<void>; shutdown(): Promise<void> }
}

export type EndpointReport = {
  service: string
  id: string
  address: string
  port: number
  inFlight: number
  latencyMs: number
  ejected: boolean
  ejectedUntil: number | null
  timesEjected: number
}

/**
 * The runtime-agnostic proxy core: Web standards only (fetch's Request/Response, WebCrypto, timers), with
 * the transport, the app, identity, time and randomness injected, so the Node sidecar and the Worker are thin
 * adapters around the same object.
 *
 * @example
 * const core = createProxyCore({
 *   snapshot: () => control.snapshot(),
 *   upstream: (request, target) => fetch(upstreamUrl(request, target), request),
 *   app: (request) => fetch(new URL(new URL(request.url).pathname, 'http://127.0.0.1:3000'), request),
 *   identity: { tokenFor: (audience) => control.tokenFor(audience) },
 *   logger,
 * })
 * @throws TypeError at construction when a dependency is missing or unusable.
 */
export function createProxyCore(deps: ProxyCoreDeps): ProxyCore {
  for (const name of ['snapshot', 'upstream', 'app'] as const) {
    if (typeof deps[name] !== 'function') throw new TypeError(`createProxyCore: deps.${name} must be a function`)
  }
  if (typeof deps.identity?.tokenFor !== 'function') throw new TypeError('createProxyCore: deps.identity.tokenFor must be a function')
  for (const level of ['debug', 'info', 'warn', 'error'] as const) {
    if (typeof deps.logger?.[level] !== 'function') throw new TypeError(`createProxyCore: deps.logger.${level} must be a function`)
  }
  for (const name of ['now', 'random', 'fetchJwks', 'waitUntil', 'accessLog'] as const) {
    if (deps[name] !== undefined && typeof deps[name] !== 'function') throw new TypeError(`createProxyCore: deps.${name} must be a function`)
  }
  if (deps.accessLogMode !== undefined && deps.accessLogMode !== 'all' && deps.accessLogMode !== 'errors') {
    throw new TypeError(`createProxyCore: deps.accessLogMode must be 'all' or 'errors', got ${JSON.stringify(deps.accessLogMode)}`)
  }
  if (deps.traceExporter !== undefined && typeof deps.traceExporter?.export !== 'function') throw new TypeError('createProxyCore: deps.traceExporter must be a TraceExporter')
  if (deps.rateLimits !== undefined && typeof deps.rateLimits?.take !== 'function') throw new TypeError('createProxyCore: deps.rateLimits must be a RateLimitStore')
  const limits: ProxyLimits = { ...DEFAULT_LIMITS, ...deps.limits }
  for (const [name, value] of Object.entries(limits)) {
    if (!(Number.isFinite(value) && value >= 0)) throw new RangeError(`createProxyCore: limits.${name} must be a non-negative number, got ${value}`)
  }
  if (!(limits.retryBudgetWindowMs > 0)) throw new RangeError('createProxyCore: limits.retryBudgetWindowMs must be positive')

  const now = deps.now ?? Date.now
  const logger = deps.logger
  const metrics = createProxyMetrics()
  const endpoints = new EndpointRegistry()
  const outliers = new OutlierDetector((state, ejected, durationMs) => {
    metrics.ejected.add([state.service], ejected ? 1 : -1)
    if (ejected) metrics.ejections.inc([state.service])
    else logger.info({ destination: state.service, endpoint: state.endpoint.id }, 'endpoint returned from outlier ejection')
    void durationMs
  })

  // A new snapshot may drop endpoints: forget their state once, when the snapshot object changes.
  let seen: Snapshot | null = null
  const snapshot = (): Snapshot | null => {
    const s = deps.snapshot()
    if (s !== seen && s !== null) {
      seen = s
      const live = new Set<string>()
      for (const service of Object.values(s.outbound)) for (const e of service.endpoints) live.add(endpointKey(service.name, e.id))
      for (const dropped of endpoints.retain(live)) {
        if (dropped.ejected) metrics.ejected.add([dropped.service], -1)
        outliers.forget(dropped)
      }
    }
    return s
  }

  const callers = new CallerVerifier({ now, fetchJwks: deps.fetchJwks, logger })
  const tracing = new ProxyTracing(now, logger, metrics, { ...deps.tracing, exporter: deps.traceExporter ?? null, accessLog: deps.accessLog ?? null, accessLogMode: deps.accessLogMode })
  const ctx: CoreContext = {
    deps: { ...deps, snapshot },
    now,
    random: deps.random ?? Math.random,
    logger,
    logSampler: new LogSampler(1000, now, logger),
    rateLimits: deps.rateLimits ?? new TokenBucketStore(),
    zone: deps.zone ?? null,
    limits,
    metrics,
    callers,
    endpoints,
    pools: new EndpointPools(endpoints),
    outliers,
    breakers: new CircuitBreakers(),
    retryBudgets: new RetryBudgets(limits.retryBudgetWindowMs),
    filters: new FilterChainRunner({ modules: deps.filterModules, logger, now, foreignFunctions: deps.filterForeignFunctions }),
    tracing,
  }

  const outbound = createOutboundHandler(ctx)
  // Filters' HTTP calls go through this proxy's own outbound side, so they are mesh calls like the app's.
  ctx.filters.useOutbound(outbound)
  return {
    inbound: createInboundHandler(ctx),
    outbound,
    prepareFilters: (s) => ctx.filters.prepare(s.inbound.filterChain),
    metrics: { render: () => metrics.render() + renderFilterMetrics(ctx.filters), requests: metrics.requests, duration: metrics.duration },
    endpoints: () =>
      [...endpoints.values()].map((s) => ({
        service: s.service,
        id: s.endpoint.id,
        address: s.endpoint.address,
        port: s.endpoint.port,
        inFlight: s.inFlight,
        latencyMs: s.latencyMs,
        ejected: s.ejected,
        ejectedUntil: s.ejected ? s.ejectedUntil : null,
        timesEjected: s.timesEjected,
      })),
    stats: () => ({ callerVerification: callers.stats() }),
    tracing: { flush: () => tracing.flush(), shutdown: () => tracing.shutdown() },
  }
}
