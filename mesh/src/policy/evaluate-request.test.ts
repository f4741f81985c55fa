import { describe, expect, it } from 'vitest'
import { SNAPSHOT_SCHEMA, type OutboundService, type Snapshot, type SnapshotEndpoint } from '../snapshot/types'
import { evaluateInbound, evaluateOutbound, simulate } from './evaluate-request'
import type { MeshRequest } from './mesh-request'
import { AuthorizationPolicySpec, FaultPolicySpec, RateLimitPolicySpec, RouteSpec } from './schemas'

const TD = 'acme.weft'
const id = (service: string) => `spiffe://${TD}/svc/${service}`
const CREATED = '2024-01-01T00:00:00.000Z'

const endpoint = (eid: string, version: string): SnapshotEndpoint => ({ id: eid, address: '10.0.0.1', port: 15006, zone: null, labels: { version }, weight: 1, health: 'healthy' })

function outbound(name: string, endpoints: SnapshotEndpoint[], routes: { name: string; spec: unknown }[] = []): OutboundService {
  return {
    name,
    spiffeId: id(name),
    protocol: 'http',
    port: 8080,
    labels: {},
    endpoints,
    routes: routes.map((r) => ({ name: r.name, createdAt: CREATED, spec: RouteSpec.parse(r.spec) })),
    backendPolicy: null,
  }
}

function snapshot(name: string, out: OutboundService[], inbound: Partial<Snapshot['inbound']> = {}): Snapshot {
  return {
    schema: SNAPSHOT_SCHEMA,
    revision: 7,
    tenant: { slug: 'acme', trustDomain: TD },
    issuer: 'http://localhost:8787',
    service: { name, spiffeId: id(name), protocol: 'http', port: 8080, labels: {}, dependencies: null },
    inbound: { authorization: [], rateLimits: [], faults: [], filterChain: null, ...inbound },
    outbound: Object.fromEntries(out.map((o) => [o.name, o])),
    jwks: { keys: [] },
    revokedWorkloads: [],
  }
}

