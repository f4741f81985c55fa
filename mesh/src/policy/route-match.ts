import type { Compiled } from '../snapshot/types'
import { fieldValue, type MeshRequest } from './mesh-request'
import { compilePathMatch, type CompiledPathMatch } from './path-match'
import { createdAtMs as policyCreatedAtMs } from './policy-order'
import { checkRegex, MAX_HEADER_VALUE_LENGTH, safeTest } from './safe-regex'
import type { RouteMatch, RouteRule, RouteSpec } from './schemas'

/**
 * Gateway API HTTPRoute matching across every Route policy that targets one service.
 *
 * Precedence (HTTPRouteRule.matches, gateway-api apis/v1/httproute_types.go): "Across all rules specified on
 * applicable Routes, precedence must be given to the match having: Exact path match; Prefix path match with
 * largest number of characters; Method match; Largest number of header matches; Largest number of query param
 * matches." Then "the oldest Route based on creation timestamp", then "the Route appearing first in
 * alphabetical order", then "the FIRST matching rule (in list order)". RegularExpression paths are
 * "implementation-specific": Weft ranks them as Istio's Gateway API translation does (pilot/pkg/config/kube/
 * gateway/conversion.go, `getURIRank`: "Exact > Prefix > Regex", then the longer value), so a regex rule
 * never shadows a prefix rule; note that a catch-all PathPrefix "/" therefore outranks every regex rule.
 * "When no rules matching a request have been successfully
 * attached ..., a HTTP 404 status code MUST be returned": `not-found`, which the proxy answers `route-not-found`.
 */

export type RouteOutcome =
  | { readonly kind: 'pass-through'; readonly reason: string }
  | {
      readonly kind: 'matched'
      readonly policy: string
      readonly ruleIndex: number
      /** Index in the rule's `matches`; null for a rule without matches (it matches every request). */
      readonly matchIndex: number | null
      readonly rule: RouteRule
      readonly reason: string
    }
  | { readonly kind: 'not-found'; readonly reason: string }

export type RouteMatched = Extract<RouteOutcome, { kind: 'matched' }>

/** A match that can never apply because it could not be compiled (an unsafe or invalid regex). */
export type SkippedRouteMatch = { readonly policy: string; readonly ruleIndex: number; readonly matchIndex: number; readonly reason: string }

/** One match as `explain` reports it, in precedence order. */
export type RouteCandidate = {
  readonly policy: string
  readonly ruleIndex: number
  readonly matchIndex: number | null
  readonly holds: boolean
  readonly reason: string
}

export type RouteExplanation = {
  readonly outcome: RouteOutcome
  readonly candidates: readonly RouteCandidate[]
  readonly skipped: readonly SkippedRouteMatch[]
}

export type RouteMatcher = {
  /** The hot path: no sorting, no regex compilation, no allocation; returns objects built at compile time. */
  match(request: MeshRequest): RouteOutcome
  /** For `simulate`: every candidate in precedence order with the condition that failed it. O(all matches). */
  explain(request: MeshRequest): RouteExplanation
  readonly skipped: readonly SkippedRouteMatch[]
}

type Condition = { readonly text: string; readonly test: (request: MeshRequest) => boolean }

/** One match, compiled: its conditions (all must hold, path first) and what precedence compares. */
type CompiledMatch = {
  readonly conditions: readonly Condition[]
  readonly path: CompiledPathMatch
  /** The path value of an Exact match, for the lookup map. */
  readonly exactPath: string | null
  readonly hasMethod: boolean
  readonly headerCount: number
  readonly queryCount: number
  readonly text: string
}

type Candidate = CompiledMatch & {
  readonly policy: string
  readonly createdAtMs: number
  readonly ruleIndex: number
  readonly matchIndex: number | null
  readonly outcome: RouteMatched
}

const PATH_RANK = { Exact: 2, PathPrefix: 1, RegularExpression: 0 } as const

