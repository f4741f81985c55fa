// One access line as JSON, in the shape pino writes for `logger.info(entry, 'request')` with the base
// `{ type: 'access', component: 'weft-sidecar' }` (level 30, epoch-ms time, the entry's fields in order, msg
// last), so the sidecar's stdout reads as one log. Written by hand because pino's generic path (mixins,
// serializers, a key loop with its own string escaping) cost a hop ≈ 12 µs of CPU per request in a CPU
// profile (bench/proxy/mesh-up.ts under perf); JSON.stringify of one fixed-shape object costs ≈ 1.
import type { AccessLogEntry } from '../core/tracing'

/** pino's numeric level for `info`. */
const INFO = 30

export function accessLogLine(entry: AccessLogEntry, timeMs: number = Date.now()): string {
  // A literal with a fixed key order: V8 keeps one hidden class for it and JSON.stringify takes its fast path.
  // Optional fields left undefined are omitted, as pino omits them.
  return `${JSON.stringify({
    level: INFO,
    time: timeMs,
    type: 'access',
    component: 'weft-sidecar',
    direction: entry.direction,
    tenant: entry.tenant,
    service: entry.service,
    source: entry.source,
    destination: entry.destination,
    requestId: entry.requestId,
    traceId: entry.traceId,
    spanId: entry.spanId,
    method: entry.method,
    path: entry.path,
    status: entry.status,
    durationMs: entry.durationMs,
    upstream: entry.upstream,
    route: entry.route,
    reason: entry.reason,
    attempts: entry.attempts,
    msg: 'request',
  })}\n`
}
