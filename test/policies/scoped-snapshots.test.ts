import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { backends } from '../support/databases'
import { startHarness, type Harness } from '../support/harness'

// A service's declared `dependencies` cut its snapshot down to what it calls (Kuma's reachable services,
// Istio's Sidecar egress): what keeps snapshots small, and distribution fast, in a tenant of 1000 services.
describe.each(backends)('snapshots scoped by declared dependencies on $name', (backend) => {
  let h: Harness
  let key: string
  const tokens = new Map<string, string>()

  const snapshotOf = async (service: string) => {
    if (!tokens.has(service)) {
      const jt = await h.request('POST', `/v1/services/${service}/join-tokens`, { key, body: { maxUses: 1 } })
      tokens.set(service, (await h.request('POST', '/v1/identity/token', { key: jt.body.secret })).body.token)
    }
    const r = await h.request('GET', `/v1/proxy/config?service=${service}`, { key: tokens.get(service)! })
    expect(r.status).toBe(200)
    return { body: r.body, etag: r.headers.get('etag') }
  }

  beforeAll(async () => {
    h = await startHarness(backend)
    key = (await h.onboard('scoped')).adminKey
    for (const name of ['orders', 'payments', 'payments-v2', 'audit', 'ledger', 'search', 'unrelated']) {
      expect((await h.request('POST', '/v1/services', { key, body: { name } })).status).toBe(201)
    }
    // payments splits to another service and mirrors to a third; ledger is reached only through payments-v2's route.
    const policies = [
      {
        kind: 'Route',
        name: 'payments-canary',
        targetRef: { service: 'payments' },
        spec: {
          rules: [
            {
              backendRefs: [{ weight: 90 }, { service: 'payments-v2', weight: 10 }],
              filters: [{ type: 'RequestMirror', requestMirror: { backendRef: { service: 'audit' } } }],
            },
          ],
        },
      },
      { kind: 'Route', name: 'v2-to-ledger', targetRef: { service: 'payments-v2' }, spec: { rules: [{ backendRefs: [{ service: 'ledger' }] }] } },
    ]
    for (const body of policies) expect((await h.request('POST', '/v1/policies', { key, body })).status).toBe(201)
  })
  afterAll(() => h.close())

  it('stores dependencies as a sorted set; PATCH replaces or clears them; PUT without them clears them', async () => {
    const created = await h.request('POST', '/v1/services', { key, body: { name: 'checkout', dependencies: ['search', 'orders'] } })
    expect(created.status).toBe(201)
    expect(created.body.dependencies).toEqual(['orders', 'search'])
    const patched = await h.request('PATCH', '/v1/services/checkout', { key, body: { dependencies: ['payments'] } })
    expect(patched.body.dependencies).toEqual(['payments'])
    const untouched = await h.request('PATCH', '/v1/services/checkout', { key, body: { description: 'cart' } })
    expect(untouched.body.dependencies).toEqual(['payments'])
    const cleared = await h.request('PATCH', '/v1/services/checkout', { key, body: { dependencies: null } })
    expect(cleared.body.dependencies).toBeNull()
    await h.request('PATCH', '/v1/services/checkout', { key, body: { dependencies: ['orders'] } })
    const replaced = await h.request('PUT', '/v1/services/checkout', { key, body: { port: 81 } })
    expect(replaced.body.dependencies).toBeNull()
    expect((await h.request('GET', '/v1/services/orders', { key })).body.dependencies).toBeNull()
  })

  it('rejects dependencies that are not a set of service names, naming the field', async () => {
    const dup = await h.request('POST', '/v1/services', { key, body: { name: 'bad1', dependencies: ['orders', 'orders'] } })
    expect(dup.status).toBe(400)
    expect(dup.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ path: 'dependencies', message: expect.stringContaining('once') })]))
    const name = await h.request('POST', '/v1/services', { key, body: { name: 'bad2', dependencies: ['Not_A_Label'] } })
    expect(name.status).toBe(400)
    expect(name.body.errors[0].path).toBe('dependencies.0')
    const kind = await h.request('PATCH', '/v1/services/orders', { key, body: { dependencies: 'payments' } })
    expect(kind.status).toBe(400)
    expect((await h.request('GET', '/v1/services/bad1', { key })).status).toBe(404)
  })

  it('without dependencies a snapshot carries every service of the tenant', async () => {
    const { body } = await snapshotOf('search')
    expect(body.service.dependencies).toBeNull()
    expect(Object.keys(body.outbound)).toEqual(expect.arrayContaining(['orders', 'payments', 'payments-v2', 'audit', 'ledger', 'search', 'unrelated']))
  })

  it('with dependencies: itself, them, and every service their routes split or mirror to, transitively', async () => {
    await h.request('PATCH', '/v1/services/orders', { key, body: { dependencies: ['payments', 'not-yet-created'] } })
    const { body } = await snapshotOf('orders')
    expect(body.service.dependencies).toEqual(['not-yet-created', 'payments'])
    expect(Object.keys(body.outbound).sort()).toEqual(['audit', 'ledger', 'orders', 'payments', 'payments-v2'])
    expect(body.outbound.payments.routes.map((r: { name: string }) => r.name)).toEqual(['payments-canary'])
  })

  it('a dependency created later joins the snapshot; the declared order does not change bytes or ETag', async () => {
    await h.request('POST', '/v1/services', { key, body: { name: 'not-yet-created' } })
    const before = await snapshotOf('orders')
    expect(Object.keys(before.body.outbound)).toContain('not-yet-created')
    await h.request('PATCH', '/v1/services/orders', { key, body: { dependencies: ['payments', 'not-yet-created'] } })
    const a = await snapshotOf('orders')
    await h.request('PATCH', '/v1/services/orders', { key, body: { dependencies: ['not-yet-created', 'payments'] } })
    const b = await snapshotOf('orders')
    // Each PATCH is a new revision; apart from it the two snapshots are the same bytes.
    expect({ ...a.body, revision: 0 }).toEqual({ ...b.body, revision: 0 })
  })

  it('simulate and the proxy say why a service outside the dependencies cannot be called', async () => {
    const r = await h.request('POST', '/v1/simulate', { key, body: { source: { service: 'orders' }, destination: { service: 'unrelated' }, request: { path: '/' } } })
    expect(r.status).toBe(200)
    expect(r.body.reason).toBe('unknown-service')
    expect(r.body.detail).toContain('not among the dependencies "orders" declared')
    expect(r.body.detail).toContain('"payments"')
    const reachable = await h.request('POST', '/v1/simulate', { key, body: { source: { service: 'orders' }, destination: { service: 'payments' }, request: { path: '/' } } })
    // Reachable: the route matches; it has no endpoints registered, which is a different refusal.
    expect(reachable.body.reason).toBe('no-healthy-upstream')
    expect(reachable.body.route).toMatchObject({ policy: 'payments-canary', rule: 0 })
  })
})
