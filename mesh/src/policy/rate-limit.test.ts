import { describe, expect, it } from 'vitest'
import type { Compiled } from '../snapshot/types'
import type { MeshRequest } from './mesh-request'
import { applicableLimits, compileRateLimits, MAX_BUCKET_KEY_VALUE_LENGTH } from './rate-limit'
import { RateLimitPolicySpec } from './schemas'
import { TokenBucket } from './token-bucket'
import { TokenBucketStore } from './token-bucket-store'

const ORDERS = 'spiffe://acme.weft/svc/orders'
const policy = (name: string, limits: unknown[], createdAt = '2024-01-01T00:00:00Z'): Compiled<RateLimitPolicySpec> => ({
  name,
  createdAt,
  spec: RateLimitPolicySpec.parse({ limits }),
})
const req = (method: string, path: string, headers: Record<string, string> = {}): MeshRequest => ({ method, path, headers, query: {} })

describe('TokenBucket', () => {
  // capacity 3 (2 per second + burst 1), refill 2 tokens per second.
  type Step = [atMs: number, allowed: boolean, remaining: number, retryAfterSeconds: number, resetSeconds: number]
  it.each<[string, Step[]]>([
    [
      'starts full: a burst up to capacity, then refusal',
      [
        [0, true, 2, 0, 1],
        [0, true, 1, 0, 1],
        [0, true, 0, 0, 2],
        [0, false, 0, 1, 2],
      ],
    ],
    [
      'refills continuously at the rate',
      [
        [0, true, 2, 0, 1],
        [0, true, 1, 0, 1],
        [0, true, 0, 0, 2],
        [499, false, 0, 1, 2],
        [500, true, 0, 0, 2],
        [1000, true, 0, 0, 2],
      ],
    ],
    [
      'never holds more than capacity',
      [
        [0, true, 2, 0, 1],
        [60_000, true, 2, 0, 1],
      ],
    ],
    [
      'a clock that steps back refills nothing',
      [
        [10_000, true, 2, 0, 1],
        [10_000, true, 1, 0, 1],
        [10_000, true, 0, 0, 2],
        [5_000, false, 0, 1, 2],
        [10_500, true, 0, 0, 2],
      ],
    ],
  ])('%s', (_, steps) => {
    const bucket = new TokenBucket(3, 2, steps[0]![0])
    for (const [at, allowed, remaining, retryAfterSeconds, resetSeconds] of steps) {
      expect({ at, ...bucket.take(at) }).toEqual({ at, allowed, remaining, retryAfterSeconds, resetSeconds })
    }
  })

  it('computes Retry-After from the refill rate: 1 per minute waits up to 60 s', () => {
    const bucket = new TokenBucket(1, 1 / 60, 0)
    expect(bucket.take(0).allowed).toBe(true)
    expect(bucket.take(0)).toMatchObject({ allowed: false, retryAfterSeconds: 60, resetSeconds: 60 })
    expect(bucket.take(45_000)).toMatchObject({ allowed: false, retryAfterSeconds: 15 })
    expect(bucket.take(60_000)).toMatchObject({ allowed: true, remaining: 0 })
  })

  it.each([
    [0, 1],
    [1, 0],
    [Number.NaN, 1],
    [1, Number.POSITIVE_INFINITY],
  ])('refuses capacity %s and rate %s', (capacity, rate) => {
    expect(() => new TokenBucket(capacity, rate, 0)).toThrow(RangeError)
  })
})

describe('TokenBucketStore', () => {
  const limit = { capacity: 2, refillPerSecond: 1 }

  it('keeps one bucket per key', () => {
    const store = new TokenBucketStore()
    expect(store.take('a', limit, 0).allowed).toBe(true)
    expect(store.take('a', limit, 0).allowed).toBe(true)
    expect(store.take('a', limit, 0).allowed).toBe(false)
    expect(store.take('b', limit, 0).allowed).toBe(true)
  })

  it('holds at most maxBuckets, evicting the least recently used', () => {
    const store = new TokenBucketStore({ maxBuckets: 3 })
    for (let i = 0; i < 1000; i++) store.take(`flood-${i}`, limit, 0)
    expect(store.size).toBe(3)
    store.take('victim', limit, 0)
    store.take('victim', limit, 0)
    expect(store.take('victim', limit, 0).allowed).toBe(false)
    // Kept while in use among the three most recent...
    store.take('x', limit, 0)
    store.take('y', limit, 0)
    expect(store.take('victim', limit, 0).allowed).toBe(false)
    // ...and back full once evicted: the documented price of a bound.
    store.take('z1', limit, 0)
    store.take('z2', limit, 0)
    store.take('z3', limit, 0)
    expect(store.take('victim', limit, 0).allowed).toBe(true)
  })

  it('keeps the tokens of a bucket whose limit changed, capped to the new capacity', () => {
    const store = new TokenBucketStore()
    for (let i = 0; i < 2; i++) store.take('k', limit, 0)
    expect(store.take('k', { capacity: 10, refillPerSecond: 1 }, 0).allowed).toBe(false)
    expect(store.take('k', { capacity: 10, refillPerSecond: 1 }, 1000)).toMatchObject({ allowed: true, remaining: 0 })
  })

  it('refuses a bad bound', () => {
    expect(() => new TokenBucketStore({ maxBuckets: 0 })).toThrow(RangeError)
  })
})

