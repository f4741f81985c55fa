/**
 * The latency histogram the proxies report and the control API stores: fixed bucket boundaries, shared
 * here so that both sides agree on what bucket i means. Percentiles are computed from MERGED bucket counts
 * (summed across proxies, minutes and series); an average of per-proxy percentiles is not a percentile.
 */

/**
 * Upper bounds in seconds, inclusive (Prometheus `le`): from a loopback hop (well under a millisecond) to the
 * 15 s default timeout, roughly ×2.5 apart as Prometheus' defaults are, with more resolution below 10 ms where
 * a sidecar hop lives. One more bucket, +Inf, follows the last bound. Changing this list changes the meaning
 * of stored rows: add a migration that rewrites them, or append only.
 */
export const LATENCY_BUCKET_BOUNDS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const

/** Bucket counts per bucket (not cumulative), the last one for +Inf. */
export const LATENCY_BUCKET_COUNT = LATENCY_BUCKET_BOUNDS_SECONDS.length + 1

/** An empty histogram: one zero count per bucket. */
export function emptyBuckets(): number[] {
  return new Array<number>(LATENCY_BUCKET_COUNT).fill(0)
}

/** The index of the bucket a value in seconds falls into. */
export function bucketIndex(seconds: number): number {
  for (let i = 0; i < LATENCY_BUCKET_BOUNDS_SECONDS.length; i++) if (seconds <= LATENCY_BUCKET_BOUNDS_SECONDS[i]!) return i
  return LATENCY_BUCKET_BOUNDS_SECONDS.length
}

/** Adds `from` into `into`, bucket by bucket. Both must have LATENCY_BUCKET_COUNT entries. */
export function addBuckets(into: number[], from: readonly number[]): number[] {
  if (into.length !== LATENCY_BUCKET_COUNT || from.length !== LATENCY_BUCKET_COUNT) throw new RangeError(`a latency histogram has ${LATENCY_BUCKET_COUNT} buckets`)
  for (let i = 0; i < LATENCY_BUCKET_COUNT; i++) into[i]! += from[i]!
  return into
}

/** The bucket-by-bucket sum of any number of histograms. */
export function mergeBuckets(histograms: Iterable<readonly number[]>): number[] {
  const out = emptyBuckets()
  for (const h of histograms) addBuckets(out, h)
  return out
}

/**
 * The q-quantile (0 < q ≤ 1) in seconds, as Prometheus' `histogram_quantile` estimates it: find the bucket
 * holding the rank q × total and interpolate linearly inside it (the first bucket starts at 0). A rank in the
 * +Inf bucket answers the largest finite bound: the histogram cannot say more. Null when there is no data.
 */
export function quantileSeconds(buckets: readonly number[], q: number): number | null {
  if (!(q > 0 && q <= 1)) throw new RangeError('q must be in (0, 1]')
  let total = 0
  for (const c of buckets) total += c
  if (total <= 0) return null
  const rank = q * total
  let cumulative = 0
  for (let i = 0; i < buckets.length; i++) {
    const count = buckets[i]!
    if (count > 0 && cumulative + count >= rank) {
      if (i >= LATENCY_BUCKET_BOUNDS_SECONDS.length) return LATENCY_BUCKET_BOUNDS_SECONDS[LATENCY_BUCKET_BOUNDS_SECONDS.length - 1]!
      const lower = i === 0 ? 0 : LATENCY_BUCKET_BOUNDS_SECONDS[i - 1]!
      const upper = LATENCY_BUCKET_BOUNDS_SECONDS[i]!
      return lower + (upper - lower) * ((rank - cumulative) / count)
    }
    cumulative += count
  }
  return LATENCY_BUCKET_BOUNDS_SECONDS[LATENCY_BUCKET_BOUNDS_SECONDS.length - 1]!
}

/** p50, p95 and p99 in milliseconds (rounded to µs), null without data. */
export function latencyPercentilesMs(buckets: readonly number[]): { p50: number | null; p95: number | null; p99: number | null } {
  const ms = (q: number) => {
    const s = quantileSeconds(buckets, q)
    return s === null ? null : Math.round(s * 1_000_000) / 1000
  }
  return { p50: ms(0.5), p95: ms(0.95), p99: ms(0.99) }
}
