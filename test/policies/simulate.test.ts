import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { backends } from '../support/databases'
import { startHarness, type Harness } from '../support/harness'

// DESIGN.md's own example, end to end through the API: the request and answer shapes are fixed there.
describe.each(backends)('POST /v1/simulate on $name', (backend) => {
  let h: Harness
  let key: string
  const sim = (body: object) => h.request('POST', '/v1/simulate', { key, body })
  beforeAll(async () => {
    h = await startHarness(backend)
    key = (await h.onboard('acme')).adminKey
    for (const name of ['orders', 'payments', 'shipping']) await h.request('POST', '/v1/services', { key, body: { name } })
    for (const [addr, version] of [['10.0.0.1', 'v1'], ['10.0.0.2', 'v2']] as const) {
      await h.request('POST', '/v1/services/payments/endpoints', { key, body: { address: addr, port: 80, labels: { version } } })
    }
    const policies = [
      {
        kind: 'Route',
        name: 'payments-canary',
        targetRef: { service: 'payments' },
        spec: {
          rules: [
            { matches: [{ path: { type: 'PathPrefix', value: '/' }, headers: [{ name: 'x-canary', value: '1' }] }], backendRefs: [{ labels: { version: 'v2' }, weight: 100 }] },
            { backendRefs: [{ labels: { version: 'v1' }, weight: 90 }, { labels: { version: 'v2' }, weight: 10 }], timeout: '2s' },
          ],
        },
      },
      { kind: 'AuthorizationPolicy', name: 'payments-authz', targetRef: { service: 'payments' }, spec: { action: 'ALLOW', rules: [{ from: { principals: ['spiffe://acme.weft/svc/orders'] }, to: { methods: ['POST'], paths: ['/charge*'] } }] } },
      { kind: 'RateLimitPolicy', name: 'payments-rl', targetRef: { service: 'payments' }, spec: { limits: [{ key: 'source', requestsPerUnit: 100, unit: 'second', burst: 20 }] } },
      { kind: 'Route', name: 'shipping-api', targetRef: { service: 'shipping' }, spec: { rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/api' } }] }] } },
    ]
    for (const p of policies) expect((await h.request('POST', '/v1/policies', { key, body: p })).status).toBe(201)
  })
  afterAll(() => h.close())

  it('the canary header routes to v2, the caller is allowed by the rule that names it, the rate limit applies', async () => {
    const r = await sim({ source: { service: 'orders' }, destination: { service: 'payments' }, request: { method: 'POST', path: '/charge', headers: { 'X-Canary': '1' } } })
    expect(r.status).toBe(200)
    expect(r.body.route).toEqual({ policy: 'payments-canary', rule: 0, match: 0 })
    expect(r.body.reason).toBeUndefined()
    expect(r.body.backends).toEqual([expect.objectContaining({ service: 'payments', labels: { version: 'v2' }, weight: 100, percent: 100, endpoints: 1 })])
    expect(r.body.authorization).toMatchObject({ decision: 'ALLOW', policy: 'payments-authz', rule: 0 })
    expect(r.body.rateLimits).toEqual([expect.objectContaining({ policy: 'payments-rl' })])
    expect(r.body.revision).toBeGreaterThan(0)
  })

  it('without the header, the 90/10 rule applies', async () => {
    const r = await sim({ source: { service: 'orders' }, destination: { service: 'payments' }, request: { method: 'POST', path: '/charge' } })
    expect(r.body.route).toEqual({ policy: 'payments-canary', rule: 1, match: null })
    expect(r.body.backends.map((b: any) => [b.labels.version, b.percent])).toEqual([
      ['v1', 90],
      ['v2', 10],
    ])
  })

  it('an unlisted caller is denied, and the answer says by what', async () => {
    const r = await sim({ source: { service: 'shipping' }, destination: { service: 'payments' }, request: { method: 'POST', path: '/charge' } })
    expect(r.body.authorization).toMatchObject({ decision: 'DENY', policy: null, rule: null })
    expect(r.body.reason).toBe('authz-denied')
    expect(r.body.detail).toBeTruthy()
    const wrongPath = await sim({ source: { service: 'orders' }, destination: { service: 'payments' }, request: { method: 'POST', path: '/refund' } })
    expect(wrongPath.body.authorization.decision).toBe('DENY')
  })

  it('routes with matches that nothing matches: route null and route-not-found; no routes: pass-through', async () => {
    const r = await sim({ source: { service: 'orders' }, destination: { service: 'shipping' }, request: { method: 'GET', path: '/other' } })
    expect(r.body.route).toBeNull()
    expect(r.body.reason).toBe('route-not-found')
    const through = await sim({ source: { service: 'payments' }, destination: { service: 'orders' }, request: { method: 'GET', path: '/anything' } })
    expect(through.body.route).toBeNull()
    expect(through.body.routing.outcome).toBe('pass-through')
    expect(through.body.reason).toBe('no-healthy-upstream')
  })

  it('takes an external principal as the source', async () => {
    const r = await sim({ source: { principal: 'spiffe://acme.weft/svc/orders' }, destination: { service: 'payments' }, request: { method: 'POST', path: '/charge' } })
    expect(r.body.authorization.decision).toBe('ALLOW')
  })

  it('unknown services and bad requests are 400s naming the field; other tenants see nothing', async () => {
    const r = await sim({ source: { service: 'orders' }, destination: { service: 'ghost' }, request: { path: '/' } })
    expect(r.status).toBe(400)
    expect(r.body.errors[0].path).toBe('destination.service')
    expect((await sim({ source: { service: 'orders' }, destination: { service: 'payments' }, request: { path: 'no-slash' } })).status).toBe(400)
    const other = (await h.onboard('acme-other')).adminKey
    const theirs = await h.request('POST', '/v1/simulate', { key: other, body: { source: { service: 'orders' }, destination: { service: 'payments' }, request: { path: '/' } } })
    expect(theirs.status).toBe(400)
  })
})
