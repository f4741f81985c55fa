import { requestOf } from './call-request'
import type { CancelSignal } from './cancel-signal'
import type { CoreContext } from './core-context'
import { abortedPromise, Deadline, TimeoutReason } from './deadline'
import type { Candidate } from './endpoint-pool'
import type { UpstreamTarget } from './proxy-deps'
import type { RequestBody } from './replayable-body'
import type { AttemptFailure } from './retry-policy'
import type { RequestTrace } from './tracing'
import { classifyUpstreamError } from './upstream-errors'

/** How one attempt ended. `aborted`: the overall deadline or the client ended it (see `signal.reason`). */
export type AttemptOutcome =
  | { readonly kind: 'response'; readonly response: Response }
  | { readonly kind: 'failure'; readonly failure: AttemptFailure; readonly error: unknown }
  | { readonly kind: 'aborted'; readonly reason: unknown }

export type AttemptRequest = {
  readonly url: string
  readonly method: string
  readonly headers: Headers
  readonly body: RequestBody
  readonly service: string
  readonly spiffeId: string
  readonly perTryTimeoutMs: number
  /** The overall deadline (and through it the client): aborting it ends the attempt. */
  readonly signal: CancelSignal
  /** The request's span: each attempt becomes an event on it (retries show as more than one). */
  readonly trace?: RequestTrace
}

/**
 * Sends one attempt to one endpoint and waits for its response headers, under the per-try timeout. Counts the
 * endpoint's attempts in flight and its latency (time to headers). The timers stop once headers arrive: the
 * body then streams with no deadline of ours, so a long download is not cut at the route timeout.
 * The transport is raced against the deadline too, so one that ignores the signal still times out; its late
 * answer is then discarded.
 */
export async function sendAttempt(ctx: CoreContext, candidate: Candidate, req: AttemptRequest): Promise<AttemptOutcome> {
  const started = ctx.now()
  const outcome = await attemptOnce(ctx, candidate, req)
  const trace = req.trace
  if (trace !== undefined) {
    const { address, port, id } = candidate.endpoint
    // The event's attributes only for a span that is recorded.
    const attributes = trace.recording
      ? {
          'weft.endpoint': id,
          'weft.outcome': outcome.kind === 'response' ? String(outcome.response.status) : outcome.kind === 'failure' ? outcome.failure : 'aborted',
          'weft.duration_ms': ctx.now() - started,
        }
      : null
    trace.attempt(`${address}:${port}`, started, attributes)
  }
  return outcome
}

async function attemptOnce(ctx: CoreContext, candidate: Candidate, req: AttemptRequest): Promise<AttemptOutcome> {
  const { endpoint, state } = candidate
  // Without a per-try timeout the attempt runs under the overall deadline's own signal: a second controller,
  // listener and timer per request only to mirror it cost measurable CPU at a few thousand requests a second.
  const perTry = req.perTryTimeoutMs > 0 && Number.isFinite(req.perTryTimeoutMs)
  const tryDeadline = perTry ? new Deadline('per-try', req.perTryTimeoutMs, req.signal) : null
  const signal = tryDeadline?.signal ?? req.signal
  const body = req.body.replayable ? req.body.bytes : req.body.stream
  const target: UpstreamTarget = { address: endpoint.address, port: endpoint.port, service: req.service, spiffeId: req.spiffeId, endpointId: endpoint.id }
  // `sendUpstream` rejects once the signal aborts (its contract): only `upstream`, a fetch, is raced.
  const aborted = ctx.deps.sendUpstream ? null : abortedPromise(signal)
  const started = ctx.now()
  state.inFlight++
  let sent: Promise<Response> | undefined
  try {
    const call = { url: req.url, method: req.method, headers: req.headers, body, signal }
    sent = aborted === null ? ctx.deps.sendUpstream!(call, target) : ctx.deps.upstream(requestOf(call), target)
    const response = aborted === null ? await sent : await Promise.race([sent, aborted.promise])
    const at = ctx.now()
    state.recordLatency(at - started, at)
    return { kind: 'response', response }
  } catch (error) {
    if (signal.aborted) {
      sent?.then((late) => late.body?.cancel().catch(() => {})).catch(() => {})
      const reason: unknown = signal.reason
      if (reason instanceof TimeoutReason && reason.which === 'per-try') {
        // A per-try timeout is an endpoint's failure to answer: it counts toward latency as the full wait.
        state.recordLatency(ctx.now() - started, ctx.now())
        return { kind: 'failure', failure: 'per-try-timeout', error: reason }
      }
      return { kind: 'aborted', reason }
    }
    return { kind: 'failure', failure: classifyUpstreamError(error), error }
  } finally {
    state.inFlight--
    tryDeadline?.clear()
    aborted?.dispose()
  }
}
