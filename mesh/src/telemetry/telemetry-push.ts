import { z } from 'zod'
import { LATENCY_BUCKET_COUNT } from './latency-histogram'

// The body of `POST /v1/proxy/telemetry`: what a proxy observed since its previous push, as deltas. The
// control API validates with these schemas; the proxy builds the same type. Tenant and reporting service
// are never in the body: they come from the workload's token.

/**
 * At most this many series of each kind per push: a sidecar with a few dozen callees and routes sends
 * tens; a body at the limit is still under the default 1 MiB body limit (≈ 150 bytes a series).
 */
export const MAX_TELEMETRY_SERIES = 5_000

export const StatusClass = z.enum(['1xx', '2xx', '3xx', '4xx', '5xx'])
export const TelemetryDirection = z.enum(['inbound', 'outbound'])

// Names are what the proxy saw: a destination may be a host name the app asked for that is no service.
const PeerName = z.string().min(1).max(253)
const SeriesKey = {
  direction: TelemetryDirection,
  source: PeerName,
  destination: PeerName,
  /** `<Route policy>/<rule index>`, or "" when no Route rule applied. */
  route: z.string().max(300),
  statusClass: StatusClass,
}

export const RequestCountDelta = z
  .object({
    ...SeriesKey,
    /** The Weft-Reason of a proxy-made response, "" for a forwarded one. */
    reason: z.string().max(64).regex(/^[a-z0-9-]*$/, 'must be a Weft-Reason code or ""'),
    count: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  })
  .strict()

export const LatencyDelta = z
  .object({
    ...SeriesKey,
    /** Counts per bucket (not cumulative), bounds in mesh/src/telemetry/latency-histogram.ts, the last for +Inf. */
    buckets: z.array(z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)).length(LATENCY_BUCKET_COUNT),
    /** The sum of the observed durations, seconds. */
    sumSeconds: z.number().min(0).max(1e12),
  })
  .strict()

export const TelemetryPush = z
  .object({
    /** The proxy instance (a UUID, stable for its lifetime); with `seq`, what makes a retried push a duplicate. */
    proxyId: z.uuid(),
    /** Increases by one per new batch; a retry of the same batch sends the same number. */
    seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    /** When the proxy collected this delta: the minute it is counted in. */
    observedAt: z.iso.datetime({ offset: true }),
    // The MAX_TELEMETRY_SERIES limit is checked by the control API (413, not 400: the body is too big, not wrong).
    requests: z.array(RequestCountDelta),
    latency: z.array(LatencyDelta),
  })
  .strict()

export type TelemetryPush = z.infer<typeof TelemetryPush>
export type RequestCountDelta = z.infer<typeof RequestCountDelta>
export type LatencyDelta = z.infer<typeof LatencyDelta>
