import { describe, expect, it } from 'vitest'
import { addBuckets, bucketIndex, emptyBuckets, LATENCY_BUCKET_BOUNDS_SECONDS, LATENCY_BUCKET_COUNT, latencyPercentilesMs, mergeBuckets, quantileSeconds } from './latency-histogram'

/** A histogram with `n` observations in the bucket whose upper bound is `le` seconds (Infinity: +Inf). */
function hist(entries: [le: number, n: number][]): number[] {
  const b = emptyBuckets()
  for (const [le, n] of entries) b[le === Infinity ? LATENCY_BUCKET_COUNT - 1 : LATENCY_BUCKET_BOUNDS_SECONDS.indexOf(le as never)]! += n
  return b
}

describe('latency histogram', () => {
  it('puts a value in the first bucket whose bound is ≥ it (bounds inclusive, as Prometheus le)', () => {
    expect(bucketIndex(0)).toBe(0)
    expect(bucketIndex(0.0005)).toBe(0)
    expect(bucketIndex(0.00051)).toBe(1)
    expect(bucketIndex(0.1)).toBe(LATENCY_BUCKET_BOUNDS_SECONDS.indexOf(0.1))
    expect(bucketIndex(30)).toBe(LATENCY_BUCKET_BOUNDS_SECONDS.length - 1)
    expect(bucketIndex(31)).toBe(LATENCY_BUCKET_COUNT - 1)
  })

  it('merges bucket by bucket', () => {
    const a = hist([[0.01, 3], [0.1, 1]])
    const b = hist([[0.01, 2], [1, 5], [Infinity, 1]])
    expect(mergeBuckets([a, b])).toEqual(hist([[0.01, 5], [0.1, 1], [1, 5], [Infinity, 1]]))
    expect(() => addBuckets([1, 2], a)).toThrow(RangeError)
  })

  // Hand-computed: rank = q × total; inside the bucket (lower, upper] interpolate linearly by the share of the
  // bucket's count below the rank.
  it.each([
    // 10 in (0.005, 0.01]: p50 rank 5 → 0.005 + 0.005 × 5/10 = 0.0075
    { h: [[0.01, 10]], q: 0.5, want: 0.0075 },
    // 100 in (0, 0.0005]: p99 rank 99 → 0.0005 × 0.99
    { h: [[0.0005, 100]], q: 0.99, want: 0.000495 },
    // 90 in (0.025, 0.05], 10 in (0.5, 1]: p50 rank 50 → 0.025 + 0.025 × 50/90; p95 rank 95 → 0.5 + 0.5 × 5/10
    { h: [[0.05, 90], [1, 10]], q: 0.5, want: 0.025 + 0.025 * (50 / 90) },
    { h: [[0.05, 90], [1, 10]], q: 0.95, want: 0.75 },
    // rank exactly at a bucket's top: its upper bound
    { h: [[0.05, 90], [1, 10]], q: 0.9, want: 0.05 },
    // p99 rank 99 lands in +Inf: the largest finite bound
    { h: [[0.1, 98], [Infinity, 2]], q: 0.99, want: 30 },
  ] as { h: [number, number][]; q: number; want: number }[])('q=$q of $h is $want s', ({ h, q, want }) => {
    expect(quantileSeconds(hist(h), q)).toBeCloseTo(want, 12)
  })

  it('percentiles of merged histograms are not averages of percentiles', () => {
    // Proxy A: 99 fast requests (≤ 1 ms); proxy B: 1 request of 2.5 s. Merged p99 rank 99 is the last fast one.
    const a = hist([[0.001, 99]])
    const b = hist([[2.5, 1]])
    const merged = latencyPercentilesMs(mergeBuckets([a, b]))
    expect(merged.p99).toBeCloseTo(1, 9)
    // The average of the two proxies' p99 would say ≈ 1.2 s.
    const avg = ((latencyPercentilesMs(a).p99 ?? 0) + (latencyPercentilesMs(b).p99 ?? 0)) / 2
    expect(avg).toBeGreaterThan(1000)
    // p50 rank 50 of the 99 in (0.5 ms, 1 ms]; reported in ms rounded to the µs.
    expect(merged.p50).toBeCloseTo(0.5 + 0.5 * (50 / 99), 3)
  })

  it('answers null without data and refuses q outside (0, 1]', () => {
    expect(quantileSeconds(emptyBuckets(), 0.5)).toBeNull()
    expect(latencyPercentilesMs(emptyBuckets())).toEqual({ p50: null, p95: null, p99: null })
    expect(() => quantileSeconds(emptyBuckets(), 0)).toThrow(RangeError)
    expect(() => quantileSeconds(emptyBuckets(), 1.5)).toThrow(RangeError)
  })
})
