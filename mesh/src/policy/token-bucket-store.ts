import { LruCache } from '../identity/lru-cache'
import { TokenBucket, type TakeResult } from './token-bucket'

/** A limit as the store needs it: see `ApplicableLimit` in rate-limit.ts. */
export type BucketLimit = { readonly capacity: number; readonly refillPerSecond: number }

/**
 * Where buckets live. The seam DESIGN.md asks for: today one proxy's memory (`TokenBucketStore`), later a
 * Durable Object per key for edge-global limits, which answers asynchronously; callers always `await`.
 */
export interface RateLimitStore {
  take(bucketKey: string, limit: BucketLimit, nowMs: number): TakeResult | Promise<TakeResult>
}

/**
 * 10 000 buckets cost about 1–2 MB (a key of at most a few hundred characters plus a small object each), and
 * cover the distinct callers, paths or header values one proxy plausibly sees within a refill period.
 */
export const DEFAULT_MAX_BUCKETS = 10_000

export type TokenBucketStoreOptions = { maxBuckets?: number }

/**
 * Local buckets in a bounded LRU, so a flood of distinct keys (made-up header values, random paths) cannot
 * exhaust memory. The price: an evicted bucket comes back full, so under such a flood an idle key may get
 * its burst again early; active keys stay in the cache. A bucket whose limit changed (new snapshot) keeps
 * its tokens, capped to the new capacity. O(1) per take.
 */
export class TokenBucketStore implements RateLimitStore {
  readonly #buckets: LruCache<string, TokenBucket>

  /** @throws RangeError when maxBuckets is not a positive integer. */
  constructor(options: TokenBucketStoreOptions = {}) {
    const maxBuckets = options.maxBuckets ?? DEFAULT_MAX_BUCKETS
    if (!Number.isInteger(maxBuckets) || maxBuckets < 1) throw new RangeError(`TokenBucketStore maxBuckets must be a positive integer, got ${maxBuckets}`)
    this.#buckets = new LruCache(maxBuckets)
  }

  get size(): number {
    return this.#buckets.size
  }

  take(bucketKey: string, limit: BucketLimit, nowMs: number): TakeResult {
    let bucket = this.#buckets.get(bucketKey)
    if (bucket === undefined || bucket.capacity !== limit.capacity || bucket.refillPerSecond !== limit.refillPerSecond) {
      const tokens = bucket === undefined ? limit.capacity : Math.min(bucket.tokensAt(nowMs), limit.capacity)
      bucket = new TokenBucket(limit.capacity, limit.refillPerSecond, nowMs, tokens)
      this.#buckets.set(bucketKey, bucket)
    }
    return bucket.take(nowMs)
  }
}
