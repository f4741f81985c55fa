import { decodeBase64Url, decodeClaims, decodeHeader, signingInputOf, splitCompactJws } from './compact-jws'
import type { JwksCache, JwksKeyHandle } from './jwks-cache'
import { LruCache } from './lru-cache'
import { isTrustDomain, parseSpiffeId } from './spiffe'
import { ECDSA_SIGNATURE_BYTES, isSvidAlg, VERIFY_PARAMS, type SvidAlg } from './svid-algs'
import {
  SvidAlgNotAllowed,
  SvidAudienceMismatch,
  SvidCritUnsupported,
  SvidEmbeddedKey,
  SvidError,
  SvidExpired,
  SvidIssuerMismatch,
  SvidKeyAlgMismatch,
  SvidMalformed,
  SvidMissingClaim,
  SvidNotYetValid,
  SvidRevoked,
  SvidSignatureInvalid,
  SvidSubjectInvalid,
  SvidTooLarge,
  SvidTrustDomainMismatch,
  SvidTypInvalid,
} from './svid-errors'

/** A JWT-SVID whose signature, issuer, audience, subject and lifetime have been checked. Times are in seconds. */
export type VerifiedSvid = Readonly<{
  spiffeId: string
  trustDomain: string
  service: string
  /** The verifier's audience, which the token's `aud` equals or contains. */
  audience: string
  issuedAt: number | undefined
  expiresAt: number
  jti: string | undefined
  /** The `wid` claim: which workload instance of the service, when the issuer says. */
  workloadId: string | undefined
  kid: string
  alg: SvidAlg
}>

export type SvidVerifierOptions = {
  /** The tenant's trust domain, e.g. `acme.weft`: tokens whose `sub` is elsewhere are refused. */
  trustDomain: string
  /** `WEFT_PUBLIC_URL`, which every JWT-SVID carries as `iss`. */
  issuer: string
  /** The verifier's own SPIFFE ID, or the control API's audience string. */
  audience: string
  jwks: JwksCache
  clockSkewSeconds?: number
  maxTokenBytes?: number
  /** Verified tokens kept; 0 turns the cache off. */
  cacheSize?: number
  /** Milliseconds since the epoch. */
  now?: () => number
  /** Asked on every verify, cached or not, after the signature has been checked. */
  isRevoked?: (svid: VerifiedSvid) => boolean
}

export type SvidVerifierStats = {
  /** Verifications answered from the cache. */
  hits: number
  /** Verifications that decoded the token. */
  misses: number
  /** Calls to `crypto.subtle.verify`. */
  signatureChecks: number
  /** Tokens in the cache now. */
  cached: number
}

export interface SvidVerifier {
  /**
   * @throws SvidError (one subclass per reason; see svid-errors.ts). Never anything else for bad input.
   */
  verify(token: string): Promise<VerifiedSvid>
  /**
   * What `verify` would settle with when the verifier knows it already (a cached token: its SVID, or the
   * expiry or revocation it throws; a remembered refusal: thrown again), without a promise; undefined when
   * only `verify` can tell.
   */
  known(token: string): VerifiedSvid | undefined
  stats(): SvidVerifierStats
  /** Forgets every cached token, e.g. when a key is known to be compromised. */
  clear(): void
}

/** DESIGN.md, "Identity": verifiers allow 30 s of clock skew. */
export const DEFAULT_CLOCK_SKEW_SECONDS = 30
/** Weft's JWT-SVIDs are well under 1 KiB; 8 KiB leaves room for other issuers and stops hostile megabytes early. */
export const DEFAULT_MAX_TOKEN_BYTES = 8192
/** About 10k ES256 verifications per second per core (DESIGN.md): 10k cached tokens is a second of crypto saved per refill. */
export const DEFAULT_VERIFIER_CACHE_SIZE = 10_000
/** Refused tokens remembered (below); a Weft token is ≈ 800 bytes, so ≈ 200 KiB at most for usual callers. */
export const REFUSED_TOKENS_KEPT = 256
// Refusals no later check can reverse while the key set stays as it is. Not among them: not yet valid (time
// reverses it), unknown kid and keys unavailable (a JWKS refetch may), revoked (asked on every use anyway),
// too large (refused before any decoding, and not worth keeping).
const LASTING_REFUSALS: ReadonlySet<string> = new Set([
  SvidMalformed.code,
  SvidAlgNotAllowed.code,
  SvidTypInvalid.code,
  SvidCritUnsupported.code,
  SvidEmbeddedKey.code,
  SvidKeyAlgMismatch.code,
  SvidSignatureInvalid.code,
  SvidAudienceMismatch.code,
  SvidIssuerMismatch.code,
  SvidTrustDomainMismatch.code,
  SvidSubjectInvalid.code,
  SvidExpired.code,
  SvidMissingClaim.code,
])

