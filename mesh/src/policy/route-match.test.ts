import { describe, expect, it } from 'vitest'
import type { Compiled } from '../snapshot/types'
import type { MeshRequest } from './mesh-request'
import { ROUTE_MATCH_CASES, type RouteMatchCase } from './route-match.cases'
import { compileRoutes, matchRoute } from './route-match'
import { RouteSpec } from './schemas'

const toRequest = (r: RouteMatchCase['request']): MeshRequest => ({ method: r.method, path: r.path, headers: r.headers ?? {}, query: r.query ?? {} })

function summary(outcome: ReturnType<typeof matchRoute>): RouteMatchCase['expected'] {
  if (outcome.kind !== 'matched') return { kind: outcome.kind }
  return { kind: 'matched', policy: outcome.policy, rule: outcome.ruleIndex, match: outcome.matchIndex }
}

describe('route matching: Gateway API table', () => {
  it('has at least 30 cases', () => {
    expect(ROUTE_MATCH_CASES.length).toBeGreaterThanOrEqual(30)
  })

  it.each(ROUTE_MATCH_CASES.map((c) => [c.name, c] as const))('%s', (_, c) => {
    const outcome = compileRoutes(c.routes).match(toRequest(c.request))
    expect(summary(outcome)).toEqual(c.expected)
    expect(outcome.reason).toEqual(expect.any(String))
    // Route order in the snapshot must not matter: precedence alone decides.
    expect(summary(matchRoute([...c.routes].reverse(), toRequest(c.request)))).toEqual(c.expected)
  })
})

const route = (name: string, rules: unknown[], createdAt = '2024-01-01T00:00:00Z'): Compiled<RouteSpec> => ({ name, createdAt, spec: RouteSpec.parse({ rules }) })
const get = (path: string, headers: Record<string, string> = {}): MeshRequest => ({ method: 'GET', path, headers, query: {} })

describe('compileRoutes', () => {
  it('returns the rule object and the same outcome object on every call (no per-request allocation)', () => {
    const routes = [route('r', [{ matches: [{ path: { type: 'PathPrefix', value: '/api' } }], timeout: '2s' }])]
    const matcher = compileRoutes(routes)
    const a = matcher.match(get('/api/x'))
    const b = matcher.match(get('/api/y'))
    expect(a).toBe(b)
    expect(a.kind === 'matched' && a.rule).toBe(routes[0]!.spec.rules[0])
    expect(a.reason).toBe('Route "r" rule 0 match 0 (PathPrefix "/api") is the highest-precedence match for this request')
  })

  it('records skipped matches with the regex reason', () => {
    const matcher = compileRoutes([route('r', [{ matches: [{ path: { type: 'RegularExpression', value: '/(\\w+\\s?)*' } }, { path: { type: 'Exact', value: '/' } }] }])])
    expect(matcher.skipped).toEqual([{ policy: 'r', ruleIndex: 0, matchIndex: 0, reason: expect.stringContaining('nested quantifier') }])
    expect(matcher.match(get('/')).kind).toBe('matched')
  })

  it('explains every candidate in precedence order', () => {
    const matcher = compileRoutes([
      route('canary', [{ matches: [{ headers: [{ name: 'x-canary', value: '1' }] }] }, {}]),
      route('api', [{ matches: [{ path: { type: 'Exact', value: '/api' }, method: 'POST' }] }], '2024-02-01T00:00:00Z'),
    ])
    const { outcome, candidates } = matcher.explain(get('/api'))
    expect(outcome).toMatchObject({ kind: 'matched', policy: 'canary', ruleIndex: 1, matchIndex: null })
    expect(candidates).toEqual([
      { policy: 'api', ruleIndex: 0, matchIndex: 0, holds: false, reason: 'method POST does not hold' },
      { policy: 'canary', ruleIndex: 0, matchIndex: 0, holds: false, reason: 'header "x-canary" = "1" does not hold' },
      { policy: 'canary', ruleIndex: 1, matchIndex: null, holds: true, reason: 'holds: chosen, the highest precedence' },
    ])
  })

  it('does not read header values from the prototype', () => {
    const matcher = compileRoutes([route('r', [{ matches: [{ headers: [{ type: 'RegularExpression', name: 'constructor', value: '.*' }] }] }])])
    expect(matcher.match(get('/')).kind).toBe('not-found')
    expect(matcher.match(get('/', { constructor: 'x' })).kind).toBe('matched')
  })

  it('does not run a regex on a path over 8 KiB', () => {
    const matcher = compileRoutes([route('r', [{ matches: [{ path: { type: 'RegularExpression', value: '/.*' } }] }])])
    expect(matcher.match(get(`/${'a'.repeat(8190)}`)).kind).toBe('matched')
    expect(matcher.match(get(`/${'a'.repeat(8192)}`)).kind).toBe('not-found')
  })

  it('ranks an unparsable createdAt as the newest', () => {
    const matcher = compileRoutes([route('a', [{}], 'not a date'), route('b', [{}], '2030-01-01T00:00:00Z')])
    expect(matcher.match(get('/'))).toMatchObject({ policy: 'b' })
  })
})
