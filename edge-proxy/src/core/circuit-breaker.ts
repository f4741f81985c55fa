import type { BackendPolicySpec } from '../../../mesh/src/policy/index'
import type { CancelSignal } from './cancel-signal'

/**
 * Circuit breaking from BackendPolicy `connectionLimits`, per destination service, as Envoy's cluster
 * circuit breakers count:
 * - `maxRequests`: attempts awaiting response headers; a request beyond it waits in the pending queue, or is
 *   refused `circuit-open` when the queue is full;
 * - `maxPendingRequests`: how many may wait (0 when unset: with only maxRequests set, the limit answers at
 *   once instead of queueing; Envoy's 1024 would hide it);
 * - `maxRetries`: retries in flight at once; a retry beyond it is not sent (the last answer stands).
 * Unset limits are unlimited. `maxConnections` belongs to the transport's pool, not here.
 */
export type BreakerLimits = { readonly maxRequests: number; readonly maxPendingRequests: number; readonly maxRetries: number }

const UNLIMITED: BreakerLimits = Object.freeze({ maxRequests: Infinity, maxPendingRequests: 0, maxRetries: Infinity })

export function breakerLimitsOf(spec: BackendPolicySpec | undefined): BreakerLimits {
  const l = spec?.connectionLimits
  if (l === undefined) return UNLIMITED
  return { maxRequests: l.maxRequests ?? Infinity, maxPendingRequests: l.maxPendingRequests ?? 0, maxRetries: l.maxRetries ?? Infinity }
}

type Waiter = { resolve: (granted: boolean) => void; onAbort: () => void; signal: CancelSignal | null }

class ServiceBreaker {
  active = 0
  retries = 0
  readonly queue: Waiter[] = []
}

export type Admission = 'admitted' | 'circuit-open' | 'aborted'

export class CircuitBreakers {
  readonly #services = new Map<string, ServiceBreaker>()

  #of(service: string): ServiceBreaker {
    let b = this.#services.get(service)
    if (b === undefined) {
      b = new ServiceBreaker()
      this.#services.set(service, b)
    }
    return b
  }

  /**
   * Takes a request slot, waiting in the pending queue when allowed. Every 'admitted' must be paired with one
   * `release`. `signal` aborting (timeout, client gone) leaves the queue with 'aborted'.
   */
  acquire(service: string, limits: BreakerLimits, signal: CancelSignal | null): Admission | Promise<Admission> {
    const b = this.#of(service)
    if (b.active < limits.maxRequests) {
      b.active++
      return 'admitted'
    }
    if (b.queue.length >= limits.maxPendingRequests) return 'circuit-open'
    if (signal?.aborted) return 'aborted'
    return new Promise<Admission>((resolve) => {
      const waiter: Waiter = {
        signal,
        resolve: (granted) => {
          signal?.removeEventListener('abort', waiter.onAbort)
          resolve(granted ? 'admitted' : 'aborted')
        },
        onAbort: () => {
          const i = b.queue.indexOf(waiter)
          if (i >= 0) b.queue.splice(i, 1)
          resolve('aborted')
        },
      }
      signal?.addEventListener('abort', waiter.onAbort, { once: true })
      b.queue.push(waiter)
    })
  }

  /** Takes a slot only if one is free now (retries never queue). */
  tryAcquire(service: string, limits: BreakerLimits): boolean {
    const b = this.#of(service)
    if (b.active >= limits.maxRequests) return false
    b.active++
    return true
  }

  /** Frees a slot, handing it straight to the oldest waiter if any. */
  release(service: string): void {
    const b = this.#of(service)
    const waiter = b.queue.shift()
    if (waiter !== undefined) waiter.resolve(true)
    else b.active--
  }

  /** Counts a retry in flight if maxRetries allows; pair with `endRetry`. */
  tryStartRetry(service: string, limits: BreakerLimits): boolean {
    const b = this.#of(service)
    if (b.retries >= limits.maxRetries) return false
    b.retries++
    return true
  }

  endRetry(service: string): void {
    this.#of(service).retries--
  }

  active(service: string): number {
    return this.#services.get(service)?.active ?? 0
  }
}
