// The core's TraceExporter, implemented with OpenTelemetry's OTLP/HTTP (JSON) exporter: the core hands over
// plain FinishedSpans; this file turns them into the SDK's ReadableSpan and lets the SDK encode and send them.
import { SpanKind, SpanStatusCode, TraceFlags, type SpanContext } from '@opentelemetry/api'
import { ExportResultCode, hrTimeDuration, millisToHrTime, TraceState } from '@opentelemetry/core'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources'
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base'
import type { ExportTarget, FinishedSpan, TraceExporter } from '../core/tracing'

const SCOPE = { name: 'weft-proxy', version: '0.1.0' }
// A collector that hangs must not hold the (single) export chain for long: later batches wait behind it.
const EXPORT_TIMEOUT_MS = 10_000

function spanContextOf(traceId: string, spanId: string, traceState: string | null, isRemote: boolean): SpanContext {
  // Only sampled spans are recorded (core/tracing.ts), so the flag is always set.
  const ctx: SpanContext = { traceId, spanId, traceFlags: TraceFlags.SAMPLED, isRemote }
  if (traceState !== null) ctx.traceState = new TraceState(traceState)
  return ctx
}

/** The SDK's view of one span; `resource` carries service.name (the proxy's service) and the tenant. */
export function toReadableSpan(span: FinishedSpan, resource: Resource): ReadableSpan {
  const startTime = millisToHrTime(span.startMs)
  const endTime = millisToHrTime(span.endMs)
  const own = spanContextOf(span.traceId, span.spanId, span.traceState, false)
  return {
    name: span.name,
    kind: span.kind === 'server' ? SpanKind.SERVER : SpanKind.CLIENT,
    spanContext: () => own,
    parentSpanContext: span.parentSpanId === null ? undefined : spanContextOf(span.traceId, span.parentSpanId, span.traceState, true),
    startTime,
    endTime,
    duration: hrTimeDuration(startTime, endTime),
    status: span.error ? { code: SpanStatusCode.ERROR, message: String(span.attributes['weft.reason'] ?? '') } : { code: SpanStatusCode.UNSET },
    attributes: span.attributes,
    links: [],
    events: span.events.map((e) => ({ name: e.name, time: millisToHrTime(e.timeMs), attributes: e.attributes })),
    ended: true,
    resource,
    instrumentationScope: SCOPE,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  }
}

/**
 * One OTLPTraceExporter per collector (URL and headers): a snapshot that changes the collector gets a new
 * one, and the old one is shut down after its last batch.
 */
export function createOtelTraceExporter(): TraceExporter {
  let current: { key: string; exporter: OTLPTraceExporter } | null = null
  const resources = new Map<string, Resource>()

  const exporterFor = (target: ExportTarget): OTLPTraceExporter => {
    const key = JSON.stringify([target.endpoint, target.headers])
    if (current?.key === key) return current.exporter
    const old = current?.exporter
    current = { key, exporter: new OTLPTraceExporter({ url: target.endpoint, headers: { ...target.headers }, timeoutMillis: EXPORT_TIMEOUT_MS }) }
    void old?.shutdown().catch(() => {})
    return current.exporter
  }
  const resourceFor = (target: ExportTarget): Resource => {
    const key = `${target.tenant}\u0000${target.service}`
    let r = resources.get(key)
    if (!r) {
      r = resourceFromAttributes({ 'service.name': target.service, 'service.namespace': target.tenant, 'weft.tenant': target.tenant })
      resources.set(key, r)
    }
    return r
  }

  return {
    export(spans, target) {
      const exporter = exporterFor(target)
      const resource = resourceFor(target)
      return new Promise((resolve, reject) => {
        exporter.export(
          spans.map((s) => toReadableSpan(s, resource)),
          (result) => (result.code === ExportResultCode.SUCCESS ? resolve() : reject(result.error ?? new Error('the collector did not accept the spans'))),
        )
      })
    },
    async shutdown() {
      await current?.exporter.shutdown()
      current = null
    },
  }
}