describe('applicableLimits', () => {
  const policies = [
    policy('per-source', [{ key: 'source', requestsPerUnit: 100, unit: 'second', burst: 20 }]),
    policy('writes', [
      { key: 'path', requestsPerUnit: 60, unit: 'minute', match: { path: { type: 'PathPrefix', value: '/charge' }, methods: ['POST'] } },
      { key: 'header', header: 'X-Api-Key', requestsPerUnit: 3600, unit: 'hour' },
      { key: 'global', requestsPerUnit: 1000 },
    ]),
  ]

  it.each<[string, MeshRequest, string | null, [policy: string, limit: number, keyValue: string, capacity: number, refillPerSecond: number][]]>([
    [
      'GET from orders: source, header (absent) and global',
      req('GET', '/charge'),
      ORDERS,
      [
        ['per-source', 0, ORDERS, 120, 100],
        ['writes', 1, '', 3600, 1],
        ['writes', 2, 'global', 1000, 1000],
      ],
    ],
    [
      'POST /charge/1 anonymously with an API key: every limit',
      req('POST', '/charge/1', { 'x-api-key': 'k-123' }),
      null,
      [
        ['per-source', 0, 'anonymous', 120, 100],
        ['writes', 0, '/charge/1', 60, 1],
        ['writes', 1, 'k-123', 3600, 1],
        ['writes', 2, 'global', 1000, 1000],
      ],
    ],
    [
      'POST /chargeback: the prefix matches by path element, so not the path limit',
      req('POST', '/chargeback'),
      ORDERS,
      [
        ['per-source', 0, ORDERS, 120, 100],
        ['writes', 1, '', 3600, 1],
        ['writes', 2, 'global', 1000, 1000],
      ],
    ],
  ])('%s', (_, request, principal, expected) => {
    const limits = applicableLimits(policies, request, principal)
    expect(limits.map((l) => [l.policy, l.limit, l.keyValue, l.capacity, l.refillPerSecond])).toEqual(expected)
    for (const l of limits) {
      expect(l.bucketKey).toBe(`${l.policy}/${l.limit}/${l.keyValue}`)
      expect(l.reason).toContain(`RateLimitPolicy "${l.policy}" limit ${l.limit}`)
    }
  })

  it('bounds the key value so long paths do not make long bucket keys', () => {
    const [limit] = applicableLimits([policy('p', [{ key: 'path', requestsPerUnit: 1 }])], req('GET', `/${'a'.repeat(5000)}`), null)
    expect(limit!.keyValue).toHaveLength(MAX_BUCKET_KEY_VALUE_LENGTH)
  })

  it('skips a limit with an unsafe regex, keeps the others, and says why', () => {
    const limiter = compileRateLimits([
      policy('p', [{ requestsPerUnit: 1, match: { path: { type: 'RegularExpression', value: '(a*)*' } } }, { key: 'global', requestsPerUnit: 5 }]),
    ])
    expect(limiter.skipped).toEqual([{ policy: 'p', limit: 0, reason: expect.stringContaining('nested quantifier') }])
    expect(limiter.applicable(req('GET', '/'), null).map((l) => l.limit)).toEqual([1])
  })

  it('returns one shared empty list when nothing applies', () => {
    const limiter = compileRateLimits([])
    expect(limiter.applicable(req('GET', '/'), null)).toBe(limiter.applicable(req('POST', '/x'), ORDERS))
  })

  it('drives a store end to end: 429 after capacity, with Retry-After', () => {
    const store = new TokenBucketStore()
    const limiter = compileRateLimits([policy('p', [{ key: 'source', requestsPerUnit: 1, unit: 'second', burst: 1 }])])
    const [limit] = limiter.applicable(req('GET', '/'), ORDERS)
    const results = [0, 0, 0, 1000].map((now) => store.take(limit!.bucketKey, limit!, now))
    expect(results.map((r) => [r.allowed, r.retryAfterSeconds])).toEqual([
      [true, 0],
      [true, 0],
      [false, 1],
      [true, 0],
    ])
  })
})
