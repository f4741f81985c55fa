import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { emptyBuckets, LATENCY_BUCKET_BOUNDS_SECONDS, LATENCY_BUCKET_COUNT, MAX_TELEMETRY_SERIES, type TelemetryPush } from '../../mesh/src/telemetry/index'
import { sweepTelemetry } from '../../control-api/src/telemetry/telemetry-retention'
import { backends } from '../support/databases'
import { startHarness, type Harness } from '../support/harness'

/** Buckets with `n` observations in the bucket bounded by `le` seconds. */
function buckets(entries: [le: number, n: number][]): number[] {
  const b = emptyBuckets()
  for (const [le, n] of entries) b[LATENCY_BUCKET_BOUNDS_SECONDS.indexOf(le as never)]! += n
  return b
}

type Series = { direction: 'inbound' | 'outbound'; source: string; destination: string; route?: string; statusClass: '2xx' | '4xx' | '5xx'; reason?: string; count: number; latency?: [number, number][]; sum?: number }

function pushOf(proxyId: string, seq: number, at: Date, series: Series[]): TelemetryPush {
  return {
    proxyId,
    seq,
    observedAt: at.toISOString(),
    requests: series.map((s) => ({ direction: s.direction, source: s.source, destination: s.destination, route: s.route ?? '', statusClass: s.statusClass, reason: s.reason ?? '', count: s.count })),
    latency: series
      .filter((s) => s.latency)
      .map((s) => ({ direction: s.direction, source: s.source, destination: s.destination, route: s.route ?? '', statusClass: s.statusClass, buckets: buckets(s.latency!), sumSeconds: s.sum ?? 0 })),
  }
}

