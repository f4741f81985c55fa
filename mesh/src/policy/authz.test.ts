import { describe, expect, it } from 'vitest'
import type { Compiled } from '../snapshot/types'
import { authorize, compileAuthorization } from './authz'
import type { MeshRequest } from './mesh-request'
import { AuthorizationPolicySpec } from './schemas'

const ORDERS = 'spiffe://acme.weft/svc/orders'
const BILLING = 'spiffe://acme.weft/svc/billing'
const OTHER_TENANT = 'spiffe://evil.weft/svc/orders'

let clock = 0
function policy(name: string, spec: unknown): Compiled<AuthorizationPolicySpec> {
  clock += 1000
  return { name, createdAt: new Date(Date.UTC(2024, 0, 1) + clock).toISOString(), spec: AuthorizationPolicySpec.parse(spec) }
}
const allow = (name: string, rules: unknown[], extra: object = {}) => policy(name, { action: 'ALLOW', rules, ...extra })
const deny = (name: string, rules: unknown[], extra: object = {}) => policy(name, { action: 'DENY', rules, ...extra })

function req(method = 'GET', path = '/', headers: Record<string, string> = {}): MeshRequest {
  return { method, path, headers, query: {} }
}

type Expected = { decision: 'ALLOW' | 'DENY'; policy: string | null; rule: number | null }
const ALLOWED_BY_DEFAULT: Expected = { decision: 'ALLOW', policy: null, rule: null }
const DENIED_BY_DEFAULT: Expected = { decision: 'DENY', policy: null, rule: null }

