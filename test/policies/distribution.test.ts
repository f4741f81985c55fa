import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sweepExpiredEndpoints } from '../../control-api/src/distribution/endpoint-expiry'
import { backends } from '../support/databases'
import { startHarness, type Harness } from '../support/harness'

/** The long poll is parked on the bus (a loaded machine may take a while to get there). */
async function untilWaiting(h: Harness, n: number): Promise<void> {
  const until = Date.now() + 10_000
  while (h.revisions.waiting() !== n) {
    if (Date.now() > until) throw new Error(`expected ${n} waiting long polls, have ${h.revisions.waiting()}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

const route = (weightV1: number) => ({
  kind: 'Route',
  name: 'payments-split',
  targetRef: { service: 'payments' },
  spec: { rules: [{ backendRefs: [{ labels: { version: 'v1' }, weight: weightV1 }, { labels: { version: 'v2' }, weight: 100 - weightV1 }] }] },
})

describe.each(backends)('snapshots and distribution on $name', (backend) => {
  let h: Harness
  let key: string
  let orders: string // a workload token of orders
  const config = (token: string, query: string, headers: Record<string, string> = {}) => h.request('GET', `/v1/proxy/config?${query}`, { key: token, headers })

  beforeAll(async () => {
    h = await startHarness(backend)
    key = (await h.onboard('dist')).adminKey
    for (const name of ['orders', 'payments']) await h.request('POST', '/v1/services', { key, body: { name, port: 8080 } })
    await h.request('POST', '/v1/services/payments/endpoints', { key, body: { address: '10.0.0.1', port: 8080, labels: { version: 'v1' }, zone: 'a' } })
    await h.request('POST', '/v1/services/payments/endpoints', { key, body: { address: '10.0.0.2', port: 8080, labels: { version: 'v2' }, zone: 'b' } })
    await h.request('POST', '/v1/services/payments/endpoints', { key, body: { address: '10.0.0.3', port: 8080, labels: { version: 'v1' }, health: 'unhealthy' } })
    await h.request('POST', '/v1/policies', { key, body: route(90) })
    await h.request('POST', '/v1/policies', {
      key,
      body: { kind: 'AuthorizationPolicy', name: 'orders-authz', targetRef: { service: 'orders' }, spec: { rules: [{ from: { principals: ['spiffe://dist.weft/svc/*'] } }] } },
    })
    const jt = await h.request('POST', '/v1/services/orders/join-tokens', { key, body: { maxUses: 10 } })
    orders = (await h.request('POST', '/v1/identity/token', { key: jt.body.secret })).body.token
  })
  afterAll(() => h.close())

  it("compiles one service's snapshot: its inbound rules, every callee with live healthy endpoints, routes, JWKS, revision", async () => {
    const r = await config(orders, 'service=orders')
    expect(r.status).toBe(200)
    const s = r.body
    expect(s).toMatchObject({ schema: 'weft.snapshot/v1', tenant: { slug: 'dist', trustDomain: 'dist.weft' }, service: { name: 'orders', spiffeId: 'spiffe://dist.weft/svc/orders' } })
    expect(s.revision).toBe(Number(r.headers.get('weft-revision')))
    expect(s.inbound.authorization.map((p: any) => p.name)).toEqual(['orders-authz'])
    expect(Object.keys(s.outbound).sort()).toEqual(['orders', 'payments'])
    expect(s.outbound.payments.endpoints.map((e: any) => e.address)).toEqual(expect.arrayContaining(['10.0.0.1', '10.0.0.2']))
    expect(s.outbound.payments.endpoints.map((e: any) => e.address)).not.toContain('10.0.0.3')
    expect(s.outbound.payments.routes[0]).toMatchObject({ name: 'payments-split', spec: { rules: [{ backendRefs: [{ weight: 90 }, { weight: 10 }] }] } })
    expect(s.jwks.keys.length).toBeGreaterThanOrEqual(2)
    expect(s.revokedWorkloads).toEqual([])
  })

  it('is deterministic: same revision, same bytes, same ETag, compiled once however many ask', async () => {
    const loads = h.snapshots.loads
    const many = await Promise.all(Array.from({ length: 20 }, () => config(orders, 'service=orders')))
    expect(new Set(many.map((r) => r.text)).size).toBe(1)
    expect(new Set(many.map((r) => r.headers.get('etag'))).size).toBe(1)
    expect(h.snapshots.loads - loads).toBeLessThanOrEqual(1)
    // A second control API instance over the same database compiles the same bytes.
    const other = await startHarness(backend, {}, { database: h.database, masterKey: h.masterKey })
    try {
      const again = await other.request('GET', '/v1/proxy/config?service=orders', { key: orders })
      expect(again.text).toBe(many[0]!.text)
      expect(again.headers.get('etag')).toBe(many[0]!.headers.get('etag'))
    } finally {
      await other.close()
    }
  })

  it('answers 304 to a matching If-None-Match, after waiting when asked to', async () => {
    const first = await config(orders, 'service=orders')
    const etag = first.headers.get('etag')!
    const now = await config(orders, 'service=orders', { 'if-none-match': etag })
    expect(now.status).toBe(304)
    const t0 = Date.now()
    const waited = await config(orders, 'service=orders&wait=1', { 'if-none-match': etag })
    expect(waited.status).toBe(304)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900)
    expect(h.revisions.waiting()).toBe(0)
  })

  it('wakes a long poll as soon as the revision changes, with the new snapshot', async () => {
    const first = await config(orders, 'service=orders')
    const poll = config(orders, 'service=orders&wait=30', { 'if-none-match': first.headers.get('etag')! })
    await untilWaiting(h, 1)
    const t0 = Date.now()
    const write = await h.request('PUT', '/v1/policies/payments-split', { key, body: route(50) })
    const woke = await poll
    expect(woke.status).toBe(200)
    expect(Date.now() - t0).toBeLessThan(1000)
    expect(woke.body.revision).toBe(Number(write.headers.get('weft-revision')))
    expect(woke.body.outbound.payments.routes[0].spec.rules[0].backendRefs.map((b: any) => b.weight)).toEqual([50, 50])
  })

  it("does not wake for another tenant's change, and cannot read another tenant's snapshot", async () => {
    const otherKey = (await h.onboard('dist-other')).adminKey
    await h.request('POST', '/v1/services', { key: otherKey, body: { name: 'payments' } })
    const first = await config(orders, 'service=orders')
    const poll = config(orders, 'service=orders&wait=1', { 'if-none-match': first.headers.get('etag')! })
    await h.request('POST', '/v1/policies', { key: otherKey, body: route(10) })
    expect((await poll).status).toBe(304)

    const jt = await h.request('POST', '/v1/services/payments/join-tokens', { key: otherKey })
    const theirs = (await h.request('POST', '/v1/identity/token', { key: jt.body.secret })).body.token
    const r = await config(theirs, 'service=payments')
    expect(r.status).toBe(200)
    expect(r.body.tenant.slug).toBe('dist-other')
    expect(r.text).not.toContain('10.0.0.1')
    expect(r.text).not.toContain('orders-authz')
    // A workload reads only its own service's snapshot.
    expect((await config(orders, 'service=payments')).status).toBe(403)
  })

  it('drops an endpoint whose TTL lapsed: the sweep makes it a new revision', async () => {
    await h.request('POST', '/v1/services/payments/endpoints', { key, body: { address: '10.0.0.9', port: 8080, labels: { version: 'v1' }, ttlSeconds: 5 } })
    const before = await config(orders, 'service=orders')
    expect(before.body.outbound.payments.endpoints.map((e: any) => e.address)).toContain('10.0.0.9')
    h.clock.advance(6_000)
    expect(await sweepExpiredEndpoints(h.db, h.clock.now())).toBeGreaterThanOrEqual(1)
    expect(await sweepExpiredEndpoints(h.db, h.clock.now())).toBe(0)
    const after = await config(orders, 'service=orders')
    expect(after.body.revision).toBeGreaterThan(before.body.revision)
    expect(after.body.outbound.payments.endpoints.map((e: any) => e.address)).not.toContain('10.0.0.9')
    const audit = await h.request('GET', '/v1/audit-events?action=endpoint.expire', { key })
    expect(audit.body.items[0].actor).toMatchObject({ type: 'system', name: 'endpoint-expiry' })
  })

  it('carries revoked workloads so proxies refuse their still-unexpired tokens', async () => {
    const jt = await h.request('POST', '/v1/services/payments/join-tokens', { key })
    const w = await h.request('POST', '/v1/identity/token', { key: jt.body.secret })
    await h.request('POST', `/v1/workloads/${w.body.workloadId}/revoke`, { key })
    const s = await config(orders, 'service=orders')
    expect(s.body.revokedWorkloads).toEqual([w.body.workloadId])
  })
})

describe.skipIf(!backends.some((b) => b.name === 'postgres'))('two control API instances over one PostgreSQL database', () => {
  it('a write on one wakes a long poll held by the other within a second (LISTEN/NOTIFY)', async () => {
    const backend = backends.find((b) => b.name === 'postgres')!
    const a = await startHarness(backend)
    const b = await startHarness(backend, {}, { database: a.database, masterKey: a.masterKey })
    try {
      const key = (await a.onboard('twins')).adminKey
      await a.request('POST', '/v1/services', { key, body: { name: 'payments' } })
      const jt = await a.request('POST', '/v1/services/payments/join-tokens', { key })
      const token = (await b.request('POST', '/v1/identity/token', { key: jt.body.secret })).body.token
      const first = await b.request('GET', '/v1/proxy/config?service=payments', { key: token })
      const poll = b.request('GET', '/v1/proxy/config?service=payments&wait=30', { key: token, headers: { 'if-none-match': first.headers.get('etag')! } })
      await untilWaiting(b, 1)
      const t0 = Date.now()
      const write = await a.request('POST', '/v1/policies', { key, body: route(70) })
      const woke = await poll
      expect(woke.status).toBe(200)
      expect(Date.now() - t0).toBeLessThan(1000)
      expect(woke.body.revision).toBe(Number(write.headers.get('weft-revision')))
    } finally {
      await b.close()
      await a.close()
    }
  })
})
