/**
 * Weft's foreign functions (`proxy_call_foreign_function`): host work a filter should not do itself.
 *
 * `weft.verify_jwt` checks an end-user JWT with jose, so signatures are verified by WebCrypto rather than by
 * crypto compiled into every filter. The ABI call is synchronous and WebCrypto is not, so (filters/README.md,
 * "Foreign functions"):
 *   - a token verified before and not yet expired is answered at once from a bounded cache:
 *     `{"valid":true,"claims":{…}}`;
 *   - otherwise the answer is `{"pending":<id>}`: the filter returns Pause, and once jose is done the host calls
 *     `proxy_on_foreign_function(context, id, size)` with the answer (`{"valid":true,…}` or
 *     `{"valid":false,"error":"…"}`) in buffer FOREIGN_FUNCTION_ARGUMENTS; the filter continues or answers 401.
 * Arguments: `{"token":"…","issuer":"…","audiences":["…"],"jwks":{"keys":[…]}}` (UTF-8 JSON).
 */
import { createLocalJWKSet, errors, jwtVerify, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose'
import { LruCache } from '../../../mesh/src/identity/lru-cache'
import type { ForeignFunction } from './proxy-imports'

export const VERIFY_JWT = 'weft.verify_jwt'

export type VerifyJwtAnswer = { valid: true; claims: Record<string, unknown> } | { valid: false; error: string }

export type VerifyJwtOptions = {
  /** Verified tokens kept (each until its `exp`); 0 turns the cache off. */
  cacheSize?: number
  /** How long a token without `exp` stays cached. */
  maxCacheMs?: number
  /** Leeway for `exp`/`nbf`, as for JWT-SVIDs (DESIGN.md "Identity"). */
  clockSkewSeconds?: number
}

export type VerifyJwtStats = { hits: number; misses: number; verifications: number; cached: number }

export type VerifyJwtFunction = ForeignFunction & { stats(): VerifyJwtStats }

const DEFAULT_CACHE_SIZE = 10_000
const DEFAULT_MAX_CACHE_MS = 5 * 60_000
const DEFAULT_CLOCK_SKEW_SECONDS = 30
// A handful of issuers per proxy; their parsed key sets are reused across tokens.
const KEY_SETS_CACHED = 64

const encoder = new TextEncoder()
const decoder = new TextDecoder()

type Cached = { answer: Uint8Array; until: number }

/**
 * Creates `weft.verify_jwt`. The cache key is the whole argument text (token, issuer, audiences and key set),
 * so a hit can never answer for another issuer's keys or audience.
 */
export function createVerifyJwt(options: VerifyJwtOptions = {}): VerifyJwtFunction {
  const cache = new LruCache<string, Cached>(options.cacheSize ?? DEFAULT_CACHE_SIZE)
  const keySets = new LruCache<string, JWTVerifyGetKey>(KEY_SETS_CACHED)
  const maxCacheMs = options.maxCacheMs ?? DEFAULT_MAX_CACHE_MS
  const clockTolerance = options.clockSkewSeconds ?? DEFAULT_CLOCK_SKEW_SECONDS
  // Concurrent first sights of one token share one verification.
  const inFlight = new Map<string, Promise<Uint8Array>>()
  const stats = { hits: 0, misses: 0, verifications: 0 }

  async function verify(argsText: string, now: number): Promise<Uint8Array> {
    stats.verifications += 1
    let answer: VerifyJwtAnswer
    let until = 0
    try {
      const args = parseArgs(argsText)
      const jwksText = JSON.stringify(args.jwks)
      let keys = keySets.get(jwksText)
      if (!keys) {
        keys = createLocalJWKSet(args.jwks)
        keySets.set(jwksText, keys)
      }
      const { payload } = await jwtVerify(args.token, keys, {
        issuer: args.issuer,
        ...(args.audiences.length > 0 ? { audience: args.audiences } : {}),
        currentDate: new Date(now),
        clockTolerance,
      })
      answer = { valid: true, claims: payload as Record<string, unknown> }
      until = payload.exp === undefined ? now + maxCacheMs : Math.min(payload.exp * 1000, now + maxCacheMs)
    } catch (error) {
      answer = { valid: false, error: describe(error) }
    }
    const bytes = encoder.encode(JSON.stringify(answer))
    // Only successes are cached: a bad token costs its sender a verification each time, never a cache slot.
    if (answer.valid && until > now) cache.set(argsText, { answer: bytes, until })
    return bytes
  }

  const fn: ForeignFunction = (args, call) => {
    const argsText = decoder.decode(args)
    const now = call.now()
    const hit = cache.get(argsText)
    if (hit) {
      if (hit.until > now) {
        stats.hits += 1
        return hit.answer
      }
      cache.delete(argsText)
    }
    stats.misses += 1
    let pending = inFlight.get(argsText)
    if (!pending) {
      pending = verify(argsText, now).finally(() => inFlight.delete(argsText))
      inFlight.set(argsText, pending)
    }
    return encoder.encode(`{"pending":${call.defer(pending)}}`)
  }
  return Object.assign(fn, { stats: (): VerifyJwtStats => ({ ...stats, cached: cache.size }) })
}

type VerifyArgs = { token: string; issuer: string; audiences: string[]; jwks: JSONWebKeySet }

/** @throws TypeError when the filter sent something else than the documented arguments. */
function parseArgs(text: string): VerifyArgs {
  const args = JSON.parse(text) as Partial<VerifyArgs> | null
  if (typeof args !== 'object' || args === null) throw new TypeError('arguments must be a JSON object')
  const { token, issuer, audiences, jwks } = args
  if (typeof token !== 'string' || token === '') throw new TypeError('token must be a non-empty string')
  if (typeof issuer !== 'string' || issuer === '') throw new TypeError('issuer must be a non-empty string')
  if (!Array.isArray(audiences) || !audiences.every((a) => typeof a === 'string')) throw new TypeError('audiences must be strings')
  if (typeof jwks !== 'object' || jwks === null || !Array.isArray(jwks.keys)) throw new TypeError('jwks must be {"keys": [...]}')
  return { token, issuer, audiences, jwks }
}

function describe(error: unknown): string {
  if (error instanceof errors.JOSEError) return `${error.code}: ${error.message}`
  if (error instanceof SyntaxError || error instanceof TypeError) return `ERR_WEFT_VERIFY_JWT_ARGS: ${error.message}`
  return 'ERR_WEFT_VERIFY_JWT: verification failed'
}

let shared: VerifyJwtFunction | undefined

/**
 * The foreign functions every Weft filter host offers unless its options name others. One verifier (and so one
 * token cache) per process, shared by every filter host of the proxy.
 */
export function weftForeignFunctions(): Record<string, ForeignFunction> {
  shared ??= createVerifyJwt()
  return { [VERIFY_JWT]: shared }
}