const CASES: [string, Compiled<AuthorizationPolicySpec>[], MeshRequest, string | null, Expected][] = [
  ['no policy: allow', [], req(), ORDERS, ALLOWED_BY_DEFAULT],
  [
    'DENY beats ALLOW',
    [allow('allow-all', [{}]), deny('deny-orders', [{ from: { principals: [ORDERS] } }])],
    req(),
    ORDERS,
    { decision: 'DENY', policy: 'deny-orders', rule: 0 },
  ],
  ['no ALLOW policy and no DENY match: allow', [deny('deny-billing', [{ from: { principals: [BILLING] } }])], req(), ORDERS, ALLOWED_BY_DEFAULT],
  ['an ALLOW policy exists but does not match: deny', [allow('billing-only', [{ from: { principals: [BILLING] } }])], req(), ORDERS, DENIED_BY_DEFAULT],
  [
    'the matching ALLOW rule is reported by index',
    [allow('a', [{ from: { principals: [BILLING] } }, { to: { methods: ['GET'] } }])],
    req('GET'),
    ORDERS,
    { decision: 'ALLOW', policy: 'a', rule: 1 },
  ],
  ['an ALLOW policy with no rules allows nothing (Istio allow-nothing)', [allow('allow-nothing', [])], req(), ORDERS, DENIED_BY_DEFAULT],
  ['a DENY policy with no rules denies nothing', [deny('deny-nothing', [])], req(), ORDERS, ALLOWED_BY_DEFAULT],
  ['an empty rule matches every request', [allow('any', [{}])], req('DELETE', '/x'), null, { decision: 'ALLOW', policy: 'any', rule: 0 }],
  ['exact principal', [allow('a', [{ from: { principals: [ORDERS] } }])], req(), ORDERS, { decision: 'ALLOW', policy: 'a', rule: 0 }],
  ['prefix principal "spiffe://acme.weft/*"', [allow('a', [{ from: { principals: ['spiffe://acme.weft/*'] } }])], req(), BILLING, { decision: 'ALLOW', policy: 'a', rule: 0 }],
  ['prefix principal does not match another trust domain', [allow('a', [{ from: { principals: ['spiffe://acme.weft/*'] } }])], req(), OTHER_TENANT, DENIED_BY_DEFAULT],
  ['suffix principal "*/svc/orders"', [allow('a', [{ from: { principals: ['*/svc/orders'] } }])], req(), OTHER_TENANT, { decision: 'ALLOW', policy: 'a', rule: 0 }],
  ['principal "*" matches any authenticated caller', [allow('a', [{ from: { principals: ['*'] } }])], req(), BILLING, { decision: 'ALLOW', policy: 'a', rule: 0 }],
  ['principal "*" does not match an unauthenticated caller', [allow('a', [{ from: { principals: ['*'] } }])], req(), null, DENIED_BY_DEFAULT],
  ['a "*" inside a pattern is literal', [allow('a', [{ from: { principals: ['spiffe://*.weft/svc/orders'] } }])], req(), ORDERS, DENIED_BY_DEFAULT],
  [
    'notPrincipals ["*"] in DENY refuses unauthenticated callers',
    [deny('require-identity', [{ from: { notPrincipals: ['*'] } }])],
    req(),
    null,
    { decision: 'DENY', policy: 'require-identity', rule: 0 },
  ],
  ['notPrincipals ["*"] in DENY lets authenticated callers through', [deny('require-identity', [{ from: { notPrincipals: ['*'] } }])], req(), ORDERS, ALLOWED_BY_DEFAULT],
  [
    'notPrincipals: everyone but orders is denied',
    [deny('only-orders', [{ from: { notPrincipals: [ORDERS] } }])],
    req(),
    BILLING,
    { decision: 'DENY', policy: 'only-orders', rule: 0 },
  ],
  [
    'principals and notPrincipals together: both must hold',
    [allow('a', [{ from: { principals: ['spiffe://acme.weft/*'], notPrincipals: [BILLING] } }])],
    req(),
    BILLING,
    DENIED_BY_DEFAULT,
  ],
  ['methods: listed method', [allow('a', [{ to: { methods: ['POST'] } }])], req('POST'), ORDERS, { decision: 'ALLOW', policy: 'a', rule: 0 }],
  ['methods: other method', [allow('a', [{ to: { methods: ['POST'] } }])], req('GET'), ORDERS, DENIED_BY_DEFAULT],
  ['paths: "/charge*" matches "/charge/123"', [allow('a', [{ to: { paths: ['/charge*'] } }])], req('POST', '/charge/123'), ORDERS, { decision: 'ALLOW', policy: 'a', rule: 0 }],
  ['paths: "/charge*" does not match "/refund"', [allow('a', [{ to: { paths: ['/charge*'] } }])], req('POST', '/refund'), ORDERS, DENIED_BY_DEFAULT],
  ['paths: "*.json" suffix', [allow('a', [{ to: { paths: ['*.json'] } }])], req('GET', '/a/b.json'), ORDERS, { decision: 'ALLOW', policy: 'a', rule: 0 }],
  ['notPaths: "/admin*" denied elsewhere allowed', [allow('a', [{ to: { notPaths: ['/admin*'] } }])], req('GET', '/admin/users'), ORDERS, DENIED_BY_DEFAULT],
  ['notPaths: a path outside is allowed', [allow('a', [{ to: { notPaths: ['/admin*'] } }])], req('GET', '/public'), ORDERS, { decision: 'ALLOW', policy: 'a', rule: 0 }],
  [
    'from and to together: all fields must match',
    [allow('a', [{ from: { principals: [ORDERS] }, to: { methods: ['POST'], paths: ['/charge*'] } }])],
    req('GET', '/charge'),
    ORDERS,
    DENIED_BY_DEFAULT,
  ],
  [
    'headers: a listed value, header name in any case',
    [allow('a', [{ to: { headers: [{ name: 'X-Tenant-Tier', values: ['gold', 'silver'] }] } }])],
    req('GET', '/', { 'x-tenant-tier': 'silver' }),
    ORDERS,
    { decision: 'ALLOW', policy: 'a', rule: 0 },
  ],
  ['headers: a missing header matches no value, not even "*"', [allow('a', [{ to: { headers: [{ name: 'x-debug', values: ['*'] }] } }])], req(), ORDERS, DENIED_BY_DEFAULT],
  ['headers: values compare case-sensitively', [allow('a', [{ to: { headers: [{ name: 'x-env', values: ['prod'] }] } }])], req('GET', '/', { 'x-env': 'PROD' }), ORDERS, DENIED_BY_DEFAULT],
  ['an empty principals list is unset (proto3 semantics)', [allow('a', [{ from: { principals: [] } }])], req(), null, { decision: 'ALLOW', policy: 'a', rule: 0 }],
  [
    'a DENY from the older of two matching policies is reported',
    [deny('deny-1', [{}]), deny('deny-2', [{}])],
    req(),
    ORDERS,
    { decision: 'DENY', policy: 'deny-1', rule: 0 },
  ],
  ['a dry-run DENY never decides', [deny('dry-deny', [{}], { dryRun: true })], req(), ORDERS, ALLOWED_BY_DEFAULT],
  ['a dry-run ALLOW does not turn on default-deny', [allow('dry-allow', [{ from: { principals: [BILLING] } }], { dryRun: true })], req(), ORDERS, ALLOWED_BY_DEFAULT],
  [
    'a dry-run ALLOW does not rescue a request an enforced ALLOW refuses',
    [allow('enforced', [{ from: { principals: [BILLING] } }]), allow('dry-allow', [{}], { dryRun: true })],
    req(),
    ORDERS,
    DENIED_BY_DEFAULT,
  ],
]

