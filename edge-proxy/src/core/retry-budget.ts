import type { RouteSpec } from '../../../mesh/src/policy/index'

type Budget = NonNullable<RouteSpec['retryBudget']>

// Linkerd's defaults, as the schema documents them: 20 % extra load, at least 10 retries per second.
const DEFAULT_BUDGET: Budget = Object.freeze({ percent: 20, minRetriesPerSecond: 10 })

const SLOTS = 10

/**
 * A Route's retry budget (Linkerd, Finagle `RetryBudget`): over a sliding window, retries may add at most
 * `percent` % of the requests that went through the route, plus `minRetriesPerSecond` × the window's seconds
 * so that a quiet route can still retry. "Active requests" are the requests seen in the window. The window is
 * ten slots of a tenth each, so old traffic ages out smoothly. O(1) per call.
 */
export class RetryBudget {
  readonly #windowMs: number
  readonly #slotMs: number
  readonly #requests = new Float64Array(SLOTS)
  readonly #retries = new Float64Array(SLOTS)
  #slot = 0
  #slotStart = 0

  constructor(windowMs: number, now: number) {
    this.#windowMs = windowMs
    this.#slotMs = windowMs / SLOTS
    this.#slotStart = now
  }

  #advance(now: number): void {
    const steps = Math.floor((now - this.#slotStart) / this.#slotMs)
    if (steps <= 0) return
    for (let i = 0; i < Math.min(steps, SLOTS); i++) {
      this.#slot = (this.#slot + 1) % SLOTS
      this.#requests[this.#slot] = 0
      this.#retries[this.#slot] = 0
    }
    this.#slotStart += steps * this.#slotMs
  }

  /** Counts an original request (not a retry). */
  deposit(now: number): void {
    this.#advance(now)
    this.#requests[this.#slot]!++
  }

  /** Takes one retry from the budget when there is room; false means "do not retry". */
  tryWithdraw(budget: Budget | undefined, now: number): boolean {
    this.#advance(now)
    const b = budget ?? DEFAULT_BUDGET
    let requests = 0
    let retries = 0
    for (let i = 0; i < SLOTS; i++) {
      requests += this.#requests[i]!
      retries += this.#retries[i]!
    }
    const allowed = (b.percent / 100) * requests + b.minRetriesPerSecond * (this.#windowMs / 1000)
    if (retries + 1 > allowed) return false
    this.#retries[this.#slot]!++
    return true
  }
}

/** One budget per destination service and Route policy, kept across snapshots. */
export class RetryBudgets {
  // By service, then route: no key string joined (and hashed) per request.
  readonly #budgets = new Map<string, Map<string, RetryBudget>>()
  readonly #windowMs: number

  constructor(windowMs: number) {
    this.#windowMs = windowMs
  }

  of(service: string, route: string, now: number): RetryBudget {
    let routes = this.#budgets.get(service)
    if (routes === undefined) this.#budgets.set(service, (routes = new Map()))
    let b = routes.get(route)
    if (b === undefined) {
      b = new RetryBudget(this.#windowMs, now)
      routes.set(route, b)
    }
    return b
  }
}
