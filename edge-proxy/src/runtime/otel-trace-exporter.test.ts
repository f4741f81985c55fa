import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CLIENT, startCollector } from '../../../test/support/otlp-collector'
import type { ExportTarget, FinishedSpan } from '../core/tracing'
import { createOtelTraceExporter } from './otel-trace-exporter'

const span = (over: Partial<FinishedSpan> = {}): FinishedSpan => ({
  traceId: '0af7651916cd43dd8448eb211c80319c',
  spanId: 'b7ad6b7169203331',
  parentSpanId: '00f067aa0ba902b7',
  traceState: 'vendor=1',
  name: 'POST payments',
  kind: 'client',
  startMs: 1_700_000_000_000,
  endMs: 1_700_000_000_250,
  attributes: { 'http.response.status_code': 503, 'weft.reason': 'connect-failure' },
  events: [{ name: 'retry', timeMs: 1_700_000_000_100, attributes: { 'weft.attempt': 2 } }],
  error: true,
  ...over,
})

describe('the OpenTelemetry OTLP/HTTP TraceExporter', () => {
  let collector: Awaited<ReturnType<typeof startCollector>>
  let other: Awaited<ReturnType<typeof startCollector>>
  beforeAll(async () => {
    ;[collector, other] = await Promise.all([startCollector(), startCollector()])
  })
  afterAll(async () => {
    await Promise.all([collector.close(), other.close()])
  })

  it('sends the span as OTLP JSON: ids, parent, kind, times, status, events, resource and headers', async () => {
    const exporter = createOtelTraceExporter()
    const target: ExportTarget = { endpoint: collector.url, headers: { 'x-api-key': 's3cret' }, sampleRate: 1, service: 'orders', tenant: 'acme' }
    await exporter.export([span()], target)
    await exporter.shutdown?.()
    const [got] = collector.spans
    expect(got).toMatchObject({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      parentSpanId: '00f067aa0ba902b7',
      traceState: 'vendor=1',
      name: 'POST payments',
      kind: CLIENT,
      service: 'orders',
      status: { code: 2 },
      attrs: { 'http.response.status_code': 503, 'weft.reason': 'connect-failure' },
    })
    expect(got!.events!.map((e) => e.name)).toEqual(['retry'])
    expect(collector.requests[0]!.headers['x-api-key']).toBe('s3cret')
  })

  it('follows a changed collector, and rejects when the collector is unreachable (after the SDK’s own retries)', async () => {
    const exporter = createOtelTraceExporter()
    const base = { headers: {}, sampleRate: 1, service: 'orders', tenant: 'acme' }
    await exporter.export([span({ spanId: '1111111111111111' })], { ...base, endpoint: collector.url })
    await exporter.export([span({ spanId: '2222222222222222' })], { ...base, endpoint: other.url })
    expect(collector.spans.map((s) => s.spanId)).toContain('1111111111111111')
    expect(other.spans.map((s) => s.spanId)).toEqual(['2222222222222222'])
    await expect(exporter.export([span()], { ...base, endpoint: 'http://127.0.0.1:1/v1/traces' })).rejects.toBeDefined()
    await exporter.shutdown?.()
  })
})
