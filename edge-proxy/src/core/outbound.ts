import {
  chooseWeighted,
  durationMs,
  evaluateOutbound,
  type BackendPolicySpec,
  type BackendSubset,
  type RetryPolicy,
  type RouteMatched,
  type RouteSpec,
} from '../../../mesh/src/policy/index'
import type { OutboundService } from '../../../mesh/src/snapshot/types'
import type { CancelSignal } from './cancel-signal'
import { breakerLimitsOf } from './circuit-breaker'
import type { CoreContext } from './core-context'
import { Deadline, sleep, TimeoutReason } from './deadline'
import type { Candidate, CandidateSet } from './endpoint-pool'
import { forwardableHeaders, WEFT_IDENTITY_HEADER } from './forwarded-headers'
import { hashKeyOf, loadBalancerFor, type LoadBalancer, type PickContext } from './load-balancer'
import { meshRequestOf } from './mesh-request-of'
import { normalizePath } from './normalize-path'
import { outlierConfigOf } from './outlier-detector'
import { problemResponse, WEFT_REASON_HEADER } from './problem-response'
import { replayableBody, streamedBody, type RequestBody } from './replayable-body'
import { mirrorRequest } from './request-mirror'
import { backoffMs, isRetriable } from './retry-policy'
import { applyHeaderModifier, filtersOf, matchedPrefixOf, modifiedPath, redirectLocation, type RuleFilters } from './route-filters'
import { urlParts } from './url-parts'
import type { RequestTrace } from './tracing'
import { sendAttempt, type AttemptOutcome } from './upstream-attempt'
import { errorText } from './upstream-errors'

/** What the proxy answers with: the upstream's response, or one it makes itself (with its reason). */
type Answer = { response: Response; reason: string }

// nginx's "client closed request": logged and counted, seen by nobody.
const CLIENT_CLOSED = 499

/**
 * The caller's side (DESIGN.md, "Proxies"): `http://payments/charge` from the app → Route (evaluateOutbound),
 * RequestRedirect answered here, header modifiers and URL rewrite, a weighted backend subset, an endpoint by
 * the BackendPolicy's balancer (ejected endpoints left out, own zone preferred), then attempts under the
 * circuit breaker, per-try and overall timeouts, and retries within the Route's retry budget. Every attempt
 * carries this workload's JWT-SVID minted for the callee and a `traceparent` for this hop.
 */
