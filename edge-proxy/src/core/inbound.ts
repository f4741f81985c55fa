import { evaluateInbound, rollFaults, type TakeResult } from '../../../mesh/src/policy/index'
import { requestOf } from './call-request'
import type { CoreContext } from './core-context'
import type { ChainRefusal, FilterChainRun } from './filter-chain'
import { sleep } from './deadline'
import { forwardableHeaders, WEFT_IDENTITY_HEADER, WEFT_SOURCE_PRINCIPAL_HEADER } from './forwarded-headers'
import { meshRequestOf } from './mesh-request-of'
import { normalizePath } from './normalize-path'
import { problemResponse } from './problem-response'
import { classifyUpstreamError, errorText } from './upstream-errors'
import { urlParts } from './url-parts'

/**
 * The callee's side (DESIGN.md, "Proxies"; mesh/src/policy/README.md, "Inbound order"): normalise the path,
 * verify the caller's `Weft-Identity`, then AuthorizationPolicy, RateLimitPolicy and FaultPolicy, then forward
 * to the local app with the verified caller in `Weft-Source-Principal`. A missing token makes the caller
 * anonymous (authorization decides); a present but invalid one is refused outright, since a caller that
 * sends a bad credential should learn so rather than be treated as nobody.
 */
export function createInboundHandler(ctx: CoreContext): (request: Request) => Promise<Response> {
  const { deps, now, random, logger, metrics } = ctx

  return async function inbound(request: Request): Promise<Response> {
    const started = now()
    const snapshot = deps.snapshot()
    const destination = snapshot?.service.name ?? 'unknown'
    let source = 'unknown'
    const method = request.method
    // Parsed once for the whole request (a URL parse is ~1 µs; this path used to make two).
    const url = urlParts(request.url)
    const trace = ctx.tracing.begin('inbound', request.headers, snapshot, method, url.pathname)
    const active = metrics.active.cell(['inbound', destination])
    active.n++
    const done = (response: Response, reason: string): Response => {
      active.n--
      const ended = now()
      metrics.observe({ direction: 'inbound', source, destination, route: '', status: response.status, reason, durationSeconds: (ended - started) / 1000 })
      trace.end({ status: response.status, reason, source, destination, route: '', endMs: ended })
      return response
    }
    let run: FilterChainRun | null = null

    try {
      if (snapshot === null) {
        return done(problemResponse('no-snapshot', { detail: 'this proxy has not received its configuration from the control API yet', method }), 'no-snapshot')
      }
      const normalized = normalizePath(url.pathname)
      if (!normalized.ok) return done(problemResponse('invalid-path', { detail: normalized.reason, method }), 'invalid-path')

      const identified = ctx.callers.identify(snapshot, request.headers.get(WEFT_IDENTITY_HEADER))
      const caller = identified instanceof Promise ? await identified : identified
      if (caller.kind === 'refused') {
        const { code, message } = caller.error
        ctx.logSampler.log('info', `identity-refused ${code}`, { direction: 'inbound', code, path: normalized.path }, 'caller identity refused')
        // ERR_SVID_JWKS_UNAVAILABLE means "could not check", not "bad credential" (mesh identity README).
        const status = code === 'ERR_SVID_JWKS_UNAVAILABLE' ? 503 : 401
        return done(problemResponse('identity-invalid', { detail: `the Weft-Identity token was refused: ${code}: ${message}`, status, method }), 'identity-invalid')
      }
      const principal = caller.kind === 'verified' ? caller.svid.spiffeId : null
      if (caller.kind === 'verified') source = caller.svid.service

      // Weft's own headers are dropped before evaluation too: a policy must never see a spoofed principal.
      let headers: Headers = forwardableHeaders(request.headers)
      const meshRequest = meshRequestOf(method, normalized.path, url, headers)
      const evaluation = evaluateInbound(snapshot.inbound, meshRequest, principal)
      const authz = evaluation.authorization
      for (const d of authz.dryRun) logger.info({ direction: 'inbound', policy: d.policy, rule: d.rule, wouldBe: d.wouldBe, principal, path: normalized.path }, d.reason)
      if (evaluation.refusal !== null) {
        return done(problemResponse('authz-denied', { detail: authz.reason, policy: authz.policy, rule: authz.rule, method }), 'authz-denied')
      }

      if (evaluation.rateLimits.length > 0) {
        const at = now()
        let refused: { limit: (typeof evaluation.rateLimits)[number]; result: TakeResult } | null = null
        // Every applicable bucket is taken from, as mesh's README fixes; the one that waits longest answers.
        for (const limit of evaluation.rateLimits) {
          const result = await ctx.rateLimits.take(limit.bucketKey, limit, at)
          if (!result.allowed && (refused === null || result.retryAfterSeconds > refused.result.retryAfterSeconds)) refused = { limit, result }
        }
        if (refused !== null) {
          const { limit, result } = refused
          return done(
            problemResponse('rate-limited', {
              detail: `RateLimitPolicy ${JSON.stringify(limit.policy)} limit ${limit.limit}: ${limit.reason}; the bucket for ${limit.key} ${JSON.stringify(limit.keyValue)} is empty`,
              policy: limit.policy,
              rule: limit.limit,
              method,
              headers: {
                'retry-after': String(result.retryAfterSeconds),
                'ratelimit-limit': String(limit.capacity),
                'ratelimit-remaining': String(result.remaining),
                'ratelimit-reset': String(result.resetSeconds),
              },
            }),
            'rate-limited',
          )
        }
      }

      if (evaluation.faults.length > 0) {
        const roll = rollFaults(evaluation.faults, random)
        if (roll.delayMs > 0) await sleep(roll.delayMs, request.signal)
        if (roll.abort !== null) {
          return done(problemResponse('fault-abort', { detail: roll.abort.reason, policy: roll.abort.policy, status: roll.abort.abortStatus!, method }), 'fault-abort')
        }
      }

      // The FilterChain (filter-chain.ts): request phase here, response phase once the app answered.
      const chain = evaluation.filterChain !== null && evaluation.filterChain.filters.length > 0 ? evaluation.filterChain : null
      const refused = (outcome: ChainRefusal): Response => {
        run?.finish()
        if (outcome.failure) {
          const rule = chain!.filters.findIndex((f) => f.filter === outcome.filter)
          return done(problemResponse('filter-failure', { detail: outcome.detail, policy: chain!.policy, rule, method }), 'filter-failure')
        }
        // The filter's own answer, as it made it, marked so nobody mistakes it for the app's.
        const answer = new Response(outcome.body.length ? (outcome.body as Uint8Array<ArrayBuffer>) : null, { status: outcome.status, headers: outcome.headers })
        answer.headers.set('weft-reason', 'filter-response')
        return done(answer, 'filter-response')
      }
      if (chain !== null) {
        run = await ctx.filters.start(chain, {
          method,
          path: `${normalized.path}${url.search}`,
          authority: url.host,
          sourcePrincipal: principal,
          destinationService: destination,
        })
        const outcome = await run.onRequestHeaders(headers, request.body === null)
        if (outcome.action === 'respond') return refused(outcome)
        headers = outcome.headers
      }
      if (principal !== null) headers.set(WEFT_SOURCE_PRINCIPAL_HEADER, principal)
      trace.propagate(headers)
      // A GET or HEAD never has a body (fetch forbids one), and not asking spares the Node listener's request
      // view (runtime/node-request.ts) from making a Web stream per request for nothing.
      let body: ReadableStream<Uint8Array> | null = method === 'GET' || method === 'HEAD' ? null : request.body
      if (run !== null && body !== null) {
        // Filters may change the body's length: it is forwarded chunked.
        body = run.requestBody(body)
        headers.delete('content-length')
      }
      const target = `${url.origin}${normalized.path}${url.search}`
      let response: Response
      trace.forwardedToApp()
      try {
        // sendApp (the Node sidecar) takes the parts as they are; only `app` (the Worker) gets a Request, and with
        // it a real AbortSignal: an AbortController per request was ~2 % of a Node inbound hop.
        const call = { url: target, method, headers, body, signal: request.signal }
        response = await (deps.sendApp ? deps.sendApp(call) : deps.app(requestOf(call)))
      } catch (err) {
        if (run?.refusal) return refused(run.refusal)
        run?.finish()
        const failure = classifyUpstreamError(err)
        const reason = failure === 'connect-failure' ? 'connect-failure' : 'upstream-reset'
        ctx.logSampler.log('warn', `app-failed ${failure}`, { direction: 'inbound', err: errorText(err), failure }, 'the local application did not answer')
        return done(problemResponse(reason, { detail: `the local application of ${JSON.stringify(destination)} did not answer (${failure})`, method }), reason)
      }
      if (run !== null) {
        if (run.refusal) {
          await response.body?.cancel().catch(() => {})
          return refused(run.refusal)
        }
        const outcome = await run.onResponse(response)
        if (outcome.action === 'respond') return refused(outcome)
        response = outcome.response
      }
      return done(response, '')
    } catch (err) {
      run?.finish()
      logger.error({ direction: 'inbound', err: String(err), stack: (err as Error)?.stack }, 'inbound request failed in the proxy')
      return done(problemResponse('proxy-error', { detail: 'the proxy failed while handling this request; see its log', method }), 'proxy-error')
    }
  }
}