const PASS_THROUGH: RouteOutcome = Object.freeze({
  kind: 'pass-through',
  reason: 'no Route policy targets this service: the request goes to all its endpoints',
})

/**
 * Compiles every Route policy of one service into a matcher. The proxy calls this once per snapshot; an
 * invalid or unsafe regex skips only its match (listed in `skipped`), never the snapshot.
 * Cost: O(m log m) here for m matches; `match` is O(m) in the worst case with an early exit, and Exact
 * paths are looked up in a map first (they outrank everything else).
 *
 * @example
 * const matcher = compileRoutes(snapshot.outbound.payments.routes)
 * const outcome = matcher.match({ method: 'GET', path: '/charge', headers: {}, query: {} })
 */
export function compileRoutes(routes: readonly Compiled<RouteSpec>[]): RouteMatcher {
  const skipped: SkippedRouteMatch[] = []
  const candidates: Candidate[] = []
  for (const route of routes) {
    const createdAtMs = policyCreatedAtMs(route.createdAt)
    route.spec.rules.forEach((rule, ruleIndex) => {
      // Gateway API: "If no matches are specified, the default is a prefix path match on "/"".
      const matches: readonly (RouteMatch | undefined)[] = rule.matches !== undefined && rule.matches.length > 0 ? rule.matches : [undefined]
      matches.forEach((m, i) => {
        const matchIndex = m === undefined ? null : i
        const compiled = compileMatch(m ?? {})
        if (typeof compiled === 'string') {
          skipped.push(Object.freeze({ policy: route.name, ruleIndex, matchIndex: i, reason: compiled }))
          return
        }
        const where = matchIndex === null ? `rule ${ruleIndex} (no matches: ${compiled.text})` : `rule ${ruleIndex} match ${matchIndex} (${compiled.text})`
        const outcome: RouteMatched = Object.freeze({
          kind: 'matched',
          policy: route.name,
          ruleIndex,
          matchIndex,
          rule,
          reason: `Route ${JSON.stringify(route.name)} ${where} is the highest-precedence match for this request`,
        })
        candidates.push({ ...compiled, policy: route.name, createdAtMs, ruleIndex, matchIndex, outcome })
      })
    })
  }
  candidates.sort(byPrecedence)

  // Exact paths outrank every other match, so a map lookup can settle most exact routes without a scan.
  const exact = new Map<string, Candidate[]>()
  const rest: Candidate[] = []
  for (const c of candidates) {
    if (c.exactPath === null) rest.push(c)
    else {
      const list = exact.get(c.exactPath)
      if (list) list.push(c)
      else exact.set(c.exactPath, [c])
    }
  }

  const notFound: RouteOutcome = Object.freeze({
    kind: 'not-found',
    reason:
      `no match of ${routes.length === 1 ? 'Route' : `the ${routes.length} Routes`} ${routes.map((r) => JSON.stringify(r.name)).join(', ')} ` +
      `applies to this request` +
      (skipped.length > 0 ? ` (${skipped.length} match${skipped.length === 1 ? ' was' : 'es were'} skipped: invalid regex)` : ''),
  })

  function holds(c: Candidate, request: MeshRequest): boolean {
    for (const condition of c.conditions) if (!condition.test(request)) return false
    return true
  }

  function match(request: MeshRequest): RouteOutcome {
    if (routes.length === 0) return PASS_THROUGH
    const exactCandidates = exact.get(request.path)
    if (exactCandidates !== undefined) for (const c of exactCandidates) if (holds(c, request)) return c.outcome
    for (const c of rest) if (holds(c, request)) return c.outcome
    return notFound
  }

  function explain(request: MeshRequest): RouteExplanation {
    const outcome = match(request)
    const report = candidates.map((c): RouteCandidate => {
      const failed = c.conditions.find((condition) => !condition.test(request))
      const chosen = outcome.kind === 'matched' && outcome === c.outcome
      return {
        policy: c.policy,
        ruleIndex: c.ruleIndex,
        matchIndex: c.matchIndex,
        holds: failed === undefined,
        reason: failed !== undefined ? `${failed.text} does not hold` : chosen ? 'holds: chosen, the highest precedence' : 'holds, but a match of higher precedence was chosen',
      }
    })
    return { outcome, candidates: report, skipped }
  }

  return { match, explain, skipped: Object.freeze(skipped) }
}