export function createOutboundHandler(ctx: CoreContext): (request: Request, destination?: string) => Promise<Response> {
  const { deps, now, random, logger, metrics, limits } = ctx

  return async function outbound(request: Request, destinationArg?: string): Promise<Response> {
    const started = now()
    const snapshot = deps.snapshot()
    const url = urlParts(request.url)
    const destination = destinationArg ?? url.hostname
    const source = snapshot?.service.name ?? 'unknown'
    const method = request.method
    let route = ''
    const trace = ctx.tracing.begin('outbound', request.headers, snapshot, method, url.pathname)
    const active = metrics.active.cell(['outbound', destination])
    active.n++
    const done = ({ response, reason }: Answer): Response => {
      active.n--
      const ended = now()
      metrics.observe({ direction: 'outbound', source, destination, route, status: response.status, reason, durationSeconds: (ended - started) / 1000 })
      trace.end({ status: response.status, reason, source, destination, route, endMs: ended })
      return response
    }
    const refuse = (reason: Parameters<typeof problemResponse>[0], options: Omit<Parameters<typeof problemResponse>[1], 'method'>): Response =>
      done({ response: problemResponse(reason, { ...options, method }), reason })

    try {
      if (snapshot === null) return refuse('no-snapshot', { detail: 'this proxy has not received its configuration from the control API yet' })
      const normalized = normalizePath(url.pathname)
      if (!normalized.ok) return refuse('invalid-path', { detail: normalized.reason })

      const headers = forwardableHeaders(request.headers)
      const evaluation = evaluateOutbound(snapshot, destination, meshRequestOf(method, normalized.path, url, headers))
      const matched = evaluation.route?.kind === 'matched' ? evaluation.route : null
      if (matched !== null) route = `${matched.policy}/${matched.ruleIndex}`
      if (evaluation.refusal !== null) {
        return refuse(evaluation.refusal.reason, { detail: evaluation.refusal.detail, policy: matched?.policy ?? null, rule: matched?.ruleIndex ?? null })
      }
      const service = evaluation.service!
      const backends = evaluation.backends!
      const filters = filtersOf(matched?.rule ?? null)
      const prefix = matched !== null ? matchedPrefixOf(matched) : '/'

      if (filters.redirect !== null) {
        const redirect = filters.redirect
        const status = redirect.statusCode ?? 302
        const location = redirectLocation(new URL(request.url), normalized.path, redirect, prefix)
        const response = new Response(null, { status, headers: { location, [WEFT_REASON_HEADER]: 'route-redirect' } })
        return done({ response, reason: 'route-redirect' })
      }

      const subset = chooseWeighted(backends.subsets, random)
      if (subset === null || subset.endpoints.length === 0) {
        return refuse('no-healthy-upstream', { detail: subset?.reason ?? backends.reason, policy: matched?.policy ?? null, rule: matched?.ruleIndex ?? null })
      }
      const cluster = subset.service === service.name ? service : snapshot.outbound[subset.service]!

      for (const modifier of filters.requestHeaders) applyHeaderModifier(headers, modifier)
      const path = filters.rewrite?.path !== undefined ? modifiedPath(normalized.path, filters.rewrite.path, prefix) : normalized.path
      const host = filters.rewrite?.hostname ?? subset.service
      trace.propagate(headers)
      try {
        headers.set(WEFT_IDENTITY_HEADER, await deps.identity.tokenFor(cluster.spiffeId))
      } catch (err) {
        ctx.logSampler.log('warn', 'identity-unavailable', { direction: 'outbound', destination: cluster.name, err: String(err) }, 'no identity token for the callee')
        return refuse('identity-unavailable', { detail: `this proxy could not obtain a JWT-SVID for ${cluster.spiffeId}: ${String(err)}` })
      }

      const retry = matched?.rule.retry !== undefined && matched.rule.retry.attempts > 0 ? matched.rule.retry : null
      // A GET or HEAD never has a body (fetch forbids one); not asking for `request.body` spares the Node
      // listener's request view a Web stream per request (see inbound.ts), and replayableBody asks only when
      // it must stream.
      const body: RequestBody =
        method === 'GET' || method === 'HEAD'
          ? { replayable: true, bytes: null }
          : retry !== null || filters.mirrors.length > 0
            ? await replayableBody(request, limits.maxReplayBodyBytes)
            : streamedBody(request.body)
      const timeoutMs = matched?.rule.timeout !== undefined ? durationMs(matched.rule.timeout) : limits.defaultTimeoutMs

      for (const mirror of filters.mirrors) {
        mirrorRequest(ctx, snapshot, mirror, { destination: service.name, method, pathAndQuery: `${path}${url.search}`, headers, body, timeoutMs })
      }

      const answer = await callUpstream(ctx, {
        service,
        cluster,
        subset,
        matched,
        route,
        filters,
        retry,
        timeoutMs,
        url: `http://${host}${path}${url.search}`,
        method,
        headers,
        body,
        hashKey: hashKeyOf(cluster.backendPolicy?.spec, headers),
        clientSignal: request.signal,
        trace,
      })
      return done(answer)
    } catch (err) {
      logger.error({ direction: 'outbound', destination, err: String(err), stack: (err as Error)?.stack }, 'outbound request failed in the proxy')
      return refuse('proxy-error', { detail: 'the proxy failed while handling this request; see its log' })
    }
  }
}

type Call = {
  /** The destination the caller named (where the Route lives). */
  readonly service: OutboundService
  /** The service of the chosen backend subset (where the BackendPolicy, breaker and endpoints live). */
  readonly cluster: OutboundService
  readonly subset: BackendSubset
  readonly matched: RouteMatched | null
  readonly route: string
  readonly filters: RuleFilters
  readonly retry: RetryPolicy | null
  readonly timeoutMs: number
  readonly url: string
  readonly method: string
  readonly headers: Headers
  readonly body: RequestBody
  readonly hashKey: string | null
  readonly clientSignal: CancelSignal
  readonly trace: RequestTrace
}

