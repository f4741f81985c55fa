import { describe, expect, it } from 'vitest'
import type { Snapshot } from '../../../mesh/src/snapshot/types'
import { memoryLogger } from '../../test-support/loopback'
import { snapshotOf } from '../../test-support/snapshots'
import { createProxyMetrics } from './proxy-metrics'
import { parseTraceparent } from './traceparent'
import { ProxyTracing, sampledByRate, type AccessLogEntry, type ExportTarget, type FinishedSpan, type TraceExporter } from './tracing'

const TRACING = { endpoint: 'http://collector.test/v1/traces', headers: { 'x-api-key': 'k' }, sampleRate: 1 }
const traced = (sampleRate = 1, extra: Partial<Snapshot['tracing'] & object> = {}): Snapshot => snapshotOf('orders', [], {}, { tracing: { ...TRACING, sampleRate, ...extra } })

/** An exporter that keeps what it is given; `gate` holds exports until released, to fill the queue. */
function keeping(fail = false) {
  const batches: { spans: FinishedSpan[]; target: ExportTarget }[] = []
  let release: () => void = () => {}
  let gate: Promise<void> | null = null
  const exporter: TraceExporter = {
    async export(spans, target) {
      if (gate) await gate
      if (fail) throw new Error('collector down')
      batches.push({ spans: [...spans], target })
    },
  }
  return {
    exporter,
    batches,
    hold() {
      gate = new Promise((r) => (release = r))
    },
    release: () => release(),
  }
}

function tracingWith(exporter: TraceExporter | null, opts: { maxQueue?: number; maxBatch?: number; accessLog?: (e: AccessLogEntry) => void; accessLogMode?: 'all' | 'errors' } = {}) {
  const metrics = createProxyMetrics()
  let t = 1000
  const tracing = new ProxyTracing(() => (t += 5), memoryLogger(), metrics, { exporter, intervalMs: 60_000, ...opts })
  return { tracing, metrics }
}

const end = { status: 200, reason: '', source: 'orders', destination: 'payments', route: '', endMs: 2000 }

describe('sampledByRate', () => {
  it('is deterministic on the trace id and follows the rate', () => {
    const ids = Array.from({ length: 4000 }, (_, i) => (i * 2654435761 >>> 0).toString(16).padStart(32, '0'))
    const share = (rate: number) => ids.filter((id) => sampledByRate(id, rate)).length / ids.length
    expect(share(0)).toBe(0)
    expect(share(1)).toBe(1)
    expect(share(0.25)).toBeGreaterThan(0.2)
    expect(share(0.25)).toBeLessThan(0.3)
    // Nested: what a lower rate samples, a higher rate samples too (one decision per trace across proxies).
    for (const id of ids) if (sampledByRate(id, 0.1)) expect(sampledByRate(id, 0.5)).toBe(true)
  })
})

