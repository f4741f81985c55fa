import { importJWK, type JWK } from 'jose'
import { jwkFitsAlg, MIN_RSA_MODULUS_BITS, type SvidAlg } from './svid-algs'
import { SvidJwksUnavailable, SvidKeyAlgMismatch, SvidKidUnknown } from './svid-errors'

export type Jwks = { keys: JWK[] }

export type JwksCacheOptions = {
  /** Loads the tenant JWKS; the proxy fetches `/v1/tenants/{slug}/jwks.json`, tests pass a function. */
  fetchJwks?: () => Promise<Jwks>
  /** A JWKS to start with (e.g. from the snapshot); alone, it makes a static cache that never fetches. */
  jwks?: Jwks
  minRefetchIntervalMs?: number
  /** Milliseconds since the epoch; injected so tests can move time. */
  now?: () => number
}

/**
 * An unknown `kid` is attacker-controlled input: without a floor on refetches, a stream of made-up kids
 * would turn every proxy into a load generator against the control API. Keys are published before they
 * sign (DESIGN.md, "Identity"), so a legitimate unknown kid is rare and 30 s of lag at most.
 */
export const DEFAULT_MIN_REFETCH_INTERVAL_MS = 30_000

/** Identifies one key's material; changes when the key behind a kid is removed or replaced. */
export type JwksKeyHandle = object

type KeyEntry = {
  jwk: JWK
  fingerprint: string
  // Per alg, because an RSA JWK without `alg` could be imported for RS256 and PS256 separately.
  imported: Map<SvidAlg, Promise<CryptoKey>>
}

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const

function usableForVerification(jwk: JWK): boolean {
  if (typeof jwk !== 'object' || jwk === null) return false
  if (typeof jwk.kid !== 'string' || jwk.kid === '') return false
  // A private or symmetric member means the publisher made a mistake; such a key must not become trusted.
  if (PRIVATE_MEMBERS.some((m) => m in jwk)) return false
  if (jwk.use !== undefined && jwk.use !== 'sig') return false
  if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes('verify'))) return false
  if (jwk.kty === 'RSA') {
    if (typeof jwk.n !== 'string') return false
    // Unpadded base64url: every 4 characters carry 3 bytes.
    const modulusBits = Math.floor((jwk.n.length * 6) / 8) * 8
    if (modulusBits < MIN_RSA_MODULUS_BITS) return false
  }
  return true
}

// Only the members that define the public key: a re-published JWK with another `use` or extra fields is
// the same key and keeps its imported CryptoKey and any tokens cached against it.
function fingerprintOf(jwk: JWK): string {
  return JSON.stringify([jwk.kty, jwk.crv, jwk.x, jwk.y, jwk.n, jwk.e, jwk.alg])
}

/**
 * One tenant's signing keys, as the verifier sees them. `kid` is only a map key: nothing about the key is
 * taken from the token. Imported CryptoKeys are cached per kid (and alg) for as long as the JWKS keeps
 * the same key under that kid.
 */
export class JwksCache {
  readonly minRefetchIntervalMs: number
  readonly #fetchJwks: (() => Promise<Jwks>) | undefined
  readonly #now: () => number
  #keys = new Map<string, KeyEntry>()
  #loaded = false
  #lastFetchAt = Number.NEGATIVE_INFINITY
  #lastFetchError: unknown
  #inflight: Promise<void> | undefined
  #fetchCount = 0
  #generation = 0

  constructor(options: JwksCacheOptions) {
    if (options.fetchJwks === undefined && options.jwks === undefined) throw new TypeError('JwksCache needs fetchJwks, jwks, or both')
    if (options.fetchJwks !== undefined && typeof options.fetchJwks !== 'function') throw new TypeError('fetchJwks must be a function')
    const interval = options.minRefetchIntervalMs ?? DEFAULT_MIN_REFETCH_INTERVAL_MS
    if (!Number.isFinite(interval) || interval < 0) throw new RangeError(`minRefetchIntervalMs must be a non-negative number, got ${interval}`)
    this.minRefetchIntervalMs = interval
    this.#fetchJwks = options.fetchJwks
    this.#now = options.now ?? Date.now
    if (options.jwks !== undefined) this.setJwks(options.jwks)
  }

  /** How many times `fetchJwks` has been called. */
  get fetchCount(): number {
    return this.#fetchCount
  }

  /** Bumped whenever a key is removed or replaced, so holders of derived state (cached tokens) re-check. */
  get generation(): number {
    return this.#generation
  }

  /** The current material under `kid`, compared by identity: the same handle means the same key. */
  handleOf(kid: string): JwksKeyHandle | undefined {
    return this.#keys.get(kid)
  }

