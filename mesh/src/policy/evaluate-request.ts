import type { OutboundService, Snapshot, SnapshotFilter } from '../snapshot/types'
import { compileAuthorization, type Authorizer, type AuthzDecision, type AuthzRuleReport, type DryRunDecision } from './authz'
import { pickBackendSubsets, type BackendSelection } from './backends'
import { compileFaults, type ApplicableFault, type FaultInjector } from './fault'
import type { MeshRequest } from './mesh-request'
import { compileRateLimits, type ApplicableLimit, type RateLimiter } from './rate-limit'
import { compileRoutes, type RouteCandidate, type RouteMatcher, type RouteOutcome, type SkippedRouteMatch } from './route-match'
import type { RouteRule } from './schemas'
import type { Refusal, WeftReason } from './weft-reason'

/**
 * One call from a source service to a destination, evaluated as the proxies would: the caller's proxy routes
 * it (evaluateOutbound: Route, backends), the callee's proxy admits it (evaluateInbound: authorization, rate
 * limits, faults, then the FilterChain). `simulate` runs both and explains each step.
 *
 * Compiled matchers are cached per snapshot part in WeakMaps keyed by the snapshot's own arrays and objects:
 * the proxy replaces its snapshot on every update and never mutates one, so a new snapshot compiles afresh
 * on first use and the old one's matchers are collected with it. This makes both functions usable on the
 * hot path with no per-snapshot setup.
 */

export type OutboundEvaluation = {
  readonly destination: string
  /** The destination as the caller's snapshot knows it; null when it is not there. */
  readonly service: OutboundService | null
  /** null only when the destination is unknown. */
  readonly route: RouteOutcome | null
  /** The weighted subsets to choose from (`chooseWeighted`); null when nothing will be forwarded. */
  readonly backends: BackendSelection | null
  readonly backendPolicy: string | null
  /** Set when the caller's proxy answers the request itself. */
  readonly refusal: Refusal | null
}

export type InboundEvaluation = {
  readonly authorization: AuthzDecision
  /** Buckets to take from (when authorized): see TokenBucketStore. */
  readonly rateLimits: readonly ApplicableLimit[]
  /** Faults to roll (when authorized): see rollFaults. */
  readonly faults: readonly ApplicableFault[]
  /** Runs after the core policies. */
  readonly filterChain: Snapshot['inbound']['filterChain']
  /** Set when the callee's proxy refuses the request for certain (authorization); buckets and dice are not rolled here. */
  readonly refusal: Refusal | null
}

const routeMatchers = new WeakMap<object, RouteMatcher>()
const authorizers = new WeakMap<object, Authorizer>()
const rateLimiters = new WeakMap<object, RateLimiter>()
const faultInjectors = new WeakMap<object, FaultInjector>()
const passThroughBackends = new WeakMap<OutboundService, BackendSelection>()
const ruleBackends = new WeakMap<OutboundService, WeakMap<RouteRule, BackendSelection>>()

function memo<K extends object, V>(cache: WeakMap<K, V>, key: K, make: (key: K) => V): V {
  let value = cache.get(key)
  if (value === undefined) {
    value = make(key)
    cache.set(key, value)
  }
  return value
}

function unknownServiceDetail(source: Snapshot, destination: string): string {
  const from = JSON.stringify(source.service.name)
  // Snapshots persisted by an older control API have no `dependencies`: read that as "any service".
  const declared = source.service.dependencies ?? null
  if (declared !== null && !declared.includes(destination)) {
    return `${JSON.stringify(destination)} is not among the dependencies ${from} declared (${declared.map((d) => JSON.stringify(d)).join(', ') || 'none'}); add it to the service's "dependencies" to call it`
  }
  return `${JSON.stringify(destination)} is not in the snapshot of ${from}: the tenant has no service of that name`
}

/** The caller's side: which Route rule applies and which backends it splits across. */
export function evaluateOutbound(source: Snapshot, destinationName: string, request: MeshRequest): OutboundEvaluation {
  const service = Object.hasOwn(source.outbound, destinationName) ? source.outbound[destinationName]! : null
  if (service === null) {
    return {
      destination: destinationName,
      service: null,
      route: null,
      backends: null,
      backendPolicy: null,
      refusal: {
        reason: 'unknown-service',
        detail: unknownServiceDetail(source, destinationName),
      },
    }
  }
  const route = memo(routeMatchers, service.routes, compileRoutes).match(request)
  const backendPolicy = service.backendPolicy?.name ?? null
  if (route.kind === 'not-found') {
    return { destination: destinationName, service, route, backends: null, backendPolicy, refusal: { reason: 'route-not-found', detail: route.reason } }
  }
  const backends =
    route.kind === 'matched'
      ? memo(memo(ruleBackends, service, () => new WeakMap()), route.rule, (rule) => pickBackendSubsets(rule, service, source.outbound))
      : memo(passThroughBackends, service, (s) => pickBackendSubsets(null, s, source.outbound))
  const refusal: Refusal | null = backends.unroutable ? { reason: 'no-healthy-upstream', detail: backends.reason } : null
  return { destination: destinationName, service, route, backends, backendPolicy, refusal }
}

/**
 * The callee's side, in the order its proxy applies them: authorization first (a denied request takes no
 * token from a shared bucket and rolls no fault), then rate limits, then faults, then the FilterChain.
 * `principal` is the caller's verified SPIFFE ID, null when unauthenticated.
 */
