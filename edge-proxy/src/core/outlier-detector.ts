import { durationMs, type BackendPolicySpec } from '../../../mesh/src/policy/index'
import type { EndpointState } from './endpoint-state'

/** BackendPolicy `outlierDetection`, with durations in ms and defaults applied. */
export type OutlierConfig = {
  readonly consecutive5xx: number | null
  readonly consecutiveGatewayErrors: number | null
  readonly intervalMs: number
  readonly baseEjectionMs: number
  readonly maxEjectionPercent: number
}

/** One attempt's result as outlier detection counts it. */
export type AttemptResult = { readonly kind: 'response'; readonly status: number } | { readonly kind: 'local-error' }

// Istio's default when outlier detection is configured without thresholds: five consecutive 5xx.
const DEFAULT_CONSECUTIVE_5XX = 5
// Envoy's max_ejection_time default: an endpoint ejected many times still comes back to be probed.
const MAX_EJECTION_MS = 300_000

const configs = new WeakMap<object, OutlierConfig | null>()

/** Null when the policy has no outlier detection. Cached per spec object (snapshots are never mutated). */
export function outlierConfigOf(spec: BackendPolicySpec | undefined): OutlierConfig | null {
  const od = spec?.outlierDetection
  if (od === undefined) return null
  let c = configs.get(od)
  if (c === undefined) {
    const neither = od.consecutive5xx === undefined && od.consecutiveGatewayErrors === undefined
    c = Object.freeze({
      consecutive5xx: od.consecutive5xx ?? (neither ? DEFAULT_CONSECUTIVE_5XX : null),
      consecutiveGatewayErrors: od.consecutiveGatewayErrors ?? null,
      intervalMs: durationMs(od.interval ?? '10s'),
      baseEjectionMs: durationMs(od.baseEjectionTime ?? '30s'),
      maxEjectionPercent: od.maxEjectionPercent ?? 10,
    })
    configs.set(od, c)
  }
  return c
}

/**
 * Passive health checking as Envoy's outlier detection does it: consecutive 5xx (any 5xx, and locally seen
 * failures: connect failure, reset, timeout) or consecutive gateway errors (502, 503, 504, and the same
 * local failures) eject an endpoint for baseEjectionTime × the number of times it was ejected (capped at
 * 5 minutes; the count decays by one per interval spent back in service). A run of failures counts only while
 * each failure follows the run's first within `interval`. At most maxEjectionPercent of a service's endpoints
 * are ejected at once, but at least one when the percentage is above 0 (Envoy: "will eject at least one host
 * regardless of the value"); and a subset whose endpoints are all ejected uses them anyway (panic).
 *
 * Ejections end lazily: `refresh(now)` on the request path returns them. `epoch` changes whenever the set of
 * ejected endpoints does, so candidate lists can be cached until it moves.
 */
export class OutlierDetector {
  epoch = 0
  readonly #ejected = new Set<EndpointState>()
  #nextReturnAt = Number.POSITIVE_INFINITY
  readonly #onChange: (state: EndpointState, ejected: boolean, durationMs: number) => void

  constructor(onChange: (state: EndpointState, ejected: boolean, durationMs: number) => void = () => {}) {
    this.#onChange = onChange
  }

  /** Returns endpoints whose ejection has ended. O(1) unless one is due. */
  refresh(now: number): void {
    if (now < this.#nextReturnAt) return
    let next = Number.POSITIVE_INFINITY
    for (const state of this.#ejected) {
      if (state.ejectedUntil <= now) this.#return(state, now)
      else next = Math.min(next, state.ejectedUntil)
    }
    this.#nextReturnAt = next
  }

  /**
   * Counts one attempt's result against its endpoint; returns true when it ejected the endpoint.
   * `serviceEndpoints` is the size of the endpoint's service in the current snapshot.
   */
  record(state: EndpointState, result: AttemptResult, config: OutlierConfig | null, serviceEndpoints: number, now: number): boolean {
    if (config === null) return false
    const local = result.kind === 'local-error'
    const status = result.kind === 'response' ? result.status : 0
    const is5xx = local || status >= 500
    const isGateway = local || status === 502 || status === 503 || status === 504

    if (is5xx) {
      if (state.consecutive5xx === 0 || now - state.consecutive5xxSince > config.intervalMs) {
        state.consecutive5xx = 0
        state.consecutive5xxSince = now
      }
      state.consecutive5xx++
    } else state.consecutive5xx = 0
    if (isGateway) {
      if (state.consecutiveGateway === 0 || now - state.consecutiveGatewaySince > config.intervalMs) {
        state.consecutiveGateway = 0
        state.consecutiveGatewaySince = now
      }
      state.consecutiveGateway++
    } else state.consecutiveGateway = 0

    if (state.ejected) return false
    const tripped =
      (config.consecutive5xx !== null && state.consecutive5xx >= config.consecutive5xx) ||
      (config.consecutiveGatewayErrors !== null && state.consecutiveGateway >= config.consecutiveGatewayErrors)
    if (!tripped) return false
    if (this.ejectedCount(state.service) >= maxEjected(config.maxEjectionPercent, serviceEndpoints)) return false
    this.#eject(state, config, now)
    return true
  }

  ejectedCount(service: string): number {
    let n = 0
    for (const s of this.#ejected) if (s.service === service) n++
    return n
  }

  /** An endpoint that left the snapshot: stop tracking its ejection. */
  forget(state: EndpointState): void {
    if (this.#ejected.delete(state)) this.epoch++
  }

  #eject(state: EndpointState, config: OutlierConfig, now: number): void {
    // Envoy decrements the ejection multiplier once per interval the host spends healthy.
    if (state.timesEjected > 0 && state.returnedAt > 0) {
      const healthyIntervals = Math.floor((now - state.returnedAt) / config.intervalMs)
      state.timesEjected = Math.max(0, state.timesEjected - healthyIntervals)
    }
    state.timesEjected++
    const duration = Math.min(config.baseEjectionMs * state.timesEjected, Math.max(config.baseEjectionMs, MAX_EJECTION_MS))
    state.ejected = true
    state.ejectedUntil = now + duration
    state.consecutive5xx = 0
    state.consecutiveGateway = 0
    this.#ejected.add(state)
    this.#nextReturnAt = Math.min(this.#nextReturnAt, state.ejectedUntil)
    this.epoch++
    this.#onChange(state, true, duration)
  }

  #return(state: EndpointState, now: number): void {
    state.ejected = false
    state.returnedAt = now
    this.#ejected.delete(state)
    this.epoch++
    this.#onChange(state, false, 0)
  }
}

function maxEjected(percent: number, endpoints: number): number {
  if (percent <= 0) return 0
  return Math.max(1, Math.floor((percent / 100) * endpoints))
}