  /**
   * Replaces the key set, e.g. with the JWKS from a newer snapshot. Keys that cannot serve to verify
   * (private members, `use` other than sig, RSA under 2048 bits, no kid) are left out, and a kid that
   * appears twice is left out entirely, since either copy could be the wrong one.
   * @throws TypeError when `jwks` is not `{ keys: [...] }`.
   */
  setJwks(jwks: Jwks): void {
    if (typeof jwks !== 'object' || jwks === null || !Array.isArray(jwks.keys)) throw new TypeError('a JWKS is an object with a "keys" array')
    const next = new Map<string, KeyEntry>()
    const duplicated = new Set<string>()
    for (const jwk of jwks.keys) {
      if (!usableForVerification(jwk)) continue
      const kid = jwk.kid!
      if (next.has(kid)) duplicated.add(kid)
      const fingerprint = fingerprintOf(jwk)
      const previous = this.#keys.get(kid)
      next.set(kid, previous?.fingerprint === fingerprint ? previous : { jwk, fingerprint, imported: new Map() })
    }
    for (const kid of duplicated) next.delete(kid)
    for (const [kid, entry] of this.#keys) {
      if (next.get(kid) !== entry) {
        this.#generation++
        break
      }
    }
    this.#keys = next
    this.#loaded = true
  }

  /**
   * Fetches the JWKS unless a fetch is under way (then joins it) or the last one started less than
   * `minRefetchIntervalMs` ago. Never throws: a failed fetch keeps the previous keys.
   */
  refresh(): Promise<void> {
    if (this.#inflight) return this.#inflight
    if (!this.#fetchJwks) return Promise.resolve()
    const now = this.#now()
    if (now - this.#lastFetchAt < this.minRefetchIntervalMs) return Promise.resolve()
    this.#lastFetchAt = now
    this.#fetchCount++
    const fetchJwks = this.#fetchJwks
    const run = (async () => {
      try {
        this.setJwks(await fetchJwks())
        this.#lastFetchError = undefined
      } catch (err) {
        this.#lastFetchError = err
      }
    })()
    // Cleared in a later tick even if fetchJwks throws synchronously, so the slot cannot stay stuck.
    const inflight: Promise<void> = run.finally(() => {
      if (this.#inflight === inflight) this.#inflight = undefined
    })
    this.#inflight = inflight
    return inflight
  }

  /**
   * The verification key for `kid`, imported for `alg`. An unknown kid triggers one rate-limited refetch,
   * shared by every caller that misses meanwhile.
   * @throws SvidKidUnknown, SvidKeyAlgMismatch, SvidJwksUnavailable
   */
  async getKey(kid: string, alg: SvidAlg): Promise<CryptoKey> {
    return (await this.resolveKey(kid, alg)).key
  }

  /** `getKey`, plus the handle of the material the key was imported from (see `handleOf`). */
  async resolveKey(kid: string, alg: SvidAlg): Promise<{ key: CryptoKey; handle: JwksKeyHandle }> {
    let entry = this.#keys.get(kid)
    if (!entry && this.#fetchJwks) {
      await this.refresh()
      entry = this.#keys.get(kid)
    }
    if (!entry) {
      if (!this.#loaded) throw new SvidJwksUnavailable('the tenant JWKS could not be loaded', { cause: this.#lastFetchError })
      throw new SvidKidUnknown('no key in the tenant JWKS has this kid', { cause: this.#lastFetchError })
    }
    return { key: await this.#import(kid, entry, alg), handle: entry }
  }

  async #import(kid: string, entry: KeyEntry, alg: SvidAlg): Promise<CryptoKey> {
    const { jwk } = entry
    if ((jwk.alg !== undefined && jwk.alg !== alg) || !jwkFitsAlg(jwk, alg)) {
      throw new SvidKeyAlgMismatch(`key ${kid} is ${jwk.alg ?? `${jwk.kty} ${jwk.crv ?? ''}`.trim()}, not ${alg}`)
    }
    let key = entry.imported.get(alg)
    if (!key) {
      // Only the public members: `key_ops`, `ext` and the like must not change what WebCrypto builds.
      const publicJwk: JWK = jwk.kty === 'RSA' ? { kty: 'RSA', n: jwk.n, e: jwk.e } : { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y }
      key = importJWK(publicJwk, alg).then((k) => {
        if (k instanceof Uint8Array) throw new TypeError('not an asymmetric key')
        return k
      })
      entry.imported.set(alg, key)
      key.catch(() => entry.imported.delete(alg))
    }
    try {
      return await key
    } catch (err) {
      throw new SvidKidUnknown(`key ${kid} in the tenant JWKS cannot be imported for ${alg}`, { cause: err })
    }
  }
}
