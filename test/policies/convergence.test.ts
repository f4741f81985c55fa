import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { backends } from '../support/databases'
import { startHarness, type Harness } from '../support/harness'

// Proxies acknowledge the revision they applied on every config poll; the API turns that into a list of
// live proxies and, per revision, who has it and how long it took.
describe.each(backends)('proxies and convergence on $name', (backend) => {
  let h: Harness
  let key: string
  const ids = { a: crypto.randomUUID(), b: crypto.randomUUID() }
  const tokens: Record<string, string> = {}
  const poll = (who: 'a' | 'b', service: string, applied: number, labels = 'version=v1') =>
    h.request('GET', `/v1/proxy/config?service=${service}`, {
      key: tokens[who],
      headers: { 'weft-proxy-id': ids[who], 'weft-applied-revision': String(applied), 'weft-proxy-runtime': who === 'a' ? 'node' : 'workers', 'weft-proxy-labels': labels },
    })
  beforeAll(async () => {
    h = await startHarness(backend)
    key = (await h.onboard('conv')).adminKey
    for (const name of ['orders', 'payments']) await h.request('POST', '/v1/services', { key, body: { name } })
    for (const [who, svc] of [['a', 'orders'], ['b', 'payments']] as const) {
      const jt = await h.request('POST', `/v1/services/${svc}/join-tokens`, { key })
      tokens[who] = (await h.request('POST', '/v1/identity/token', { key: jt.body.secret })).body.token
    }
  })
  afterAll(() => h.close())

  it('lists live proxies with service, labels, runtime and applied revision', async () => {
    const first = await poll('a', 'orders', 0)
    await poll('a', 'orders', first.body.revision)
    await poll('b', 'payments', first.body.revision, 'version=v2,zone=eu')
    const r = await h.request('GET', '/v1/proxies', { key })
    expect(r.status).toBe(200)
    expect(r.body.items).toEqual([
      expect.objectContaining({ id: ids.a, service: 'orders', runtime: 'node', labels: { version: 'v1' }, appliedRevision: first.body.revision, live: true }),
      expect.objectContaining({ id: ids.b, service: 'payments', runtime: 'workers', labels: { version: 'v2', zone: 'eu' }, live: true }),
    ])
    expect((await h.request('GET', '/v1/proxies?service=payments', { key })).body.items.map((p: any) => p.id)).toEqual([ids.b])
  })

  it('shows which FilterChain modules a proxy reports missing; garbage in the header is ignored', async () => {
    const digest = 'ab'.repeat(32)
    const other = 'cd'.repeat(32)
    const at = async (header: string) => {
      await h.request('GET', '/v1/proxy/config?service=payments', {
        key: tokens.b,
        headers: { 'weft-proxy-id': ids.b, 'weft-applied-revision': '0', 'weft-proxy-runtime': 'workers', 'weft-missing-filters': header },
      })
      return (await h.request('GET', '/v1/proxies?service=payments', { key })).body.items[0].missingFilters
    }
    expect(await at(`${other}, ${digest.toUpperCase()},not-a-digest,${other}`)).toEqual([digest, other])
    // Rebuilt and redeployed: the next poll without the header clears it.
    expect(await at('')).toEqual([])
    expect((await h.request('GET', '/v1/proxies?service=orders', { key })).body.items[0].missingFilters).toEqual([])
  })

  it('says which proxies have applied a revision and how long each took', async () => {
    const write = await h.request('POST', '/v1/policies', {
      key,
      body: { kind: 'AuthorizationPolicy', name: 'lock', targetRef: { service: 'payments' }, spec: { rules: [] } },
    })
    const revision = Number(write.headers.get('weft-revision'))
    const before = await h.request('GET', `/v1/revisions/${revision}/convergence`, { key })
    expect(before.body).toMatchObject({ revision, converged: false, applied: 0, pending: 2 })
    expect(before.body.writtenAt).not.toBeNull()

    const got = await poll('a', 'orders', revision - 1)
    expect(got.body.revision).toBe(revision)
    await poll('a', 'orders', revision)
    const half = await h.request('GET', `/v1/revisions/${revision}/convergence`, { key })
    expect(half.body).toMatchObject({ converged: false, applied: 1, pending: 1 })
    const a = half.body.proxies.find((p: any) => p.id === ids.a)
    expect(a.applied).toBe(true)
    expect(a.latencyMs).toBeGreaterThanOrEqual(0)
    expect(a.latencyMs).toBeLessThan(10_000)

    await poll('b', 'payments', revision)
    const done = await h.request('GET', `/v1/revisions/${revision}/convergence`, { key })
    expect(done.body).toMatchObject({ converged: true, applied: 2, pending: 0 })
    expect((await h.request('GET', `/v1/revisions/${revision + 100}/convergence`, { key })).status).toBe(404)
  })

  it('forgets proxies that stopped polling, and another tenant sees none of them', async () => {
    const other = (await h.onboard('conv-other')).adminKey
    expect((await h.request('GET', '/v1/proxies', { key: other })).body.items).toEqual([])
    h.clock.advance(5 * 60_000)
    expect((await h.request('GET', '/v1/proxies', { key })).body.items).toEqual([])
    expect((await h.request('GET', '/v1/proxies?includeGone=true', { key })).body.items).toHaveLength(2)
  })
})
