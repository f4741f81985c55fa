import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTelemetryPusher } from '../../edge-proxy/src/control/telemetry-push'
import { createProxyMetrics, type RequestObservation } from '../../edge-proxy/src/core/proxy-metrics'
import type { FetchLike } from '../../edge-proxy/src/control/control-http'
import { backends } from '../support/databases'
import { startHarness, type Harness } from '../support/harness'

const quiet = { debug() {}, info() {}, warn() {}, error() {} }

// The pusher against the real control API in-process (app.fetch). Network faults are injected around it:
// an answer lost after the control API committed, and a control API that cannot be reached.
describe.each(backends)('telemetry pusher on $name', (backend) => {
  let h: Harness
  let key: string
  let token: string
  beforeAll(async () => {
    h = await startHarness(backend)
    // Mid-minute, so that every push of a test lands in one minute.
    h.clock.advance(30_000 - (h.clock.now().getTime() % 60_000))
    key = (await h.onboard('push')).adminKey
    await h.request('POST', '/v1/services', { key, body: { name: 'orders' } })
    const jt = await h.request('POST', '/v1/services/orders/join-tokens', { key })
    token = (await h.request('POST', '/v1/identity/token', { key: jt.body.secret })).body.token
  })
  afterAll(() => h.close())

  type Fault = 'none' | 'lose-answer' | 'unreachable'
  function setup() {
    const metrics = createProxyMetrics()
    const calls: { seq: number; status: number | 'lost' | 'refused' }[] = []
    let fault: Fault = 'none'
    const fetch: FetchLike = async (input, init) => {
      const seq = JSON.parse(String(init?.body)).seq as number
      if (fault === 'unreachable') {
        calls.push({ seq, status: 'refused' })
        throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } })
      }
      const res = await h.app.fetch(new Request(input as string, init))
      if (fault === 'lose-answer') {
        await res.text()
        calls.push({ seq, status: 'lost' })
        throw new TypeError('fetch failed', { cause: { code: 'ECONNRESET' } })
      }
      calls.push({ seq, status: res.status })
      return res
    }
    const pusher = createTelemetryPusher({ controlUrl: 'http://control.test', proxyId: randomUUID(), metrics, token: async () => token, logger: quiet, fetch, now: () => h.clock.now().getTime() })
    const observe = (destination: string, n: number, o: Partial<RequestObservation> = {}) => {
      for (let i = 0; i < n; i++) metrics.observe({ direction: 'outbound', source: 'orders', destination, route: '', status: 200, reason: '', durationSeconds: 0.02, ...o })
    }
    return { metrics, pusher, calls, observe, setFault: (f: Fault) => (fault = f) }
  }
  const edge = async (destination: string) => {
    const g = await h.request('GET', '/v1/telemetry/graph?window=5m', { key })
    return g.body.edges.find((e: any) => e.destination === destination) ?? null
  }

  it('pushes deltas: what was observed since the last push, with latency buckets and Weft-Reason counts', async () => {
    const { pusher, calls, observe } = setup()
    observe('payments', 10)
    observe('payments', 2, { status: 503, reason: 'no-healthy-upstream', durationSeconds: 0.0001 })
    expect(await pusher.flush()).toBe(true)
    expect(await edge('payments')).toMatchObject({ requests: 12, statusClasses: { '2xx': 10, '5xx': 2 }, reasons: { 'no-healthy-upstream': 2 } })
    // Nothing new: no push at all.
    expect(await pusher.flush()).toBe(true)
    expect(calls).toHaveLength(1)
    observe('payments', 3)
    await pusher.flush()
    const e = await edge('payments')
    expect(e.requests).toBe(15)
    // 2 in (0, 0.5 ms], 13 in (10, 25 ms]: p50 rank 7.5 → 10 + 15 × 5.5/13 ms.
    expect(e.latencyMs.p50).toBeCloseTo(10 + (15 * 5.5) / 13, 3)
    expect(pusher.stats()).toMatchObject({ seq: 2, acknowledged: 2, duplicates: 0, pendingSeq: null })
  })

  it('an answer lost after the commit: the same batch is sent again, recognised, and counted once', async () => {
    const { pusher, calls, observe, setFault } = setup()
    observe('ledger', 4)
    setFault('lose-answer')
    expect(await pusher.flush()).toBe(false)
    expect(pusher.stats().pendingSeq).toBe(1)
    // Observed while the batch is unacknowledged: kept for the next batch, never merged into the sent one.
    observe('ledger', 6)
    setFault('none')
    expect(await pusher.flush()).toBe(true)
    expect(calls.map((c) => [c.seq, c.status])).toEqual([
      [1, 'lost'],
      [1, 200],
      [2, 200],
    ])
    expect(pusher.stats()).toMatchObject({ duplicates: 1, pendingSeq: null })
    expect((await edge('ledger')).requests).toBe(10)
  })

  it('while the control API is unreachable, deltas merge into the unsent batch and arrive in full later', async () => {
    const { pusher, calls, observe, setFault } = setup()
    setFault('unreachable')
    observe('audit', 1)
    expect(await pusher.flush()).toBe(false)
    observe('audit', 2)
    expect(await pusher.flush()).toBe(false)
    setFault('none')
    observe('audit', 3)
    await pusher.stop()
    // The first batch (1 request) is resent unchanged; the 5 observed since go as the second.
    expect(calls.map((c) => [c.seq, c.status])).toEqual([
      [1, 'refused'],
      [1, 'refused'],
      [1, 200],
      [2, 200],
    ])
    expect((await edge('audit')).requests).toBe(6)
    expect(pusher.stats()).toMatchObject({ failures: 2, acknowledged: 2 })
  })

  it('refuses options that cannot work, at construction', () => {
    const metrics = createProxyMetrics()
    expect(() => createTelemetryPusher({ controlUrl: 'http://x', proxyId: 'not-a-uuid', metrics, token: async () => '', logger: quiet })).toThrow(/proxyId/)
    expect(() => createTelemetryPusher({ controlUrl: 'http://x', proxyId: randomUUID(), metrics, token: async () => '', logger: quiet, intervalMs: 0 })).toThrow(/intervalMs/)
  })
})
