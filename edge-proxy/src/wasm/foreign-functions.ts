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
 * Arguments: `{"token":"…","issuer":"…","audiences":["…"],"jwks":{"keys":[…]}}` (UTF-8 JSON), or — after the filter
 * registered its issuer once with `weft.jwt_config` — the compact `<handle>:<token>` (ASCII), so a request sends
 * only its token and the host neither copies nor hashes the issuer's key set again.
 *
 * `weft.jwt_config` takes `{"issuer":"…","audiences":["…"],"jwks":{"keys":[…]}}` (jwt-auth calls it in
 * `onConfigure`, once per issuer) and answers the handle as a u32, little-endian. The same text always gets the
 * same handle, so a re-instantiated VM reuses its entry; arguments it refuses answer INTERNAL_FAILURE.
 */
import { createLocalJWKSet, errors, jwtVerify, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose'
import { LruCache } from '../../../mesh/src/identity/lru-cache'
import type { ForeignFunction } from './proxy-imports'

export const VERIFY_JWT = 'weft.verify_jwt'
export const JWT_CONFIG = 'weft.jwt_config'

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

export type VerifyJwtFunction = ForeignFunction & {
  stats(): VerifyJwtStats
  /** `weft.jwt_config`, registering issuers for this verifier's compact `<handle>:<token>` arguments. */
  config: ForeignFunction
}

const DEFAULT_CACHE_SIZE = 10_000
const DEFAULT_MAX_CACHE_MS = 5 * 60_000
const DEFAULT_CLOCK_SKEW_SECONDS = 30
// A handful of issuers per proxy; their parsed key sets are reused across tokens.
const KEY_SETS_CACHED = 64
// Distinct issuer configurations one proxy registers (each attachment's issuers); past this jwt_config refuses
// and jwt-auth falls back to sending the whole arguments per request.
const MAX_CONFIGS = 4096

const encoder = new TextEncoder()
const decoder = new TextDecoder()
// Native memcmp where the runtime has it (Node); undefined elsewhere (workerd without nodejs_compat).
const nodeBuffer = (globalThis as { Buffer?: { compare(a: Uint8Array, b: Uint8Array): number } }).Buffer
const compareBytes = nodeBuffer === undefined ? undefined : (a: Uint8Array, b: Uint8Array): number => nodeBuffer.compare(a, b)

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

  /** Issuer configurations by handle (jwt_config), and their handles by argument text. */
  const configs: Array<IssuerArgs> = []
  const handles = new Map<string, number>()

  async function verify(argsText: string, now: number): Promise<Uint8Array> {
    stats.verifications += 1
    let answer: VerifyJwtAnswer
    let until = 0
    try {
      const args = parseVerify(argsText, configs)
      const jwksText = args.jwksText ?? JSON.stringify(args.jwks)
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
    if (answer.valid && until > now) {
      cache.set(argsText, { answer: bytes, until })
      lastHitText = undefined
    }
    return bytes
  }

  const config: ForeignFunction = (args) => {
    const text = decoder.decode(args)
    let handle = handles.get(text)
    if (handle === undefined) {
      const parsed = parseIssuer(JSON.parse(text))
      if (configs.length >= MAX_CONFIGS) throw new RangeError(`more than ${MAX_CONFIGS} issuer configurations`)
      handle = configs.length
      configs.push({ ...parsed, jwksText: JSON.stringify(parsed.jwks) })
      handles.set(text, handle)
    }
    const out = new Uint8Array(4)
    new DataView(out.buffer).setUint32(0, handle, true)
    return out
  }

  // The last arguments' text: a request repeating them (a client's token on every request) looks the cache up with
  // that same string, whose hash V8 keeps, instead of hashing a fresh ~1 KB string each time. Where a native byte
  // comparison exists (Node's Buffer.compare), a repeat is recognised by its bytes without decoding them again.
  let lastText = ''
  let lastBytes: Uint8Array | undefined
  /** The arguments of the last cache hit; a miss or a verification in between resets it. */
  let lastHitText: string | undefined
  const fn: ForeignFunction = (args, call) => {
    let argsText: string
    if (lastBytes !== undefined && args.length === lastBytes.length && compareBytes!(args, lastBytes) === 0) {
      argsText = lastText
    } else {
      const decoded = decoder.decode(args)
      argsText = decoded === lastText ? lastText : (lastText = decoded)
      // A copy: `args` is a view of guest memory (borrowsArguments).
      if (compareBytes !== undefined) lastBytes = args.slice()
    }
    const now = call.now()
    // A repeat of the last arguments was made most recent when it was last read: a lookup without the refresh.
    const hit = argsText === lastHitText ? cache.peek(argsText) : cache.get(argsText)
    if (hit) {
      if (hit.until > now) {
        stats.hits += 1
        lastHitText = argsText
        return hit.answer
      }
      cache.delete(argsText)
    }
    stats.misses += 1
    lastHitText = undefined
    let pending = inFlight.get(argsText)
    if (!pending) {
      pending = verify(argsText, now).finally(() => inFlight.delete(argsText))
      inFlight.set(argsText, pending)
    }
    return encoder.encode(`{"pending":${call.defer(pending)}}`)
  }
  return Object.assign(fn, {
    // Both decode their arguments before anything else and keep only the text.
    borrowsArguments: true,
    stats: (): VerifyJwtStats => ({ ...stats, cached: cache.size }),
    config: Object.assign(config, { borrowsArguments: true }),
  })
}

type IssuerArgs = { issuer: string; audiences: string[]; jwks: JSONWebKeySet; jwksText?: string }

type VerifyArgs = IssuerArgs & { token: string }

/**
 * The JSON arguments, or `<handle>:<token>` resolved against the registered configurations.
 * @throws TypeError when the filter sent something else than the documented arguments.
 */
function parseVerify(text: string, configs: ReadonlyArray<IssuerArgs>): VerifyArgs {
  const compact = /^(\d{1,10}):(.+)$/s.exec(text)
  if (compact) {
    const config = configs[Number(compact[1])]
    if (config === undefined) throw new TypeError(`no issuer configuration ${compact[1]} (weft.jwt_config)`)
    return { ...config, token: compact[2]! }
  }
  const args = JSON.parse(text) as Partial<VerifyArgs> | null
  if (typeof args !== 'object' || args === null) throw new TypeError('arguments must be a JSON object')
  const { token } = args
  if (typeof token !== 'string' || token === '') throw new TypeError('token must be a non-empty string')
  return { ...parseIssuer(args), token }
}

/** @throws TypeError when issuer, audiences or jwks are not what the documentation says. */
function parseIssuer(args: unknown): IssuerArgs {
  if (typeof args !== 'object' || args === null) throw new TypeError('arguments must be a JSON object')
  const { issuer, audiences, jwks } = args as Partial<IssuerArgs>
  if (typeof issuer !== 'string' || issuer === '') throw new TypeError('issuer must be a non-empty string')
  if (!Array.isArray(audiences) || !audiences.every((a) => typeof a === 'string')) throw new TypeError('audiences must be strings')
  if (typeof jwks !== 'object' || jwks === null || !Array.isArray(jwks.keys)) throw new TypeError('jwks must be {"keys": [...]}')
  return { issuer, audiences, jwks }
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
  return jwtForeignFunctions(shared)
}

/** `weft.verify_jwt` and its `weft.jwt_config`, by name, for FilterHostOptions.foreignFunctions. */
export function jwtForeignFunctions(verify: VerifyJwtFunction): Record<string, ForeignFunction> {
  return { [VERIFY_JWT]: verify, [JWT_CONFIG]: verify.config }
}