describe('authorize (Istio semantics)', () => {
  it.each(CASES)('%s', (_, policies, request, principal, expected) => {
    const decision = authorize(policies, request, principal)
    expect({ decision: decision.decision, policy: decision.policy, rule: decision.rule }).toEqual(expected)
    expect(decision.reason).toMatch(new RegExp(`^${expected.decision}: `))
  })

  it('reports dry-run policies with what they would have done', () => {
    const authz = compileAuthorization([
      deny('dry-deny', [{ from: { principals: [BILLING] } }, { to: { paths: ['/admin*'] } }], { dryRun: true }),
      allow('dry-allow', [{ from: { principals: [ORDERS] } }], { dryRun: true }),
    ])
    const d = authz.authorize(req('GET', '/admin/x'), BILLING)
    expect(d.decision).toBe('ALLOW')
    expect(d.dryRun).toEqual([
      { policy: 'dry-deny', action: 'DENY', rule: 0, wouldBe: 'DENY', reason: expect.stringContaining('not enforced') },
      { policy: 'dry-allow', action: 'ALLOW', rule: null, wouldBe: 'DENY', reason: expect.stringContaining('no rule matches') },
    ])
    expect(authz.authorize(req(), ORDERS).dryRun).toEqual([
      expect.objectContaining({ policy: 'dry-deny', rule: null, wouldBe: 'ALLOW' }),
      expect.objectContaining({ policy: 'dry-allow', rule: 0, wouldBe: 'ALLOW' }),
    ])
  })

  it('returns prebuilt decisions when no dry-run policy exists', () => {
    const authz = compileAuthorization([allow('a', [{ to: { methods: ['GET'] } }])])
    expect(authz.authorize(req('GET'), ORDERS)).toBe(authz.authorize(req('GET', '/other'), BILLING))
    expect(authz.authorize(req('POST'), ORDERS).dryRun).toEqual([])
  })

  it('explains why each rule did not match', () => {
    const authz = compileAuthorization([allow('payments-authz', [{ from: { principals: [ORDERS] }, to: { methods: ['POST'], paths: ['/charge*'] } }])])
    const { decision, rules } = authz.explain(req('GET', '/charge'), ORDERS)
    expect(decision.decision).toBe('DENY')
    expect(decision.reason).toContain('"payments-authz"')
    expect(rules).toEqual([
      { policy: 'payments-authz', action: 'ALLOW', dryRun: false, rule: 0, matches: false, reason: 'method in ["POST"] does not hold' },
    ])
  })
})
