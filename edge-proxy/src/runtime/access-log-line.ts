// One access line as JSON, in the shape pino writes for `logger.info(entry, 'request')` with the base
// `{ type: 'access', component: 'weft-sidecar' }` (level 30, epoch-ms time, the entry's fields in order, msg
// last), so the sidecar's stdout reads as one log. Written by hand: pino's generic path (mixins, serializers,
// a key loop) and then JSON.stringify of the entry each cost a hop 6–12 µs of CPU per request under perf
// (bench/proxy/mesh-up.ts); concatenating known fields, escaping only a string that needs it, is half of
// JSON.stringify's cost for the same line in a tight loop (1.2 against 2.4 µs), and less under real load.
import type { AccessLogEntry } from '../core/tracing'

// What JSON must escape (quote, backslash, control characters) and lone surrogates, which JSON.stringify
// escapes too; a string without any of them is its own JSON body.
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/

const text = (s: string): string => (NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`)
const num = (n: number): string => (Number.isFinite(n) ? String(n) : 'null')

export function accessLogLine(e: AccessLogEntry, timeMs: number = Date.now()): string {
  return (
    `{"level":30,"time":${timeMs},"type":"access","component":"weft-sidecar","direction":${text(e.direction)}` +
    `,"tenant":${text(e.tenant)},"service":${text(e.service)},"source":${text(e.source)},"destination":${text(e.destination)}` +
    `,"requestId":${text(e.requestId)},"traceId":${text(e.traceId)},"spanId":${text(e.spanId)}` +
    `,"method":${text(e.method)},"path":${text(e.path)},"status":${num(e.status)},"durationMs":${num(e.durationMs)}` +
    `,"upstream":${e.upstream === null ? 'null' : text(e.upstream)},"route":${text(e.route)}` +
    (e.reason !== undefined ? `,"reason":${text(e.reason)}` : '') +
    (e.attempts !== undefined ? `,"attempts":${num(e.attempts)}` : '') +
    ',"msg":"request"}\n'
  )
}