// The canonical examples of DESIGN.md, "Policies".
const PAYMENTS_CANARY = {
  name: 'payments-canary',
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

const orders = snapshot('orders', [
  outbound('payments', [endpoint('p1', 'v1'), endpoint('p2', 'v1'), endpoint('p3', 'v2')], [PAYMENTS_CANARY]),
  outbound('ledger', [endpoint('l1', 'v1')], [{ name: 'ledger-api', spec: { rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/entries' } }] }] } }]),
  outbound('audit', []),
])

const payments = snapshot('payments', [], {
  authorization: [
    {
      name: 'payments-authz',
      createdAt: CREATED,
      spec: AuthorizationPolicySpec.parse({ action: 'ALLOW', rules: [{ from: { principals: [id('orders')] }, to: { methods: ['POST'], paths: ['/charge*'] } }] }),
    },
  ],
  rateLimits: [{ name: 'payments-rl', createdAt: CREATED, spec: RateLimitPolicySpec.parse({ limits: [{ key: 'source', requestsPerUnit: 100, unit: 'second', burst: 20 }] }) }],
  faults: [{ name: 'payments-chaos', createdAt: CREATED, spec: FaultPolicySpec.parse({ match: { methods: ['POST'] }, delay: { percent: 5, fixedDelay: '200ms' } }) }],
  filterChain: {
    policy: 'payments-filters',
    filters: [{ filter: 'add-header', version: '1.0.0', sha256: 'a'.repeat(64), config: { name: 'x-hello', value: 'world' }, failurePolicy: 'closed' }],
  },
})

const req = (method: string, path: string, headers: Record<string, string> = {}): MeshRequest => ({ method, path, headers, query: {} })

describe('simulate', () => {
  it('answers the DESIGN.md example: canary header, authorized, limited, filtered', () => {
    const result = simulate(orders, payments, req('POST', '/charge', { 'x-canary': '1' }))
    expect(result).toMatchObject({
      source: { service: 'orders', principal: id('orders') },
      destination: { service: 'payments' },
      route: { policy: 'payments-canary', rule: 0, match: 0 },
      routing: { outcome: 'matched' },
      backends: [{ service: 'payments', labels: { version: 'v2' }, weight: 100, percent: 100, endpoints: 1 }],
      authorization: { decision: 'ALLOW', policy: 'payments-authz', rule: 0, dryRun: [] },
      rateLimits: [{ policy: 'payments-rl', limit: 0, key: 'source', keyValue: id('orders'), capacity: 120, refillPerSecond: 100 }],
      faults: [{ policy: 'payments-chaos', delay: { percent: 5, delayMs: 200 }, abort: null }],
      filters: [{ policy: 'payments-filters', filter: 'add-header', version: '1.0.0', failurePolicy: 'closed' }],
    })
    expect(result.reason).toBeUndefined()
    expect(result.routing.reason).toContain('"payments-canary" rule 0 match 0')
    expect(result.authorization.reason).toContain('"payments-authz"')
    expect(result.filters[0]!.reason).toContain('1st of 1')
  })

  it('splits 90/10 without the canary header (rule 1, no matches)', () => {
    const result = simulate(orders, payments, req('POST', '/charge'))
    expect(result.route).toEqual({ policy: 'payments-canary', rule: 1, match: null })
    expect(result.backends.map((b) => [b.labels.version, b.percent, b.endpoints])).toEqual([
      ['v1', 90, 2],
      ['v2', 10, 1],
    ])
    expect(result.routing.candidates.map((c) => [c.ruleIndex, c.holds])).toEqual([
      [0, false],
      [1, true],
    ])
    expect(result.routing.candidates[0]!.reason).toBe('header "x-canary" = "1" does not hold')
  })

  it('reports an authorization DENY as the reason, with the failing condition', () => {
    const result = simulate(orders, payments, req('GET', '/charge'))
    expect(result).toMatchObject({ reason: 'authz-denied', authorization: { decision: 'DENY', policy: null, rule: null } })
    expect(result.authorization.rules).toEqual([expect.objectContaining({ policy: 'payments-authz', matches: false, reason: 'method in ["POST"] does not hold' })])
  })

  it('answers route: null with reason "route-not-found" when routes exist and none applies', () => {
    const ledger = snapshot('ledger', [])
    const result = simulate(orders, ledger, req('GET', '/balance'))
    expect(result.route).toBeNull()
    expect(result.reason).toBe('route-not-found')
    expect(result.routing.outcome).toBe('not-found')
    expect(result.backends).toEqual([])
    expect(JSON.parse(JSON.stringify(result))).toMatchObject({ route: null, reason: 'route-not-found' })
  })

  it('passes through a destination without routes, and reports no endpoints as no-healthy-upstream', () => {
    const result = simulate(orders, snapshot('audit', []), req('GET', '/'))
    expect(result).toMatchObject({ route: null, reason: 'no-healthy-upstream', routing: { outcome: 'pass-through' } })
    expect(result.backends).toEqual([expect.objectContaining({ service: 'audit', weight: 1, percent: 100, endpoints: 0 })])
    expect(result.detail).toContain('"audit"')
  })

  it('reports a destination the source may not call', () => {
    const result = simulate(orders, snapshot('secrets', []), req('GET', '/'))
    expect(result).toMatchObject({ route: null, reason: 'unknown-service', routing: { outcome: 'unknown-service' }, backends: [] })
  })

  it('serialises to plain JSON: nothing lost in a round trip', () => {
    const result = simulate(orders, payments, req('POST', '/charge', { 'x-canary': '1' }))
    expect(JSON.parse(JSON.stringify(result))).toEqual(result)
  })
})

describe('evaluateOutbound / evaluateInbound (the proxy hot path)', () => {
  it('compiles once per snapshot: the same outcome objects come back', () => {
    const a = evaluateOutbound(orders, 'payments', req('GET', '/x'))
    const b = evaluateOutbound(orders, 'payments', req('GET', '/y'))
    expect(a.route).toBe(b.route)
    expect(a.backends).toBe(b.backends)
    expect(a.route?.kind === 'matched' && a.route.rule.timeout).toBe('2s')
  })

  it('a new snapshot is compiled afresh', () => {
    const changed = snapshot('orders', [outbound('payments', [endpoint('p1', 'v1')], [{ name: 'only-api', spec: { rules: [{ matches: [{ path: { value: '/api' } }] }] } }])])
    expect(evaluateOutbound(orders, 'payments', req('GET', '/x')).refusal).toBeNull()
    expect(evaluateOutbound(changed, 'payments', req('GET', '/x')).refusal).toMatchObject({ reason: 'route-not-found' })
  })

  it('does not find a destination through the prototype', () => {
    expect(evaluateOutbound(orders, 'constructor', req('GET', '/')).refusal).toMatchObject({ reason: 'unknown-service' })
  })

  it('refuses an unauthenticated caller when an ALLOW policy names principals', () => {
    const inbound = evaluateInbound(payments.inbound, req('POST', '/charge'), null)
    expect(inbound.refusal).toMatchObject({ reason: 'authz-denied' })
    expect(inbound.rateLimits[0]).toMatchObject({ keyValue: 'anonymous' })
    expect(inbound.filterChain?.policy).toBe('payments-filters')
  })
})