// Beyond a few minutes "skew" is a misconfigured clock, and it would stretch every token's life.
const MAX_CLOCK_SKEW_SECONDS = 300

// Keys are only ever taken from the tenant JWKS; a token naming its own key must not even be considered.
const EMBEDDED_KEY_HEADERS = ['jwk', 'jku', 'x5u', 'x5c'] as const
// RFC 7515 §4.1.9 lets typ omit "application/" and asks for case-insensitive comparison.
const ALLOWED_TYP = /^(?:jwt|jose)$/i

type CacheEntry = {
  svid: VerifiedSvid
  /** (exp + skew) in ms: the instant from which the token is refused. */
  deadline: number
  generation: number
  handle: JwksKeyHandle
}

/**
 * Verifies Weft JWT-SVIDs for one tenant and one audience. Checks run cheapest first, and every check that
 * needs no key runs before the key lookup, so a forged or foreign token never costs a JWKS refetch or a
 * signature operation. Verified tokens are kept until `exp` (plus skew) in a bounded LRU keyed by the token
 * string, which makes a repeat verification one Map lookup, an expiry comparison and the revocation check.
 *
 * @example
 * const jwks = new JwksCache({ fetchJwks: () => fetch(`${url}/v1/tenants/acme/jwks.json`).then((r) => r.json()) })
 * const verifier = createSvidVerifier({ trustDomain: 'acme.weft', issuer: url, audience: 'spiffe://acme.weft/svc/payments', jwks })
 * const caller = await verifier.verify(request.headers.get('weft-identity') ?? '')
 * @throws TypeError or RangeError at construction when an option is unusable.
 */