/** The attempt loop: admission, endpoint choice, attempt, outlier accounting, retry decision. */
async function callUpstream(ctx: CoreContext, call: Call): Promise<Answer> {
  const { cluster, subset, matched, retry } = call
  const spec: BackendPolicySpec | undefined = cluster.backendPolicy?.spec
  const backendPolicy = cluster.backendPolicy?.name ?? null
  const breaker = breakerLimitsOf(spec)
  const outlier = outlierConfigOf(spec)
  const balancer = loadBalancerFor(spec)
  const zone = spec?.locality?.preferLocalZone === true ? ctx.zone : null
  const pool = ctx.pools.of(subset.service, subset.endpoints)
  const pick: PickContext = { random: ctx.random, hashKey: call.hashKey }
  const perTryMs = perTryMsOf(matched)
  const budget = retry !== null && matched !== null ? ctx.retryBudgets.of(cluster.name, matched.policy, ctx.now()) : null
  budget?.deposit(ctx.now())

  const overall = new Deadline('overall', call.timeoutMs, call.clientSignal)
  // Endpoints that failed this request, made at the first retry.
  let tried: Set<Candidate['state']> | null = null
  let attempts = 0
  let last: Candidate | null = null
  try {
    const admission = await ctx.breakers.acquire(cluster.name, breaker, overall.signal)
    if (admission === 'circuit-open') {
      ctx.metrics.circuitOpen.inc([cluster.name])
      return problem(call, 'circuit-open', {
        detail: `BackendPolicy ${JSON.stringify(backendPolicy)} connectionLimits: ${ctx.breakers.active(cluster.name)} requests in flight to ${JSON.stringify(cluster.name)} (maxRequests ${breaker.maxRequests}, maxPendingRequests ${breaker.maxPendingRequests})`,
        policy: backendPolicy,
      })
    }
    if (admission === 'aborted') return aborted(call, overall.signal.reason, 'waiting for a free request slot (circuit breaker pending queue)')

    for (let attempt = 0; ; attempt++) {
      attempts = attempt + 1
      const now = ctx.now()
      ctx.outliers.refresh(now)
      const set = pool.candidates(ctx.outliers.epoch, zone)
      const candidate = pickAvoiding(balancer, set, pick, tried)
      last = candidate
      const outcome = await sendAttempt(ctx, candidate, {
        url: call.url,
        method: call.method,
        headers: call.headers,
        body: call.body,
        service: cluster.name,
        spiffeId: cluster.spiffeId,
        perTryTimeoutMs: perTryMs,
        signal: overall.signal,
        trace: call.trace,
      })
      ctx.breakers.release(cluster.name)
      if (attempt > 0) ctx.breakers.endRetry(cluster.name)

      if (outcome.kind !== 'aborted' || isOverallTimeout(outcome.reason)) {
        const result = outcome.kind === 'response' ? ({ kind: 'response', status: outcome.response.status } as const) : ({ kind: 'local-error' } as const)
        if (ctx.outliers.record(candidate.state, result, outlier, cluster.endpoints.length, ctx.now())) {
          ctx.logger.warn({ destination: cluster.name, endpoint: candidate.endpoint.id, address: `${candidate.endpoint.address}:${candidate.endpoint.port}`, until: candidate.state.ejectedUntil }, 'outlier detection ejected an endpoint')
        }
      }

      const retriable =
        retry !== null &&
        outcome.kind !== 'aborted' &&
        attempt < retry.attempts &&
        isRetriable(retry, outcome.kind === 'response' ? { status: outcome.response.status } : { failure: outcome.failure })
      if (!retriable) return final(call, outcome, attempts, last)
      if (!call.body.replayable) {
        ctx.metrics.retries.inc([cluster.name, call.route, 'not_replayable'])
        return final(call, outcome, attempts, last)
      }
      if (!budget!.tryWithdraw(routeBudgetOf(call.service, matched!), ctx.now())) {
        ctx.metrics.retries.inc([cluster.name, call.route, 'budget_exhausted'])
        ctx.logger.debug({ destination: cluster.name, route: call.route }, 'retry budget exhausted: not retrying')
        return final(call, outcome, attempts, last)
      }
      // The slot is taken before the failed answer is dropped, so that "no room to retry" can still return it.
      if (!ctx.breakers.tryStartRetry(cluster.name, breaker)) {
        ctx.metrics.retries.inc([cluster.name, call.route, 'overflow'])
        return final(call, outcome, attempts, last)
      }
      if (!ctx.breakers.tryAcquire(cluster.name, breaker)) {
        ctx.breakers.endRetry(cluster.name)
        ctx.metrics.retries.inc([cluster.name, call.route, 'overflow'])
        return final(call, outcome, attempts, last)
      }
      if (outcome.kind === 'response') await outcome.response.body?.cancel().catch(() => {})
      if (!(await sleep(backoffMs(retry, attempt + 1, ctx.random), overall.signal))) {
        ctx.breakers.release(cluster.name)
        ctx.breakers.endRetry(cluster.name)
        return aborted(call, overall.signal.reason, `backing off before retry ${attempt + 1}`)
      }
      ctx.metrics.retries.inc([cluster.name, call.route, 'retried'])
      ;(tried ??= new Set()).add(candidate.state)
    }
  } finally {
    overall.clear()
  }
}

