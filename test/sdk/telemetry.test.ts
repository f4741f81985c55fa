// weft.telemetry against the live control API in-process (the harness app's fetch is the SDK's transport).
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Forbidden, ValidationError, Weft, type FetchLike } from '@weft/sdk'
import { emptyBuckets } from '../../mesh/src/telemetry/latency-histogram'
import { backends } from '../support/databases'
import { startHarness, type Harness } from '../support/harness'

describe.each(backends)('weft.telemetry on $name', (backend) => {
  let h: Harness
  let tenant: Weft
  let proxy: Weft
  beforeAll(async () => {
    h = await startHarness(backend)
    h.clock.advance(30_000 - (h.clock.now().getTime() % 60_000))
    const { adminKey } = await h.onboard('sdktel')
    const fetch: FetchLike = (req) => h.app.fetch(req as Request)
    tenant = new Weft({ baseUrl: 'http://weft.test', apiKey: adminKey, fetch })
    await tenant.services.create({ name: 'orders' })
    const jt = await tenant.joinTokens.create('orders')
    const { token } = await new Weft({ baseUrl: 'http://weft.test', apiKey: jt.secret, fetch }).identity.token()
    proxy = new Weft({ baseUrl: 'http://weft.test', apiKey: token, fetch })
  })
  afterAll(() => h.close())

  it('a proxy pushes (a retry is counted once); the tenant reads the graph and a service series', async () => {
    const buckets = emptyBuckets()
    buckets[4] = 10
    const body = {
      proxyId: randomUUID(),
      seq: 1,
      observedAt: h.clock.now().toISOString(),
      requests: [{ direction: 'outbound' as const, source: 'orders', destination: 'payments', route: '', statusClass: '2xx' as const, reason: '', count: 10 }],
      latency: [{ direction: 'outbound' as const, source: 'orders', destination: 'payments', route: '', statusClass: '2xx' as const, buckets, sumSeconds: 0.08 }],
    }
    expect((await proxy.telemetry.push(body)).duplicate).toBe(false)
    expect((await proxy.telemetry.push(body)).duplicate).toBe(true)
    const g = await tenant.telemetry.graph({ window: '5m' })
    expect(g.edges).toEqual([expect.objectContaining({ source: 'orders', destination: 'payments', requests: 10, successRate: 1 })])
    // 10 in (5, 10] ms: p50 rank 5 → 7.5 ms.
    expect(g.edges[0]!.latencyMs.p50).toBe(7.5)
    const s = await tenant.telemetry.service('payments', { window: '5m', step: '1m' })
    expect(s.points).toHaveLength(5)
    expect(s.total).toMatchObject({ requests: 10, successRate: 1 })
  })

  it('errors are the typed classes', async () => {
    const e = await tenant.telemetry.graph({ window: '2d' }).then(
      () => null,
      (err: unknown) => err,
    )
    expect(e).toBeInstanceOf(ValidationError)
    expect((e as ValidationError).errors?.[0]?.path).toBe('query.window')
    await expect(tenant.telemetry.push({ proxyId: randomUUID(), seq: 1, observedAt: new Date().toISOString(), requests: [], latency: [] })).rejects.toBeInstanceOf(Forbidden)
  })
})
