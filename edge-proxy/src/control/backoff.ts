// The timing rules of the control client, as pure functions so that the arithmetic is tested on its own.

export type BackoffOptions = {
  /** The first retry waits about this long. */
  initialMs: number
  /** No retry waits longer. */
  maxMs: number
}

// Half a second first, so that a blip costs little; at most 30 s, so that a control API that comes back is
// found again within one long-poll period.
export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000 }

/**
 * Capped exponential backoff with "equal jitter": half of each step is fixed, so a failing call never
 * loops hot, and half is random, so that the proxies of a fleet do not all come back in the same instant
 * after an outage. `attempt` counts from 0.
 */
export function backoffDelayMs(attempt: number, options: BackoffOptions, random: () => number): number {
  const step = Math.min(options.maxMs, options.initialMs * 2 ** Math.min(Math.max(attempt, 0), 30))
  return Math.round(step / 2 + (random() * step) / 2)
}

/** Refresh at two thirds of the lifetime: a third of it is left to retry in when the control API is down. */
export const REFRESH_AT_FRACTION = 2 / 3
/** ± this share of the lifetime, so that proxies started together do not refresh together. */
export const REFRESH_JITTER_FRACTION = 0.1
const MIN_REFRESH_DELAY_MS = 1_000

/** Milliseconds from a token's issue to its scheduled refresh: 2/3 of `lifetimeMs` ± 10 % of it. */
export function refreshDelayMs(lifetimeMs: number, random: () => number): number {
  const fraction = REFRESH_AT_FRACTION + (random() * 2 - 1) * REFRESH_JITTER_FRACTION
  return Math.max(MIN_REFRESH_DELAY_MS, Math.round(lifetimeMs * fraction))
}

// An audience token is handed out until this long before it expires: 10 % of its lifetime, at most 60 s
// (the callee allows 30 s of clock skew on top, so a token handed out at the margin still verifies).
const AUDIENCE_MARGIN_FRACTION = 0.1
const AUDIENCE_MARGIN_MAX_MS = 60_000

/** How long before its expiry a cached audience token stops being handed out. */
export function audienceTokenMarginMs(lifetimeMs: number): number {
  return Math.min(AUDIENCE_MARGIN_MAX_MS, Math.round(lifetimeMs * AUDIENCE_MARGIN_FRACTION))
}

/** A retry counter over `backoffDelayMs`. */
export class Backoff {
  #attempt = 0
  constructor(
    private readonly options: BackoffOptions,
    private readonly random: () => number,
  ) {}

  get attempts(): number {
    return this.#attempt
  }

  next(): number {
    return backoffDelayMs(this.#attempt++, this.options, this.random)
  }

  reset(): void {
    this.#attempt = 0
  }
}
