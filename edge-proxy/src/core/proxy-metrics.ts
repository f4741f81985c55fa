import { LATENCY_BUCKET_BOUNDS_SECONDS } from '../../../mesh/src/telemetry/latency-histogram'
import { MetricsRegistry, type Counter, type Gauge, type Histogram } from './metrics-registry'

/** Latency buckets in seconds: the ones the control API stores telemetry in (mesh/src/telemetry), so pushes map 1:1. */
export const DURATION_BUCKETS_SECONDS = LATENCY_BUCKET_BOUNDS_SECONDS

export type Direction = 'inbound' | 'outbound'

/** What one request contributes to the request metrics. */
export type RequestObservation = {
  direction: Direction
  /** The calling service (its SPIFFE ID's service name), "unknown" when unauthenticated. */
  source: string
  destination: string
  /** `<Route policy>/<rule index>` when a Route rule applied, else "". */
  route: string
  status: number
  /** The Weft-Reason of a proxy-made response, "" for a forwarded one. */
  reason: string
  durationSeconds: number
}

export type ProxyMetrics = {
  readonly registry: MetricsRegistry
  readonly requests: Counter
  readonly duration: Histogram
  readonly active: Gauge
  readonly retries: Counter
  readonly ejections: Counter
  readonly ejected: Gauge
  readonly circuitOpen: Counter
  readonly mirrors: Counter
  observe(o: RequestObservation): void
  render(): string
}

// The status_class label values, the same strings every time (a new string per request would be hashed anew).
const STATUS_CLASSES = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx']

export function createProxyMetrics(): ProxyMetrics {
  const registry = new MetricsRegistry()
  const requests = registry.counter('weft_requests_total', 'Requests handled by the proxy.', ['direction', 'source', 'destination', 'route', 'status_class', 'reason'])
  const duration = registry.histogram(
    'weft_request_duration_seconds',
    'Time from receiving a request to the response headers, in seconds (bodies stream afterwards).',
    ['direction', 'source', 'destination', 'route', 'status_class'],
    DURATION_BUCKETS_SECONDS,
  )
  const active = registry.gauge('weft_requests_active', 'Requests awaiting their response headers.', ['direction', 'destination'])
  const retries = registry.counter(
    'weft_retries_total',
    'Retry decisions: "retried" sent another attempt; "budget_exhausted" and "overflow" (BackendPolicy maxRetries) wanted one and were refused.',
    ['destination', 'route', 'outcome'],
  )
  const ejections = registry.counter('weft_outlier_ejections_total', 'Endpoints ejected by outlier detection.', ['destination'])
  const ejected = registry.gauge('weft_outlier_ejected_endpoints', 'Endpoints currently ejected by outlier detection.', ['destination'])
  const circuitOpen = registry.counter('weft_circuit_open_total', 'Requests refused because BackendPolicy connectionLimits were full.', ['destination'])
  const mirrors = registry.counter('weft_mirrored_requests_total', 'RequestMirror copies: "sent", or "skipped" when the body was too large to copy.', ['destination', 'outcome'])

  function observe(o: RequestObservation): void {
    const statusClass = STATUS_CLASSES[Math.floor(o.status / 100)] ?? `${Math.floor(o.status / 100)}xx`
    requests.inc([o.direction, o.source, o.destination, o.route, statusClass, o.reason])
    duration.observe([o.direction, o.source, o.destination, o.route, statusClass], o.durationSeconds)
  }

  return { registry, requests, duration, active, retries, ejections, ejected, circuitOpen, mirrors, observe, render: () => registry.render() }
}
