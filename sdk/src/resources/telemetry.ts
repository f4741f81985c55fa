import type { ApiPromise } from '../api-promise.js'
import type { RequestOptions } from '../http-client.js'
import type { GraphEdge, GraphNode, ServiceGraph, ServiceMetrics, TelemetryAccepted, TelemetryPush } from '../types.js'
import { Resource } from './resource.js'

export type { GraphEdge, GraphNode, ServiceGraph, ServiceMetrics, TelemetryAccepted, TelemetryPush }

/** A duration as the API takes it: whole minutes, hours or days, e.g. `"15m"`, `"1h"`, `"7d"`. */
export type TelemetryDuration = `${number}${'m' | 'h' | 'd'}`

/** Golden metrics from the proxies' telemetry: the service graph and per-service time series. */
export class Telemetry extends Resource {
  /**
   * The service graph over the last `window` (1m–24h, default 15m): nodes and edges with requests per second,
   * success rate and p50/p95/p99 latency (from merged histograms).
   * @example
   * const { edges } = await weft.telemetry.graph({ window: '5m' })
   * for (const e of edges) console.log(`${e.source} → ${e.destination}`, e.rps, e.successRate, e.latencyMs.p99)
   * @throws {ValidationError} the window is out of range.
   */
  graph(query: { window?: TelemetryDuration } = {}, options?: RequestOptions): ApiPromise<ServiceGraph> {
    return this.call({ method: 'GET', path: '/v1/telemetry/graph', query, options })
  }

  /**
   * One service's golden signals per `step` (default 1m) over `window` (default 1h, up to 30d; beyond 48h the
   * step must be whole hours).
   * @example
   * const { points } = await weft.telemetry.service('payments', { window: '1h', step: '5m' })
   */
  service(name: string, query: { window?: TelemetryDuration; step?: TelemetryDuration } = {}, options?: RequestOptions): ApiPromise<ServiceMetrics> {
    return this.call({ method: 'GET', path: `/v1/telemetry/services/${encodeURIComponent(name)}`, query, options })
  }

  /** What proxies do (workload JWT): push metric deltas. Retrying the same `(proxyId, seq)` is counted once. */
  push(body: TelemetryPush, options?: RequestOptions): ApiPromise<TelemetryAccepted> {
    return this.call({ method: 'POST', path: '/v1/proxy/telemetry', json: body, options })
  }
}
