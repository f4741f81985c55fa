import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { moduleExporting } from '../support/wasm-module'
import { backends } from '../support/databases'
import { startHarness, type Harness } from '../support/harness'

const canary = {
  kind: 'Route',
  name: 'payments-canary',
  targetRef: { service: 'payments' },
  spec: {
    rules: [
      { matches: [{ path: { type: 'PathPrefix', value: '/' }, headers: [{ name: 'x-canary', value: '1' }] }], backendRefs: [{ labels: { version: 'v2' }, weight: 100 }] },
      {
        backendRefs: [
          { labels: { version: 'v1' }, weight: 90 },
          { labels: { version: 'v2' }, weight: 10 },
        ],
        timeout: '2s',
        retry: { attempts: 3, perTryTimeout: '500ms', retryOn: ['5xx', 'reset'] },
      },
    ],
  },
}

describe.each(backends)('policies on $name', (backend) => {
  let h: Harness
  let key: string
  const revision = async () => (await h.request('GET', '/v1/tenant', { key })).body.revision as number
  beforeAll(async () => {
    h = await startHarness(backend)
    key = (await h.onboard('pol')).adminKey
    for (const name of ['payments', 'orders']) await h.request('POST', '/v1/services', { key, body: { name } })
    await h.request('POST', '/v1/services/payments/endpoints', { key, body: { address: '10.0.0.1', port: 80, labels: { version: 'v1' } } })
  })
  afterAll(() => h.close())

  it("accepts DESIGN.md's canonical examples, bumping the revision each time", async () => {
    const wasm = moduleExporting(['proxy_abi_version_0_2_1', 'malloc'])
    const pushed = await h.request('POST', '/v1/filters?name=add-header&version=1.0.0', { key, raw: wasm as unknown as string, headers: { 'content-type': 'application/wasm' } })
    expect(pushed.status).toBe(201)
    const examples = [
      canary,
      { kind: 'AuthorizationPolicy', name: 'payments-authz', targetRef: { service: 'payments' }, spec: { action: 'ALLOW', rules: [{ from: { principals: ['spiffe://pol.weft/svc/orders'] }, to: { methods: ['POST'], paths: ['/charge*'] } }] } },
      { kind: 'RateLimitPolicy', name: 'payments-rl', targetRef: { service: 'payments' }, spec: { limits: [{ key: 'source', requestsPerUnit: 100, unit: 'second', burst: 20 }] } },
      { kind: 'FilterChain', name: 'payments-filters', targetRef: { service: 'payments' }, spec: { filters: [{ filter: 'add-header', version: '1.0.0', config: { name: 'x-hello', value: 'world' } }] } },
      { kind: 'BackendPolicy', name: 'payments-lb', targetRef: { service: 'payments' }, spec: { loadBalancer: { type: 'LeastRequest' }, outlierDetection: { consecutive5xx: 3 } } },
      { kind: 'FaultPolicy', name: 'payments-chaos', targetRef: { service: 'payments' }, spec: { abort: { percent: 5, httpStatus: 503 } } },
    ]
    for (const p of examples) {
      const before = await revision()
      const r = await h.request('POST', '/v1/policies', { key, body: p })
      expect(r.status, `${p.kind}: ${r.text}`).toBe(201)
      expect(r.body).toMatchObject({ kind: p.kind, name: p.name, version: 1 })
      expect(Number(r.headers.get('weft-revision'))).toBe(before + 1)
      expect(r.body.revision).toBe(before + 1)
    }
    // The canary's v2 subset has no endpoint yet: accepted, with a warning naming the field.
    const got = await h.request('GET', '/v1/policies/payments-canary', { key })
    expect(got.body.spec.rules[1].backendRefs[1].weight).toBe(10)
    const list = await h.request('GET', '/v1/policies?kind=Route', { key })
    expect(list.body.items.map((p: any) => p.name)).toEqual(['payments-canary'])
  })

  it('warns about backend selectors that match no endpoint, without refusing', async () => {
    const r = await h.request('PUT', '/v1/policies/warn-route', { key, body: { ...canary, name: 'warn-route' } })
    expect(r.status).toBe(201)
    expect(r.body.warnings.map((w: any) => w.path)).toEqual(['spec.rules.0.backendRefs.0.labels', 'spec.rules.1.backendRefs.1.labels'])
  })

  const bad: [string, object, string[]][] = [
    ['unknown target service', { ...canary, name: 'b1', targetRef: { service: 'nope' } }, ['targetRef.service']],
    ['unknown backend service', { ...canary, name: 'b2', spec: { rules: [{ backendRefs: [{ service: 'ghost', weight: 1 }] }] } }, ['spec.rules.0.backendRefs.0.service']],
    ['all weights zero', { ...canary, name: 'b3', spec: { rules: [{ backendRefs: [{ labels: { version: 'v1' }, weight: 0 }] }] } }, ['spec.rules.0.backendRefs']],
    ['regex that does not compile', { ...canary, name: 'b4', spec: { rules: [{ matches: [{ path: { type: 'RegularExpression', value: '/(unclosed' } }] }] } }, ['spec.rules.0.matches.0.path.value']],
    ['catastrophic regex', { ...canary, name: 'b5', spec: { rules: [{ matches: [{ headers: [{ type: 'RegularExpression', name: 'x', value: '(a+)+$' }] }] }] } }, ['spec.rules.0.matches.0.headers.0.value']],
    ['filter not in the registry', { kind: 'FilterChain', name: 'b6', targetRef: { service: 'payments' }, spec: { filters: [{ filter: 'ghost', version: '9.9.9' }] } }, ['spec.filters.0']],
    ['principal that is not a SPIFFE ID', { kind: 'AuthorizationPolicy', name: 'b7', targetRef: { service: 'payments' }, spec: { rules: [{ from: { principals: ['orders'] } }] } }, ['spec.rules.0.from.principals.0']],
    ['unknown kind', { kind: 'VirtualService', name: 'b8', targetRef: { service: 'payments' }, spec: {} }, ['kind']],
    ['unknown field', { ...canary, name: 'b9', spec: { ...canary.spec, hosts: ['x'] } }, ['spec.hosts']],
    ['bad duration', { ...canary, name: 'b10', spec: { rules: [{ timeout: '2 seconds' }] } }, ['spec.rules.0.timeout']],
    ['path without leading slash', { ...canary, name: 'b11', spec: { rules: [{ matches: [{ path: { type: 'Exact', value: 'charge' } }] }] } }, ['spec.rules.0.matches.0.path.value']],
    ['consistent hash without a key', { kind: 'BackendPolicy', name: 'b12', targetRef: { service: 'payments' }, spec: { loadBalancer: { type: 'ConsistentHash' } } }, ['spec.loadBalancer.hashOn']],
    ['header-keyed limit without header', { kind: 'RateLimitPolicy', name: 'b13', targetRef: { service: 'payments' }, spec: { limits: [{ key: 'header', requestsPerUnit: 1 }] } }, ['spec.limits.0.header']],
    ['fault with neither delay nor abort', { kind: 'FaultPolicy', name: 'b14', targetRef: { service: 'payments' }, spec: {} }, ['spec']],
    ['filter with version and sha256', { kind: 'FilterChain', name: 'b15', targetRef: { service: 'payments' }, spec: { filters: [{ filter: 'x', version: '1', sha256: 'a'.repeat(64) }] } }, ['spec.filters.0']],
    ['redirect with backends', { ...canary, name: 'b16', spec: { rules: [{ filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https' } }], backendRefs: [{ weight: 1 }] }] } }, ['spec.rules.0.filters']],
    ['bad policy name', { ...canary, name: 'Bad_Name' }, ['name']],
  ]
  it.each(bad)('refuses %s with a 400 naming the field, writing nothing', async (_, body, paths) => {
    const before = await revision()
    const r = await h.request('POST', '/v1/policies', { key, body })
    expect(r.status).toBe(400)
    expect(r.headers.get('content-type')).toContain('application/problem+json')
    expect(r.body.errors.map((e: any) => e.path)).toEqual(expect.arrayContaining(paths))
    expect(await revision()).toBe(before)
    expect((await h.request('GET', `/v1/policies/${(body as any).name}`, { key })).status).toBe(404)
  })

  it('409 on a duplicate name; 412 on a stale If-Match; PUT of the same body changes nothing', async () => {
    expect((await h.request('POST', '/v1/policies', { key, body: canary })).status).toBe(409)
    const before = await revision()
    const same = await h.request('PUT', '/v1/policies/payments-canary', { key, body: canary })
    expect(same.status).toBe(200)
    expect(same.body.version).toBe(1)
    expect(await revision()).toBe(before)
    const stale = await h.request('PUT', '/v1/policies/payments-canary', { key, headers: { 'if-match': '"7"' }, body: { ...canary, spec: { rules: [{}] } } })
    expect(stale.status).toBe(412)
    const mismatch = await h.request('PUT', '/v1/policies/payments-canary', { key, body: { ...canary, name: 'other' } })
    expect(mismatch.status).toBe(400)
  })

  it('keeps history with diffs and rolls back in one call as a new revision', async () => {
    const v2 = structuredClone(canary)
    v2.spec.rules[1]!.backendRefs![0]!.weight = 50
    v2.spec.rules[1]!.backendRefs![1]!.weight = 50
    const upd = await h.request('PUT', '/v1/policies/payments-canary', { key, headers: { 'if-match': '"1"' }, body: v2 })
    expect(upd.status).toBe(200)
    expect(upd.body.version).toBe(2)
    const hist = await h.request('GET', '/v1/policies/payments-canary/history', { key })
    expect(hist.body.items.map((v: any) => [v.version, v.operation])).toEqual([
      [2, 'update'],
      [1, 'create'],
    ])
    expect(hist.body.items[0].diff).toEqual([
      { op: 'replace', path: '/spec/rules/1/backendRefs/0/weight', value: 50 },
      { op: 'replace', path: '/spec/rules/1/backendRefs/1/weight', value: 50 },
    ])
    const before = await revision()
    const rb = await h.request('POST', '/v1/policies/payments-canary/rollback', { key, body: { version: 1 } })
    expect(rb.status).toBe(200)
    expect(rb.body.version).toBe(3)
    expect(rb.body.revision).toBe(before + 1)
    expect(rb.body.spec.rules[1].backendRefs[0].weight).toBe(90)
    const after = await h.request('GET', '/v1/policies/payments-canary/history', { key })
    expect(after.body.items[0]).toMatchObject({ version: 3, operation: 'rollback' })
    const audit = await h.request('GET', '/v1/audit-events?resourceType=policy&resourceName=payments-canary', { key })
    expect(audit.body.items.map((e: any) => e.action)).toEqual(['policy.rollback', 'policy.update', 'policy.create'])
    expect((await h.request('POST', '/v1/policies/payments-canary/rollback', { key, body: { version: 99 } })).status).toBe(404)
  })

  it('delete keeps history; a deleted policy can be rolled back into existence', async () => {
    await h.request('POST', '/v1/policies', { key, body: { ...canary, name: 'doomed' } })
    expect((await h.request('DELETE', '/v1/policies/doomed', { key })).status).toBe(204)
    expect((await h.request('GET', '/v1/policies/doomed', { key })).status).toBe(404)
    const hist = await h.request('GET', '/v1/policies/doomed/history', { key })
    expect(hist.body.items.map((v: any) => v.operation)).toEqual(['delete', 'create'])
    expect((await h.request('POST', '/v1/policies/doomed/rollback', { key, body: { version: 2 } })).status).toBe(400)
    const back = await h.request('POST', '/v1/policies/doomed/rollback', { key, body: { version: 1 } })
    expect(back.status).toBe(200)
    expect((await h.request('GET', '/v1/policies/doomed', { key })).status).toBe(200)
  })

  it('viewers cannot write; another tenant sees nothing', async () => {
    const viewer = await h.createKey(key, 'viewer')
    expect((await h.request('POST', '/v1/policies', { key: viewer, body: { ...canary, name: 'v-route' } })).status).toBe(403)
    expect((await h.request('GET', '/v1/policies', { key: viewer })).status).toBe(200)
    const other = (await h.onboard('pol-other')).adminKey
    await h.request('POST', '/v1/services', { key: other, body: { name: 'payments' } })
    expect((await h.request('GET', '/v1/policies', { key: other })).body.items).toEqual([])
    for (const [m, path, body] of [
      ['GET', '/v1/policies/payments-canary'],
      ['DELETE', '/v1/policies/payments-canary'],
      ['GET', '/v1/policies/payments-canary/history'],
      ['POST', '/v1/policies/payments-canary/rollback', { version: 1 }],
    ] as [string, string, object?][]) {
      expect((await h.request(m, path, { key: other, body })).status, `${m} ${path}`).toBe(404)
    }
    // The same name is free in another tenant, and its FilterChain cannot see our registry.
    expect((await h.request('POST', '/v1/policies', { key: other, body: canary })).status).toBe(201)
    const chain = await h.request('POST', '/v1/policies', { key: other, body: { kind: 'FilterChain', name: 'f', targetRef: { service: 'payments' }, spec: { filters: [{ filter: 'add-header', version: '1.0.0' }] } } })
    expect(chain.status).toBe(400)
  })
})