export function createSvidVerifier(options: SvidVerifierOptions): SvidVerifier {
  const { trustDomain, issuer, audience, jwks, isRevoked } = options
  const skew = options.clockSkewSeconds ?? DEFAULT_CLOCK_SKEW_SECONDS
  const maxTokenBytes = options.maxTokenBytes ?? DEFAULT_MAX_TOKEN_BYTES
  const cacheSize = options.cacheSize ?? DEFAULT_VERIFIER_CACHE_SIZE
  const now = options.now ?? Date.now

  if (!isTrustDomain(trustDomain)) throw new TypeError(`trustDomain is not a lowercase DNS name: ${JSON.stringify(trustDomain)}`)
  if (typeof issuer !== 'string' || issuer === '') throw new TypeError('issuer must be a non-empty string')
  if (typeof audience !== 'string' || audience === '') throw new TypeError('audience must be a non-empty string')
  if (typeof jwks?.resolveKey !== 'function') throw new TypeError('jwks must be a JwksCache')
  if (!Number.isFinite(skew) || skew < 0 || skew > MAX_CLOCK_SKEW_SECONDS) throw new RangeError(`clockSkewSeconds must be within 0..${MAX_CLOCK_SKEW_SECONDS}, got ${skew}`)
  if (!Number.isInteger(maxTokenBytes) || maxTokenBytes <= 0) throw new RangeError(`maxTokenBytes must be a positive integer, got ${maxTokenBytes}`)
  if (typeof now !== 'function') throw new TypeError('now must be a function returning milliseconds')
  if (isRevoked !== undefined && typeof isRevoked !== 'function') throw new TypeError('isRevoked must be a function')

  const cache = new LruCache<string, CacheEntry>(cacheSize)
  // Concurrent first sights of one token (a burst as a caller starts) share a single verification.
  const pending = new Map<string, Promise<VerifiedSvid>>()
  let hits = 0
  let misses = 0
  let signatureChecks = 0

  // Refused tokens by token string, with their error: a caller that keeps sending one bad token (an expired
  // token it never renewed, one minted for another audience) cost a decode, claim checks (a signature check
  // too, for a forged one) and a new error object per request — more than twice a forwarded request's CPU on
  // the bench mesh. Now a Map lookup, the same error thrown again. Forgotten whenever the key set changes.
  const refused = new LruCache<string, SvidError>(cacheSize === 0 ? 0 : REFUSED_TOKENS_KEPT)
  let refusedGeneration = jwks.generation

  /** The remembered refusals, emptied first if the key set changed since they were made. */
  function refusals(): LruCache<string, SvidError> {
    if (refusedGeneration !== jwks.generation) {
      refused.clear()
      refusedGeneration = jwks.generation
    }
    return refused
  }

  function remember(token: string, generation: number, err: unknown): never {
    if (err instanceof SvidError && LASTING_REFUSALS.has(err.code) && generation === jwks.generation) refusals().set(token, err)
    throw err
  }

  function assertNotRevoked(svid: VerifiedSvid): void {
    if (isRevoked?.(svid)) throw new SvidRevoked(`${svid.spiffeId} is revoked`)
  }

  // The token looked up last and its entry: a caller sends the same token request after request, and comparing
  // it with the last one (length, then characters) costs less than hashing its ≈ 800 characters for the map.
  // The entry is checked below exactly as one from the map is; only its recency in the LRU is not refreshed.
  let lastToken = ''
  let lastEntry: CacheEntry | undefined

  function fromCache(token: string): VerifiedSvid | undefined {
    let entry = token === lastToken ? lastEntry : undefined
    if (entry === undefined) {
      entry = cache.get(token)
      if (!entry) return undefined
      lastToken = token
      lastEntry = entry
    }
    if (entry.generation !== jwks.generation) {
      // The key set lost or replaced a key since this token was checked: keep it only if its key survived.
      if (jwks.handleOf(entry.svid.kid) !== entry.handle) {
        forget(token)
        return undefined
      }
      entry.generation = jwks.generation
    }
    if (now() >= entry.deadline) {
      forget(token)
      throw new SvidExpired('the token has expired')
    }
    hits++
    assertNotRevoked(entry.svid)
    return entry.svid
  }

  /** A cached verification or a remembered refusal (thrown); undefined when neither knows the token. */
  function knownAnswer(token: string): VerifiedSvid | undefined {
    const cached = fromCache(token)
    if (cached) return cached
    const refusal = refused.size === 0 ? undefined : refusals().get(token)
    if (refusal !== undefined) throw refusal
    return undefined
  }

  function forget(token: string): void {
    cache.delete(token)
    if (token === lastToken) lastEntry = undefined
  }

  async function verifyUncached(token: string): Promise<VerifiedSvid> {
    misses++
    const [headerSegment, payloadSegment, signatureSegment] = splitCompactJws(token)
    const header = decodeHeader(headerSegment)

    const alg = header.alg
    if (!isSvidAlg(alg)) throw new SvidAlgNotAllowed('alg must be one of ES256, ES384, RS256, PS256')
    for (const name of EMBEDDED_KEY_HEADERS) {
      if (Object.hasOwn(header, name)) throw new SvidEmbeddedKey(`the "${name}" header is not accepted: keys come from the tenant JWKS`)
    }
    if (Object.hasOwn(header, 'crit')) throw new SvidCritUnsupported('no "crit" extension is supported')
    // RFC 7797 unencoded payloads change what the signature covers; only meaningful with crit, refused alone too.
    if (Object.hasOwn(header, 'b64')) throw new SvidCritUnsupported('the "b64" header is not supported')
    const typ = header.typ
    if (typ !== undefined && !(typeof typ === 'string' && ALLOWED_TYP.test(typ))) throw new SvidTypInvalid('typ must be JWT or JOSE')
    if (Object.hasOwn(header, 'cty')) throw new SvidTypInvalid('nested tokens (cty) are not accepted')
    const kid = header.kid
    if (typeof kid !== 'string' || kid === '') throw new SvidMalformed('the header has no kid')
    if (signatureSegment === '') throw new SvidSignatureInvalid('the token has no signature')

    const claims = decodeClaims(payloadSegment)
    for (const claim of ['exp', 'iss', 'sub', 'aud'] as const) {
      if (claims[claim] === undefined) throw new SvidMissingClaim(claim)
    }
    const { exp, iss, sub, aud, nbf, iat, jti, wid } = claims
    if (!isNumericDate(exp)) throw new SvidMalformed('exp must be a NumericDate')
    if (nbf !== undefined && !isNumericDate(nbf)) throw new SvidMalformed('nbf must be a NumericDate')
    if (iat !== undefined && !isNumericDate(iat)) throw new SvidMalformed('iat must be a NumericDate')
    if (jti !== undefined && typeof jti !== 'string') throw new SvidMalformed('jti must be a string')
    if (wid !== undefined && (typeof wid !== 'string' || wid === '')) throw new SvidMalformed('wid must be a non-empty string')
    if (typeof sub !== 'string') throw new SvidMalformed('sub must be a string')
    if (typeof iss !== 'string') throw new SvidMalformed('iss must be a string')
    if (!(typeof aud === 'string' || (Array.isArray(aud) && aud.every((a) => typeof a === 'string')))) throw new SvidMalformed('aud must be a string or an array of strings')

    if (iss !== issuer) throw new SvidIssuerMismatch(`iss must be ${issuer}`)
    let subject: { trustDomain: string; service: string }
    try {
      subject = parseSpiffeId(sub)
    } catch (err) {
      throw new SvidSubjectInvalid('sub must be spiffe://<trust domain>/svc/<service>', { cause: err })
    }
    if (subject.trustDomain !== trustDomain) throw new SvidTrustDomainMismatch(`sub must be in the trust domain ${trustDomain}`)
    if (!(aud === audience || (Array.isArray(aud) && aud.includes(audience)))) throw new SvidAudienceMismatch(`aud must be ${audience}`)

    const nowSeconds = now() / 1000
    if (nowSeconds >= exp + skew) throw new SvidExpired('the token has expired')
    if (nbf !== undefined && nbf > nowSeconds + skew) throw new SvidNotYetValid('the token is not valid yet (nbf)')
    if (iat !== undefined && iat > nowSeconds + skew) throw new SvidNotYetValid('the token was issued in the future (iat)')

    const signature = decodeBase64Url(signatureSegment)
    const expectedLength = ECDSA_SIGNATURE_BYTES[alg]
    if (expectedLength !== undefined && signature.length !== expectedLength) throw new SvidSignatureInvalid(`an ${alg} signature is ${expectedLength} bytes`)

    // Read before the lookup: a key swap while we await must leave this entry marked for a re-check.
    const generation = jwks.generation
    const { key, handle } = await jwks.resolveKey(kid, alg)
    let valid: boolean
    try {
      signatureChecks++
      valid = await crypto.subtle.verify(VERIFY_PARAMS[alg], key, signature, signingInputOf(headerSegment, payloadSegment))
    } catch (err) {
      throw new SvidSignatureInvalid('the signature could not be checked', { cause: err })
    }
    if (!valid) throw new SvidSignatureInvalid('the signature does not verify')

    const svid: VerifiedSvid = Object.freeze({
      spiffeId: sub,
      trustDomain: subject.trustDomain,
      service: subject.service,
      audience,
      issuedAt: iat,
      expiresAt: exp,
      jti,
      workloadId: wid,
      kid,
      alg,
    })
    assertNotRevoked(svid)
    cache.set(token, { svid, deadline: (exp + skew) * 1000, generation, handle })
    return svid
  }

  return {
    async verify(token: string): Promise<VerifiedSvid> {
      // Before anything else, so a hostile megabyte costs a length comparison. UTF-16 length never exceeds
      // UTF-8 length, and anything non-ASCII fails the compact-JWS shape check anyway.
      if (typeof token !== 'string') throw new SvidMalformed('the token is not a string')
      if (token.length > maxTokenBytes) throw new SvidTooLarge(`the token is longer than ${maxTokenBytes} bytes`)
      const cached = knownAnswer(token)
      if (cached) return cached
      let inFlight = pending.get(token)
      if (!inFlight) {
        const generation = jwks.generation
        inFlight = verifyUncached(token)
          .catch((err: unknown) => remember(token, generation, err))
          .finally(() => pending.delete(token))
        pending.set(token, inFlight)
      }
      return inFlight
    },
    known: (token: string) => (typeof token === 'string' && token.length <= maxTokenBytes ? knownAnswer(token) : undefined),
    stats: () => ({ hits, misses, signatureChecks, cached: cache.size }),
    clear: () => {
      cache.clear()
      refused.clear()
      lastEntry = undefined
    },
  }
}

function isNumericDate(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v)
}
