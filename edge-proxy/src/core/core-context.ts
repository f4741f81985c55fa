import type { RateLimitStore } from '../../../mesh/src/policy/index'
import type { CallerVerifier } from './caller-identity'
import type { CircuitBreakers } from './circuit-breaker'
import type { EndpointPools } from './endpoint-pool'
import type { EndpointRegistry } from './endpoint-state'
import type { FilterChainRunner } from './filter-chain'
import type { LogSampler } from './log-sampler'
import type { OutlierDetector } from './outlier-detector'
import type { ProxyCoreDeps, ProxyLimits, ProxyLogger } from './proxy-deps'
import type { ProxyMetrics } from './proxy-metrics'
import type { RetryBudgets } from './retry-budget'
import type { ProxyTracing } from './tracing'

/** Everything the inbound and outbound handlers share within one proxy core: deps with defaults applied, and state. */
export type CoreContext = {
  readonly deps: ProxyCoreDeps
  readonly now: () => number
  readonly random: () => number
  readonly logger: ProxyLogger
  /** For diagnostics a request can trigger every time: at most one line per kind per second. */
  readonly logSampler: LogSampler
  readonly rateLimits: RateLimitStore
  readonly zone: string | null
  readonly limits: ProxyLimits
  readonly metrics: ProxyMetrics
  readonly callers: CallerVerifier
  readonly endpoints: EndpointRegistry
  readonly pools: EndpointPools
  readonly outliers: OutlierDetector
  readonly breakers: CircuitBreakers
  readonly retryBudgets: RetryBudgets
  /** The service's FilterChain: loaded filters, their shared data and metrics. */
  readonly filters: FilterChainRunner
  /** Spans and access-log lines (core/tracing.ts). */
  readonly tracing: ProxyTracing
}