export function evaluateInbound(inbound: Snapshot['inbound'], request: MeshRequest, principal: string | null): InboundEvaluation {
  const authorization = memo(authorizers, inbound.authorization, compileAuthorization).authorize(request, principal)
  return {
    authorization,
    rateLimits: memo(rateLimiters, inbound.rateLimits, compileRateLimits).applicable(request, principal),
    faults: memo(faultInjectors, inbound.faults, compileFaults).applicable(request, principal),
    filterChain: inbound.filterChain,
    refusal: authorization.decision === 'DENY' ? { reason: 'authz-denied', detail: authorization.reason } : null,
  }
}

// --- POST /v1/simulate ---------------------------------------------------------------------------------

/** The answer of `POST /v1/simulate` (DESIGN.md, "Policies"): plain JSON, every decision with its reason. */
export type SimulationResult = {
  readonly source: { readonly service: string; readonly principal: string }
  readonly destination: { readonly service: string }
  /** The Route rule that applies (`rule`: its index in the policy); null when none does. */
  readonly route: { readonly policy: string; readonly rule: number; readonly match: number | null } | null
  /** Present when a proxy would answer the request itself: the `Weft-Reason` it would send. */
  readonly reason?: WeftReason
  /** Why, in words, when `reason` is present. */
  readonly detail?: string
  readonly routing: {
    readonly outcome: 'pass-through' | 'matched' | 'not-found' | 'unknown-service'
    readonly reason: string
    /** Every Route match in precedence order, with the condition that failed it. */
    readonly candidates: readonly RouteCandidate[]
    readonly skipped: readonly SkippedRouteMatch[]
  }
  readonly backends: readonly {
    readonly service: string
    readonly labels: Readonly<Record<string, string>>
    readonly weight: number
    /** Share of the rule's traffic, 0–100. */
    readonly percent: number
    readonly endpoints: number
    readonly reason: string
  }[]
  readonly authorization: {
    readonly decision: 'ALLOW' | 'DENY'
    readonly policy: string | null
    readonly rule: number | null
    readonly reason: string
    readonly dryRun: readonly DryRunDecision[]
    /** Every rule of every AuthorizationPolicy, with the condition that failed it. */
    readonly rules: readonly AuthzRuleReport[]
  }
  readonly rateLimits: readonly ApplicableLimit[]
  readonly faults: readonly ApplicableFault[]
  readonly filters: readonly (Pick<SnapshotFilter, 'filter' | 'version' | 'sha256' | 'failurePolicy'> & { readonly policy: string; readonly reason: string })[]
}

/**
 * Evaluates one request from `source` to `destination` as both proxies would, without side effects (no
 * bucket is taken from, no dice are rolled). The caller's principal is its SPIFFE ID from its snapshot.
 *
 * @example
 * const result = simulate(await compileSnapshot('orders'), await compileSnapshot('payments'), {
 *   method: 'POST', path: '/charge', headers: { 'x-canary': '1' }, query: {},
 * })
 */
export function simulate(source: Snapshot, destination: Pick<Snapshot, 'service' | 'inbound'>, request: MeshRequest): SimulationResult {
  const principal = source.service.spiffeId
  const outbound = evaluateOutbound(source, destination.service.name, request)
  const inbound = evaluateInbound(destination.inbound, request, principal)
  const refusal = outbound.refusal ?? inbound.refusal

  const explained = outbound.service === null ? null : memo(routeMatchers, outbound.service.routes, compileRoutes).explain(request)
  const route = outbound.route
  const authz = memo(authorizers, destination.inbound.authorization, compileAuthorization).explain(request, principal)
  const chain = destination.inbound.filterChain

  return {
    source: { service: source.service.name, principal },
    destination: { service: destination.service.name },
    route: route?.kind === 'matched' ? { policy: route.policy, rule: route.ruleIndex, match: route.matchIndex } : null,
    ...(refusal !== null ? { reason: refusal.reason, detail: refusal.detail } : {}),
    routing: {
      outcome: route === null ? 'unknown-service' : route.kind,
      reason: route === null ? outbound.refusal!.detail : route.reason,
      candidates: explained?.candidates ?? [],
      skipped: explained?.skipped ?? [],
    },
    backends: (outbound.backends?.subsets ?? []).map((s) => ({
      service: s.service,
      labels: s.labels,
      weight: s.weight,
      percent: outbound.backends!.totalWeight === 0 ? 0 : Math.round((s.weight / outbound.backends!.totalWeight) * 10_000) / 100,
      endpoints: s.endpoints.length,
      reason: s.reason,
    })),
    authorization: {
      decision: inbound.authorization.decision,
      policy: inbound.authorization.policy,
      rule: inbound.authorization.rule,
      reason: inbound.authorization.reason,
      dryRun: inbound.authorization.dryRun,
      rules: authz.rules,
    },
    rateLimits: inbound.rateLimits,
    faults: inbound.faults,
    filters:
      chain === null
        ? []
        : chain.filters.map((f, i) => ({
            policy: chain.policy,
            filter: f.filter,
            version: f.version,
            sha256: f.sha256,
            failurePolicy: f.failurePolicy,
            reason: `FilterChain ${JSON.stringify(chain.policy)} runs it ${ordinal(i + 1)} of ${chain.filters.length}, after the core policies; if it fails the request is ${f.failurePolicy === 'closed' ? 'refused (fails closed)' : 'let through (fails open)'}`,
          })),
  }
}

const ordinal = (n: number) => `${n}${n % 10 === 1 && n % 100 !== 11 ? 'st' : n % 10 === 2 && n % 100 !== 12 ? 'nd' : n % 10 === 3 && n % 100 !== 13 ? 'rd' : 'th'}`