/** compileRoutes + match, for one-off evaluation (`simulate`); the proxy keeps the compiled matcher. */
export function matchRoute(routes: readonly Compiled<RouteSpec>[], request: MeshRequest): RouteOutcome {
  return compileRoutes(routes).match(request)
}

function compileMatch(m: RouteMatch): CompiledMatch | string {
  const path = compilePathMatch(m.path)
  if (!path.ok) return path.reason
  const pathTest = path.match.test
  const conditions: Condition[] = [{ text: path.match.text, test: (r) => pathTest(r.path) }]

  if (m.method !== undefined) {
    const method = m.method
    conditions.push({ text: `method ${method}`, test: (r) => r.method === method })
  }

  // Gateway API: "If multiple entries specify equivalent header names, only the first entry with an equivalent
  // name MUST be considered"; header names compare case-insensitively, query names case-sensitively.
  const seenHeaders = new Set<string>()
  for (const h of m.headers ?? []) {
    const name = h.name.toLowerCase()
    if (seenHeaders.has(name)) continue
    seenHeaders.add(name)
    const value = compileValue('header', name, h.type ?? 'Exact', h.value)
    if (typeof value === 'string') return value
    const test = value.test
    conditions.push({
      text: value.text,
      test: (r) => {
        const v = fieldValue(r.headers, name)
        return v !== undefined && test(v)
      },
    })
  }
  const seenQuery = new Set<string>()
  for (const q of m.queryParams ?? []) {
    const name = q.name
    if (seenQuery.has(name)) continue
    seenQuery.add(name)
    const value = compileValue('query', name, q.type ?? 'Exact', q.value)
    if (typeof value === 'string') return value
    const test = value.test
    conditions.push({
      text: value.text,
      test: (r) => {
        const v = fieldValue(r.query, name)
        return v !== undefined && test(v)
      },
    })
  }
  return {
    conditions,
    path: path.match,
    exactPath: path.match.type === 'Exact' ? (m.path?.value ?? null) : null,
    hasMethod: m.method !== undefined,
    headerCount: seenHeaders.size,
    queryCount: seenQuery.size,
    text: conditions.map((c) => c.text).join(' and '),
  }
}

function compileValue(kind: 'header' | 'query', name: string, type: 'Exact' | 'RegularExpression', value: string): { text: string; test: (v: string) => boolean } | string {
  if (type === 'Exact') return { text: `${kind} ${JSON.stringify(name)} = ${JSON.stringify(value)}`, test: (v) => v === value }
  const checked = checkRegex(value)
  if (!checked.ok) return `${kind} ${JSON.stringify(name)} RegularExpression ${JSON.stringify(value)}: ${checked.reason}`
  const regex = checked.regex
  return { text: `${kind} ${JSON.stringify(name)} ~ ${JSON.stringify(value)}`, test: (v) => safeTest(regex, v, MAX_HEADER_VALUE_LENGTH) }
}

/** The Gateway API order; returns < 0 when `a` takes precedence. */
function byPrecedence(a: Candidate, b: Candidate): number {
  return (
    PATH_RANK[b.path.type] - PATH_RANK[a.path.type] ||
    b.path.length - a.path.length ||
    Number(b.hasMethod) - Number(a.hasMethod) ||
    b.headerCount - a.headerCount ||
    b.queryCount - a.queryCount ||
    a.createdAtMs - b.createdAtMs ||
    (a.policy < b.policy ? -1 : a.policy > b.policy ? 1 : 0) ||
    a.ruleIndex - b.ruleIndex ||
    (a.matchIndex ?? 0) - (b.matchIndex ?? 0)
  )
}
