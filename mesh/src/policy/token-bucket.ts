/** What one `take` tells the proxy: enough for `Retry-After` and the RateLimit headers. */
export type TakeResult = {
  readonly allowed: boolean
  /** Whole tokens left after this request (RateLimit-Remaining). */
  readonly remaining: number
  /** Seconds until one token is back, rounded up; 0 when allowed (Retry-After, RFC 9110 §10.2.3). */
  readonly retryAfterSeconds: number
  /** Seconds until the bucket is full again, rounded up (RateLimit-Reset). */
  readonly resetSeconds: number
}

/**
 * A token bucket: holds up to `capacity` tokens, gains `refillPerSecond` continuously, and each request takes
 * one. Starts full, so a quiet client may burst to `capacity` at once. Time is always passed in (milliseconds
 * since any fixed origin) so tests and Durable Objects choose the clock; a clock that steps back refills
 * nothing rather than throwing. O(1), no allocation beyond the result.
 */
export class TokenBucket {
  readonly capacity: number
  readonly refillPerSecond: number
  #tokens: number
  #updatedAt: number

  /** @throws RangeError when capacity or refillPerSecond is not a positive finite number. */
  constructor(capacity: number, refillPerSecond: number, nowMs: number, initialTokens: number = capacity) {
    if (!(capacity > 0 && Number.isFinite(capacity))) throw new RangeError(`TokenBucket capacity must be a positive number, got ${capacity}`)
    if (!(refillPerSecond > 0 && Number.isFinite(refillPerSecond))) throw new RangeError(`TokenBucket refillPerSecond must be a positive number, got ${refillPerSecond}`)
    this.capacity = capacity
    this.refillPerSecond = refillPerSecond
    this.#tokens = Math.min(Math.max(initialTokens, 0), capacity)
    this.#updatedAt = nowMs
  }

  /** Tokens available at `nowMs` (fractional), without taking any. */
  tokensAt(nowMs: number): number {
    const elapsedMs = nowMs - this.#updatedAt
    if (!(elapsedMs > 0)) return this.#tokens
    return Math.min(this.capacity, this.#tokens + (elapsedMs * this.refillPerSecond) / 1000)
  }

  take(nowMs: number): TakeResult {
    this.#tokens = this.tokensAt(nowMs)
    if (nowMs > this.#updatedAt) this.#updatedAt = nowMs
    const allowed = this.#tokens >= 1
    if (allowed) this.#tokens -= 1
    return {
      allowed,
      remaining: Math.floor(this.#tokens),
      retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil((1 - this.#tokens) / this.refillPerSecond)),
      resetSeconds: Math.ceil((this.capacity - this.#tokens) / this.refillPerSecond),
    }
  }
}