describe.each(backends)('telemetry on $name', (backend) => {
  let h: Harness
  let key: string
  const tokens: Record<string, string> = {}
  const tokenFor = async (adminKey: string, service: string) => {
    await h.request('POST', '/v1/services', { key: adminKey, body: { name: service } })
    const jt = await h.request('POST', `/v1/services/${service}/join-tokens`, { key: adminKey })
    const r = await h.request('POST', '/v1/identity/token', { key: jt.body.secret })
    if (r.status !== 200) throw new Error(`token for ${service}: ${r.status} ${r.text}`)
    return r.body.token as string
  }
  const push = (token: string, body: unknown) => h.request('POST', '/v1/proxy/telemetry', { key: token, body })
  const graph = async (k: string, window = '15m') => {
    const r = await h.request('GET', `/v1/telemetry/graph?window=${window}`, { key: k })
    expect(r.status, r.text).toBe(200)
    return r.body
  }

  beforeAll(async () => {
    h = await startHarness(backend)
    // Pin the clock 30 s into a minute, so every push below lands in one minute and rates are exact.
    h.clock.advance(30_000 - (h.clock.now().getTime() % 60_000))
    key = (await h.onboard('tel')).adminKey
    for (const s of ['orders', 'payments', 'web']) tokens[s] = await tokenFor(key, s)
  })
  afterAll(() => h.close())

  it('rolls pushes up per minute and computes the edge from merged histograms (hand-computed)', async () => {
    const now = h.clock.now()
    const a = randomUUID()
    const b = randomUUID()
    // Two orders proxies call payments. Proxy A: 90 × 2xx in (25, 50] ms. Proxy B: 8 × 2xx in (0.5, 1] s and
    // 2 proxy-made 5xx (no-healthy-upstream) in (0, 0.5] ms.
    expect((await push(tokens.orders!, pushOf(a, 1, now, [{ direction: 'outbound', source: 'orders', destination: 'payments', statusClass: '2xx', count: 90, latency: [[0.05, 90]], sum: 3.6 }]))).body).toMatchObject({ duplicate: false, series: 1 })
    const r = await push(
      tokens.orders!,
      pushOf(b, 1, now, [
        { direction: 'outbound', source: 'orders', destination: 'payments', statusClass: '2xx', count: 8, latency: [[1, 8]], sum: 6 },
        { direction: 'outbound', source: 'orders', destination: 'payments', statusClass: '5xx', reason: 'no-healthy-upstream', count: 2, latency: [[0.0005, 2]], sum: 0.0004 },
      ]),
    )
    expect(r.status, r.text).toBe(200)
    // payments' own proxy saw the 98 that reached it: the graph must not add these to the caller's view.
    await push(tokens.payments!, pushOf(randomUUID(), 1, now, [{ direction: 'inbound', source: 'orders', destination: 'payments', statusClass: '2xx', count: 98, latency: [[0.025, 98]], sum: 1 }]))

    const g = await graph(key)
    // 15-minute window 30 s into the current minute: 14.5 minutes = 870 s.
    expect(g.window.seconds).toBe(870)
    expect(g.edges).toHaveLength(1)
    const e = g.edges[0]
    expect(e).toMatchObject({ source: 'orders', destination: 'payments', reporter: 'outbound', requests: 100, statusClasses: { '2xx': 98, '5xx': 2 }, reasons: { 'no-healthy-upstream': 2 } })
    expect(e.rps).toBeCloseTo(100 / 870, 4)
    expect(e.successRate).toBe(0.98)
    // Merged: 2 in (0, 0.5 ms], 90 in (25, 50 ms], 8 in (0.5, 1 s]. p50 rank 50 → 25 + 25 × 48/90 ms;
    // p95 rank 95 → 500 + 500 × 3/8 ms; p99 rank 99 → 500 + 500 × 7/8 ms.
    expect(e.latencyMs.p50).toBeCloseTo(25 + (25 * 48) / 90, 3)
    expect(e.latencyMs.p95).toBeCloseTo(687.5, 3)
    expect(e.latencyMs.p99).toBeCloseTo(937.5, 3)
    const nodes = Object.fromEntries(g.nodes.map((n: any) => [n.name, n]))
    expect(Object.keys(nodes).sort()).toEqual(['orders', 'payments'])
    expect(nodes.payments).toMatchObject({ requests: 100, successRate: 0.98 })
    expect(nodes.orders).toMatchObject({ requests: 0, successRate: null, latencyMs: { p50: null, p95: null, p99: null } })
  })

  it('a retried push is counted once; a new seq from the same proxy is counted', async () => {
    const now = h.clock.now()
    const id = randomUUID()
    const body = pushOf(id, 7, now, [{ direction: 'outbound', source: 'web', destination: 'orders', statusClass: '2xx', count: 5, latency: [[0.01, 5]], sum: 0.04 }])
    expect((await push(tokens.web!, body)).body.duplicate).toBe(false)
    const again = await push(tokens.web!, body)
    expect(again.status).toBe(200)
    expect(again.body.duplicate).toBe(true)
    const edge = async () => (await graph(key)).edges.find((x: any) => x.source === 'web' && x.destination === 'orders')
    expect((await edge()).requests).toBe(5)
    await push(tokens.web!, { ...body, seq: 8 })
    expect((await edge()).requests).toBe(10)
  })

  it("the reporter's own name comes from its token, whatever the body says", async () => {
    const now = h.clock.now()
    // web claims an outbound call "from payments" and an inbound call "to orders": both are web's.
    await push(
      tokens.web!,
      pushOf(randomUUID(), 1, now, [
        { direction: 'outbound', source: 'payments', destination: 'audit', statusClass: '2xx', count: 3 },
        { direction: 'inbound', source: 'browser', destination: 'orders', statusClass: '4xx', count: 4 },
      ]),
    )
    const g = await graph(key)
    expect(g.edges.find((x: any) => x.destination === 'audit').source).toBe('web')
    expect(g.edges.find((x: any) => x.source === 'browser')).toMatchObject({ destination: 'web', reporter: 'inbound', requests: 4, successRate: 1 })
  })

  it("one tenant's workload never writes into another's data, and each graph shows only its own", async () => {
    const other = (await h.onboard('tel-other')).adminKey
    const intruder = await tokenFor(other, 'orders')
    const now = h.clock.now()
    // Same proxy id and seq as a push of tenant tel: dedupe is per tenant, so it is not mistaken for a retry.
    const id = randomUUID()
    await push(tokens.orders!, pushOf(id, 1, now, [{ direction: 'outbound', source: 'orders', destination: 'ledger', statusClass: '2xx', count: 1 }]))
    const theirs = await push(intruder, pushOf(id, 1, now, [{ direction: 'outbound', source: 'orders', destination: 'secret-sink', statusClass: '2xx', count: 666 }]))
    expect(theirs.body.duplicate).toBe(false)
    // A tenant in the body is an unknown field, not a way to pick one.
    const named = await push(intruder, { ...pushOf(randomUUID(), 1, now, []), tenant: 'tel' })
    expect(named.status).toBe(400)
    expect(named.body.errors).toEqual([{ path: 'tenant', message: 'unknown field', code: 'unrecognized_keys' }])

    const mine = await graph(key)
    expect(mine.edges.map((x: any) => x.destination)).not.toContain('secret-sink')
    expect(mine.edges.find((x: any) => x.destination === 'ledger').requests).toBe(1)
    const otherGraph = await graph(other)
    expect(otherGraph.edges).toEqual([expect.objectContaining({ source: 'orders', destination: 'secret-sink', requests: 666 })])
    expect((await h.request('GET', '/v1/telemetry/services/secret-sink?window=5m', { key })).body.total.requests).toBe(0)
  })

  it('answers golden-signal series per minute, and per hour once downsampled', async () => {
    const t0 = h.clock.now()
    const id = randomUUID()
    await push(tokens.payments!, pushOf(id, 1, t0, [{ direction: 'inbound', source: 'web', destination: 'payments', statusClass: '2xx', count: 60, latency: [[0.1, 60]], sum: 3 }]))
    h.clock.advance(60_000)
    await push(tokens.payments!, pushOf(id, 2, h.clock.now(), [
      { direction: 'inbound', source: 'web', destination: 'payments', statusClass: '2xx', count: 27, latency: [[0.1, 27]], sum: 2 },
      { direction: 'inbound', source: 'web', destination: 'payments', statusClass: '5xx', count: 3, latency: [[0.25, 3]], sum: 0.6 },
    ]))
    const r = await h.request('GET', '/v1/telemetry/services/payments?window=3m&step=1m', { key })
    expect(r.status, r.text).toBe(200)
    expect(r.body).toMatchObject({ service: 'payments', reporter: 'inbound', resolution: 'minute', stepSeconds: 60 })
    const pts = r.body.points
    expect(pts).toHaveLength(3)
    // The minute of t0 holds the 98 from the first test plus these 60 (all inbound, payments' own view).
    expect(pts[1].requests).toBe(98 + 60)
    expect(pts[1].rps).toBeCloseTo(158 / 60, 4)
    // The current minute, 30 s old: 30 requests over 30 s, 3 failed.
    expect(pts[2]).toMatchObject({ requests: 30, rps: 1, successRate: 0.9 })
    // p50 rank 15 of 27 in (50, 100] ms → 50 + 50 × 15/27.
    expect(pts[2].latencyMs.p50).toBeCloseTo(50 + (50 * 15) / 27, 3)

    await sweepTelemetry(h.db, h.clock.now(), null)
    const hourly = await h.request('GET', '/v1/telemetry/services/payments?window=2h&step=1h', { key })
    expect(hourly.status, hourly.text).toBe(200)
    expect(hourly.body.resolution).toBe('hour')
    expect(hourly.body.total.requests).toBe(98 + 60 + 30)
    expect(hourly.body.total.statusClasses).toEqual({ '2xx': 185, '5xx': 3 })
    // A second sweep rewrites the hours: idempotent.
    await sweepTelemetry(h.db, h.clock.now(), h.clock.now())
    expect((await h.request('GET', '/v1/telemetry/services/payments?window=2h&step=1h', { key })).body.total.requests).toBe(188)
  })

  it('refuses bad input with problems naming the field, too many series with 413, and callers that are not proxies', async () => {
    const now = h.clock.now()
    const ok = pushOf(randomUUID(), 1, now, [])
    const bad = await push(tokens.orders!, {
      ...ok,
      seq: 0,
      latency: [{ direction: 'sideways', source: 'a', destination: 'b', route: '', statusClass: '6xx', buckets: [1, 2], sumSeconds: -1 }],
    })
    expect(bad.status).toBe(400)
    expect(bad.body.type).toBe('https://weft.dev/problems/validation-error')
    expect(bad.body.errors.map((e: any) => e.path).sort()).toEqual(['latency.0.buckets', 'latency.0.direction', 'latency.0.statusClass', 'latency.0.sumSeconds', 'seq'])

    const many = { ...ok, requests: Array.from({ length: MAX_TELEMETRY_SERIES + 1 }, (_, i) => ({ direction: 'outbound', source: 'orders', destination: `d${i}`, route: '', statusClass: '2xx', reason: '', count: 1 })) }
    const tooMany = await push(tokens.orders!, many)
    expect(tooMany.status).toBe(413)
    expect(tooMany.body.type).toBe('https://weft.dev/problems/payload-too-large')

    expect((await h.request('POST', '/v1/proxy/telemetry', { body: ok })).status).toBe(401)
    const byKey = await h.request('POST', '/v1/proxy/telemetry', { key, body: ok })
    expect(byKey.status).toBe(403)
    expect(byKey.body.detail).toMatch(/workload/)
    // Reading telemetry is for tenant keys, not for proxies.
    expect((await h.request('GET', '/v1/telemetry/graph', { key: tokens.orders })).status).toBe(403)

    for (const [path, field] of [
      ['/v1/telemetry/graph?window=2d', 'query.window'],
      ['/v1/telemetry/graph?window=fifteen', 'query.window'],
      ['/v1/telemetry/graph?window=90s', 'query.window'],
      ['/v1/telemetry/graph?since=1h', 'query.since'],
      ['/v1/telemetry/services/payments?window=1d&step=30s', 'query.step'],
      ['/v1/telemetry/services/payments?window=2d&step=1m', 'query.step'],
      ['/v1/telemetry/services/payments?window=1h&step=2h', 'query.step'],
      ['/v1/telemetry/services/Not_A_Name', 'param.name'],
    ]) {
      const r = await h.request('GET', path!, { key })
      expect(r.status, path).toBe(400)
      expect(r.body.errors.map((e: any) => e.path), path).toContain(field)
    }
    expect(LATENCY_BUCKET_COUNT).toBe(16)
  })

  // Last: it moves the clock by weeks, past every token's expiry.
  it('expires minutes after 48 h and hours after 30 days', async () => {
    const other = (await h.onboard('tel-retention')).adminKey
    const token = await tokenFor(other, 'svc')
    await push(token, pushOf(randomUUID(), 1, h.clock.now(), [{ direction: 'outbound', source: 'svc', destination: 'x', statusClass: '2xx', count: 1 }]))
    await sweepTelemetry(h.db, h.clock.now(), null)
    h.clock.advance(49 * 3_600_000)
    await sweepTelemetry(h.db, h.clock.now(), h.clock.now())
    expect((await graph(other, '24h')).edges).toEqual([])
    const week = await h.request('GET', '/v1/telemetry/services/x?window=3d&step=1h', { key: other })
    expect(week.status, week.text).toBe(200)
    expect(week.body.total.requests).toBe(1)
    h.clock.advance(30 * 24 * 3_600_000)
    await sweepTelemetry(h.db, h.clock.now(), h.clock.now())
    expect((await h.request('GET', '/v1/telemetry/services/x?window=30d&step=1d', { key: other })).body.total.requests).toBe(0)
  })
})
