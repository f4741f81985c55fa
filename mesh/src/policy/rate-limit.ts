import type { Compiled } from '../snapshot/types'
import { fieldValue, type MeshRequest } from './mesh-request'
import { compilePathMatch } from './path-match'
import { oldestFirst } from './policy-order'
import type { RateLimit, RateLimitPolicySpec } from './schemas'

/** One limit that applies to a request: which bucket to take from, and that bucket's shape. */
export type ApplicableLimit = {
  readonly policy: string
  /** Index in the policy's `limits`. */
  readonly limit: number
  readonly key: RateLimit['key']
  /** The caller's principal or "anonymous", the path, the header's value ("" when absent), or "global". */
  readonly keyValue: string
  /** Unique across policies and limits: `<policy>/<limit>/<keyValue>`. */
  readonly bucketKey: string
  /** requestsPerUnit + burst. */
  readonly capacity: number
  readonly refillPerSecond: number
  readonly reason: string
}

/** A limit that never applies because its match could not be compiled (an unsafe or invalid path regex). */
export type SkippedLimit = { readonly policy: string; readonly limit: number; readonly reason: string }

export type RateLimiter = {
  /** The hot path: O(limits); allocates only for limits that apply (their key differs per request). */
  applicable(request: MeshRequest, principal: string | null): readonly ApplicableLimit[]
  readonly skipped: readonly SkippedLimit[]
}

/**
 * Bucket keys hold at most this many characters of the key value, so 8 KiB paths or header values cannot
 * make each bucket 8 KiB. Longer values that share their first 256 characters share a bucket: stricter,
 * never looser, and API keys or principals are far shorter.
 */
export const MAX_BUCKET_KEY_VALUE_LENGTH = 256

const UNIT_SECONDS = { second: 1, minute: 60, hour: 3600 } as const

const NONE: readonly ApplicableLimit[] = Object.freeze([])

type CompiledLimit = {
  readonly policy: string
  readonly index: number
  readonly key: RateLimit['key']
  readonly header: string | null
  readonly test: (request: MeshRequest) => boolean
  readonly capacity: number
  readonly refillPerSecond: number
  readonly reason: string
  /** Built once for `global`, whose key never varies. */
  readonly fixed: ApplicableLimit | null
}

/**
 * Compiles the RateLimitPolicies of one service (local token buckets, Envoy local_ratelimit style: each proxy
 * counts on its own). Every limit whose `match` holds applies; the proxy takes a token from each and refuses
 * the request (429, `rate-limited`) if any bucket is empty.
 *
 * @example
 * const limits = compileRateLimits(snapshot.inbound.rateLimits).applicable(request, principal)
 * for (const l of limits) if (!(await store.take(l.bucketKey, l, now())).allowed) { ... }
 */
export function compileRateLimits(policies: readonly Compiled<RateLimitPolicySpec>[]): RateLimiter {
  const skipped: SkippedLimit[] = []
  const limits: CompiledLimit[] = []
  for (const policy of [...policies].sort(oldestFirst)) {
    policy.spec.limits.forEach((limit, index) => {
      const compiled = compileLimit(policy.name, index, limit)
      if (typeof compiled === 'string') skipped.push(Object.freeze({ policy: policy.name, limit: index, reason: compiled }))
      else limits.push(compiled)
    })
  }

  function applicable(request: MeshRequest, principal: string | null): readonly ApplicableLimit[] {
    let out: ApplicableLimit[] | null = null
    for (const limit of limits) {
      if (!limit.test(request)) continue
      ;(out ??= []).push(limit.fixed ?? instance(limit, keyValueOf(limit, request, principal)))
    }
    return out ?? NONE
  }

  return { applicable, skipped: Object.freeze(skipped) }
}

/** compileRateLimits + applicable, for one-off evaluation (`simulate`). */
export function applicableLimits(
  policies: readonly Compiled<RateLimitPolicySpec>[],
  request: MeshRequest,
  principal: string | null,
): readonly ApplicableLimit[] {
  return compileRateLimits(policies).applicable(request, principal)
}

function compileLimit(policy: string, index: number, limit: RateLimit): CompiledLimit | string {
  const tests: ((r: MeshRequest) => boolean)[] = []
  const scope: string[] = []
  if (limit.match?.path !== undefined) {
    const path = compilePathMatch(limit.match.path)
    if (!path.ok) return path.reason
    const test = path.match.test
    tests.push((r) => test(r.path))
    scope.push(path.match.text)
  }
  const methods: readonly string[] | undefined = limit.match?.methods
  if (methods !== undefined && methods.length > 0) {
    tests.push((r) => methods.includes(r.method))
    scope.push(`method in [${methods.join(', ')}]`)
  }
  const unit = limit.unit ?? 'second'
  const burst = limit.burst ?? 0
  const key = limit.key ?? 'source'
  const header = key === 'header' && limit.header !== undefined ? limit.header.toLowerCase() : null
  const capacity = limit.requestsPerUnit + burst
  const refillPerSecond = limit.requestsPerUnit / UNIT_SECONDS[unit]
  const per = { source: 'per source principal', path: 'per path', header: `per value of header ${JSON.stringify(header)}`, global: 'shared by all requests' }[key]
  const reason =
    `RateLimitPolicy ${JSON.stringify(policy)} limit ${index}: ${limit.requestsPerUnit} per ${unit} + burst ${burst} ` +
    `(a bucket of ${capacity}, ${per})` +
    (scope.length > 0 ? `, applies to ${scope.join(' and ')}` : ', applies to every request')
  const test = tests.length === 0 ? () => true : tests.length === 1 ? tests[0]! : (r: MeshRequest) => tests.every((t) => t(r))
  const compiled: CompiledLimit = { policy, index, key, header, test, capacity, refillPerSecond, reason, fixed: null }
  return key === 'global' ? { ...compiled, fixed: Object.freeze(instance(compiled, 'global')) } : compiled
}

function keyValueOf(limit: CompiledLimit, request: MeshRequest, principal: string | null): string {
  let value: string
  if (limit.key === 'source') value = principal ?? 'anonymous'
  else if (limit.key === 'path') value = request.path
  else if (limit.key === 'header') value = fieldValue(request.headers, limit.header!) ?? ''
  else value = 'global'
  return value.length > MAX_BUCKET_KEY_VALUE_LENGTH ? value.slice(0, MAX_BUCKET_KEY_VALUE_LENGTH) : value
}

function instance(limit: CompiledLimit, keyValue: string): ApplicableLimit {
  return {
    policy: limit.policy,
    limit: limit.index,
    key: limit.key,
    keyValue,
    bucketKey: `${limit.policy}/${limit.index}/${keyValue}`,
    capacity: limit.capacity,
    refillPerSecond: limit.refillPerSecond,
    reason: limit.reason,
  }
}
