import { z } from '@hono/zod-openapi'
import { LatencyDelta as MeshLatencyDelta, RequestCountDelta as MeshRequestCountDelta, TelemetryPush as MeshTelemetryPush } from '../../../mesh/src/telemetry/telemetry-push'
import { DnsLabel, Timestamp } from './common'

// Wrapped with @hono/zod-openapi's `z`: mesh's plain-zod schemas may be created before it extends zod, and
// zod 4 gives a schema its `.openapi` method at creation (routes/policies.ts does the same).
export const TelemetryPush = z
  .object({
    ...MeshTelemetryPush.shape,
    requests: z.array(z.object(MeshRequestCountDelta.shape).strict().openapi('RequestCountDelta')),
    latency: z.array(z.object(MeshLatencyDelta.shape).strict().openapi('LatencyDelta')),
  })
  .strict()
  .openapi('TelemetryPush', {
    description: 'Deltas since the previous push. Tenant and reporting service come from the workload token, never from the body.',
  })

export const TelemetryAccepted = z
  .object({
    duplicate: z.boolean().openapi({ description: 'This (proxyId, seq) was counted before; nothing was added.' }),
    minute: Timestamp.openapi({ description: 'The minute the deltas were counted in.' }),
    series: z.number().int().openapi({ description: 'Rollup rows touched.' }),
  })
  .openapi('TelemetryAccepted')

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const

/** "15m", "1h", "7d": a duration in whole seconds, minutes, hours or days, bounded. */
export function durationParam(min: string, max: string, what: string) {
  const parse = (d: string) => {
    const m = /^([0-9]{1,6})(s|m|h|d)$/.exec(d)
    return m ? Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS] : NaN
  }
  const lo = parse(min)
  const hi = parse(max)
  return z
    .string()
    .regex(/^[0-9]{1,6}(s|m|h|d)$/, `${what} is a duration such as "15m", "1h" or "7d"`)
    .transform(parse)
    .refine((ms) => ms >= lo && ms <= hi, `${what} must be between ${min} and ${max}`)
    .refine((ms) => ms % 60_000 === 0, `${what} must be whole minutes`)
}

export const Latency = z
  .object({
    p50: z.number().nullable(),
    p95: z.number().nullable(),
    p99: z.number().nullable(),
  })
  .openapi('LatencyPercentiles', { description: 'Milliseconds, estimated from the merged latency histogram (null without data).' })

const GoldenFields = {
  requests: z.number().int(),
  rps: z.number().openapi({ description: 'Requests per second over the window.' }),
  successRate: z.number().nullable().openapi({ description: 'Share of responses that were not 5xx; null without requests.' }),
  latencyMs: Latency,
}

export const GraphNode = z.object({ name: z.string(), ...GoldenFields }).openapi('GraphNode', { description: 'A service, with what it served (its incoming edges merged).' })
export const GraphEdge = z
  .object({
    source: z.string(),
    destination: z.string(),
    reporter: z.enum(['inbound', 'outbound']).openapi({ description: "Whose measurements these are: the caller's proxy (outbound) when it reported, else the callee's." }),
    ...GoldenFields,
    statusClasses: z.record(z.string(), z.number().int()),
    reasons: z.record(z.string(), z.number().int()).openapi({ description: 'Weft-Reason codes of proxy-made responses, with counts.' }),
  })
  .openapi('GraphEdge')

export const TelemetryWindow = z.object({ from: Timestamp, to: Timestamp, seconds: z.number() })

export const ServiceGraph = z
  .object({ window: TelemetryWindow, nodes: z.array(GraphNode), edges: z.array(GraphEdge) })
  .openapi('ServiceGraph')

export const ServicePoint = z.object({ time: Timestamp, ...GoldenFields }).openapi('ServicePoint')
export const ServiceMetrics = z
  .object({
    service: DnsLabel,
    reporter: z.enum(['inbound', 'outbound']).nullable(),
    resolution: z.enum(['minute', 'hour']),
    stepSeconds: z.number().int(),
    total: z.object({ ...GoldenFields, statusClasses: z.record(z.string(), z.number().int()), reasons: z.record(z.string(), z.number().int()) }),
    points: z.array(ServicePoint),
  })
  .openapi('ServiceMetrics')