// The answers callUpstream ends with, as module functions: closures over its state would be made on every call,
// and only a refusal needs them.

/** A per-try timeout bounds every attempt, also when the rule allows no retry (Envoy does the same). 0: none. */
function perTryMsOf(matched: RouteMatched | null): number {
  const perTryTimeout = matched?.rule.retry?.perTryTimeout
  return perTryTimeout !== undefined ? durationMs(perTryTimeout) : 0
}

/** What a refusal names as the rule it applied. */
function whereOf(call: Call): string {
  const { matched } = call
  return matched !== null ? `Route ${JSON.stringify(matched.policy)} rule ${matched.ruleIndex}` : `pass-through to ${JSON.stringify(call.cluster.name)}`
}

function final(call: Call, outcome: AttemptOutcome, attempts: number, last: Candidate | null): Answer {
  if (outcome.kind === 'response') return { response: withResponseHeaders(outcome.response, call.filters), reason: '' }
  if (outcome.kind === 'aborted') return aborted(call, outcome.reason, 'waiting for the upstream')
  const cluster = call.cluster
  const endpointText = last === null ? JSON.stringify(cluster.name) : `${JSON.stringify(cluster.name)} endpoint ${last.endpoint.id} (${last.endpoint.address}:${last.endpoint.port})`
  if (outcome.failure === 'per-try-timeout') {
    return problem(call, 'timeout', { detail: `${whereOf(call)}: no response headers from ${endpointText} within the per-try timeout of ${perTryMsOf(call.matched)}ms (${attempts} attempt${attempts === 1 ? '' : 's'})` })
  }
  if (outcome.failure === 'connect-failure') {
    return problem(call, 'connect-failure', { detail: `${whereOf(call)}: could not connect to ${endpointText}: ${errorText(outcome.error)}` })
  }
  return problem(call, 'upstream-reset', { detail: `${whereOf(call)}: ${endpointText} closed the connection before answering: ${errorText(outcome.error)}` })
}

function aborted(call: Call, reason: unknown, during: string): Answer {
  if (reason instanceof TimeoutReason) {
    return problem(call, 'timeout', { detail: `${whereOf(call)}: the ${call.matched?.rule.timeout !== undefined ? "rule's" : 'default'} timeout of ${reason.ms}ms passed while ${during}` })
  }
  return { response: new Response(null, { status: CLIENT_CLOSED }), reason: 'client-closed' }
}

/** A refusal naming the matched Route and rule, unless `options` names another policy (the BackendPolicy). */
function problem(call: Call, reason: Parameters<typeof problemResponse>[0], options: { detail: string; policy?: string | null }): Answer {
  const { matched } = call
  const policy = options.policy !== undefined ? options.policy : (matched?.policy ?? null)
  const rule = options.policy !== undefined ? null : (matched?.ruleIndex ?? null)
  return { response: problemResponse(reason, { detail: options.detail, policy, rule, method: call.method }), reason }
}

function isOverallTimeout(reason: unknown): boolean {
  return reason instanceof TimeoutReason && reason.which === 'overall'
}

/** The balancer's choice, re-drawn a few times to avoid endpoints that already failed this request (Istio's previous_hosts retry predicate). */
function pickAvoiding(balancer: LoadBalancer, set: CandidateSet, ctx: PickContext, tried: ReadonlySet<Candidate['state']> | null): Candidate {
  let c = balancer.pick(set, ctx)
  if (tried === null || balancer.type === 'ConsistentHash' || set.list.length <= tried.size) return c
  for (let i = 0; i < 3 && tried.has(c.state); i++) c = balancer.pick(set, ctx)
  return c
}

const budgets = new WeakMap<RouteMatched, RouteSpec['retryBudget']>()

/** The retry budget of the Route policy that matched; it lives on the destination the caller named. */
function routeBudgetOf(destination: OutboundService, matched: RouteMatched): RouteSpec['retryBudget'] {
  if (budgets.has(matched)) return budgets.get(matched)
  const budget = destination.routes.find((r) => r.name === matched.policy)?.spec.retryBudget
  budgets.set(matched, budget)
  return budget
}

function withResponseHeaders(response: Response, filters: RuleFilters): Response {
  if (filters.responseHeaders.length === 0) return response
  const headers = new Headers(response.headers)
  for (const modifier of filters.responseHeaders) applyHeaderModifier(headers, modifier)
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers })
}