describe('ProxyTracing', () => {
  it('starts a root span sampled by the tenant rate, and continues an incoming trace with its flag', async () => {
    const k = keeping()
    const { tracing } = tracingWith(k.exporter)
    const none = tracing.begin('outbound', new Headers(), traced(0), 'GET', '/x')
    expect(none.recording).toBe(false)
    const headers = new Headers()
    none.propagate(headers)
    expect(parseTraceparent(headers.get('traceparent'))?.flags).toBe('00')

    const incoming = new Headers({ traceparent: `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-01`, tracestate: 'v=1' })
    const continued = tracing.begin('inbound', incoming, traced(0), 'GET', '/x')
    expect(continued.recording).toBe(true)
    continued.end(end)
    await tracing.flush()
    const [span] = k.batches[0]!.spans
    expect(span).toMatchObject({ traceId: 'ab'.repeat(16), parentSpanId: 'cd'.repeat(8), traceState: 'v=1', kind: 'server', name: 'GET orders' })
    expect(k.batches[0]!.target).toMatchObject({ endpoint: TRACING.endpoint, headers: { 'x-api-key': 'k' }, service: 'orders', tenant: 'acme' })
  })

  it('records nothing without a tenant collector or without an exporter, but still logs access', async () => {
    const lines: AccessLogEntry[] = []
    const k = keeping()
    const { tracing } = tracingWith(k.exporter, { accessLog: (e) => lines.push(e) })
    const off = tracing.begin('outbound', new Headers(), snapshotOf('orders', [], {}), 'GET', '/x')
    expect(off.recording).toBe(false)
    off.end({ ...end, status: 503, reason: 'unknown-service' })
    await tracing.flush()
    expect(k.batches).toEqual([])
    expect(lines).toEqual([
      expect.objectContaining({ direction: 'outbound', tenant: 'acme', service: 'orders', status: 503, reason: 'unknown-service', upstream: null, traceId: off.traceId }),
    ])
    expect(tracingWith(null).tracing.begin('outbound', new Headers(), traced(), 'GET', '/').recording).toBe(false)
  })

  it("with accessLogMode 'errors' logs what the proxy answered itself and upstream 5xx, not forwarded successes; spans are kept all the same", async () => {
    const k = keeping()
    const lines: AccessLogEntry[] = []
    const { tracing } = tracingWith(k.exporter, { accessLog: (e) => lines.push(e), accessLogMode: 'errors' })
    const ended = (status: number, reason: string) => {
      const t = tracing.begin('inbound', new Headers(), traced(), 'GET', `/${status}`)
      t.end({ ...end, status, reason })
    }
    ended(200, '')
    ended(404, '') // the app's own 404
    ended(403, 'denied')
    ended(429, 'rate-limited')
    ended(503, '') // an upstream's 503
    ended(499, 'client-closed')
    await tracing.flush()
    expect(lines.map((l) => [l.status, l.reason])).toEqual([
      [403, 'denied'],
      [429, 'rate-limited'],
      [503, undefined],
      [499, 'client-closed'],
    ])
    expect(k.batches.flatMap((b) => b.spans)).toHaveLength(6)
  })

  it('puts attempts on the span as events, retries after the first, and the reason as an attribute', async () => {
    const k = keeping()
    const lines: AccessLogEntry[] = []
    const { tracing } = tracingWith(k.exporter, { accessLog: (e) => lines.push(e) })
    const t = tracing.begin('outbound', new Headers({ 'x-request-id': 'req-1' }), traced(), 'POST', '/charge')
    t.attempt('10.0.0.1:80', 1500, { 'weft.outcome': '503' })
    t.attempt('10.0.0.2:80', 1600, { 'weft.outcome': 'connect-failure' })
    t.end({ ...end, status: 503, reason: 'connect-failure', route: 'payments-route/0' })
    await tracing.flush()
    const span = k.batches[0]!.spans[0]!
    expect(span.events.map((e) => [e.name, e.attributes['weft.attempt'], e.attributes['server.address']])).toEqual([
      ['attempt', 1, '10.0.0.1:80'],
      ['retry', 2, '10.0.0.2:80'],
    ])
    expect(span).toMatchObject({ kind: 'client', error: true, attributes: { 'weft.reason': 'connect-failure', 'http.route': 'payments-route/0', 'weft.request_id': 'req-1' } })
    expect(lines[0]).toMatchObject({ requestId: 'req-1', upstream: '10.0.0.2:80', attempts: 2, route: 'payments-route/0' })
  })

  it('drops spans beyond the queue bound and counts them; sends in batches of maxBatch', async () => {
    const k = keeping()
    const { tracing, metrics } = tracingWith(k.exporter, { maxQueue: 3, maxBatch: 2 })
    k.hold()
    // Two fill a batch, which goes to the (stuck) collector but still counts against the bound; one more fills
    // the queue; the rest drop, so a hung collector costs bounded memory.
    for (let i = 0; i < 6; i++) tracing.begin('outbound', new Headers(), traced(), 'GET', '/').end(end)
    k.release()
    await tracing.flush()
    expect(k.batches.map((b) => b.spans.length)).toEqual([2, 1])
    expect(metrics.render()).toMatch(/weft_spans_total\{outcome="dropped"\} 3\b/)
    expect(metrics.render()).toMatch(/weft_spans_total\{outcome="exported"\} 3\b/)
    // Once exported, room again.
    tracing.begin('outbound', new Headers(), traced(), 'GET', '/').end(end)
    await tracing.flush()
    expect(metrics.render()).toMatch(/weft_spans_total\{outcome="exported"\} 4\b/)
  })

  it('counts a failed export and keeps going', async () => {
    const { tracing, metrics } = tracingWith(keeping(true).exporter)
    tracing.begin('inbound', new Headers(), traced(), 'GET', '/').end(end)
    await expect(tracing.flush()).resolves.toBeUndefined()
    expect(metrics.render()).toMatch(/weft_spans_total\{outcome="failed"\} 1\b/)
  })

  it('sends each span to the collector configured when it ended', async () => {
    const k = keeping()
    const { tracing } = tracingWith(k.exporter)
    tracing.begin('inbound', new Headers(), traced(), 'GET', '/').end(end)
    tracing.begin('inbound', new Headers(), traced(1, { endpoint: 'http://other.test/v1/traces' }), 'GET', '/').end(end)
    await tracing.shutdown()
    expect(k.batches.map((b) => b.target.endpoint)).toEqual([TRACING.endpoint, 'http://other.test/v1/traces'])
  })

  it('gives up at shutdown after the grace period when the collector never answers', async () => {
    const hung: TraceExporter = { export: () => new Promise(() => {}) }
    const { tracing } = tracingWith(hung)
    tracing.begin('inbound', new Headers(), traced(), 'GET', '/').end(end)
    const started = Date.now()
    await tracing.shutdown(100)
    expect(Date.now() - started).toBeLessThan(2000)
  })
})
