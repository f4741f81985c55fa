import { createSvidVerifier, JwksCache, SvidError, type Jwks, type SvidVerifier, type VerifiedSvid } from '../../../mesh/src/identity/index'
import type { Snapshot } from '../../../mesh/src/snapshot/types'
import type { ProxyLogger } from './proxy-deps'

export type CallerIdentity =
  | { readonly kind: 'anonymous' }
  | { readonly kind: 'verified'; readonly svid: VerifiedSvid }
  | { readonly kind: 'refused'; readonly error: SvidError }

const ANONYMOUS: CallerIdentity = { kind: 'anonymous' }

/** A verifier's refusal as a CallerIdentity; anything else is the proxy's own failure, thrown on. */
function refusedBy(err: unknown): CallerIdentity {
  if (err instanceof SvidError) return { kind: 'refused', error: err }
  throw err
}

/**
 * Verifies callers' `Weft-Identity` JWT-SVIDs for the inbound side, with the mesh verifier: audience = this
 * service's SPIFFE ID, issuer and trust domain from the snapshot, keys from the snapshot's JWKS (pushed with
 * `setJwks` whenever a new snapshot brings another key set), revocations from `snapshot.revokedWorkloads`
 * (asked on every verification, cached or not). Verified tokens are cached by the verifier until they expire,
 * so a known caller costs one Map lookup. A new verifier (and cache) only when the audience, issuer or trust
 * domain changes, which in practice is never during a proxy's life.
 */
export class CallerVerifier {
  readonly #now: () => number
  readonly #fetchJwks: (() => Promise<Jwks>) | undefined
  readonly #logger: ProxyLogger
  #jwks: JwksCache | null = null
  #jwksSource: object | null = null
  #verifier: SvidVerifier | null = null
  #verifierKey: readonly [trustDomain: string, issuer: string, audience: string] | null = null
  #revokedSource: readonly string[] | null = null
  #revoked: ReadonlySet<string> = new Set()

  constructor(options: { now: () => number; fetchJwks?: () => Promise<Jwks>; logger: ProxyLogger }) {
    this.#now = options.now
    this.#fetchJwks = options.fetchJwks
    this.#logger = options.logger
  }

  /**
   * Empty or absent token: anonymous (authorization decides). Present and bad: refused, with the SvidError.
   * A value, not a promise, when the verifier knows the token already (a caller's cached token, a remembered
   * refusal): a request from a known caller waits for nothing.
   */
  identify(snapshot: Snapshot, token: string | null): CallerIdentity | Promise<CallerIdentity> {
    if (token === null || token === '') return ANONYMOUS
    const verifier = this.#verifierFor(snapshot)
    try {
      const svid = verifier.known(token)
      if (svid !== undefined) return { kind: 'verified', svid }
    } catch (err) {
      return refusedBy(err)
    }
    return verifier.verify(token).then((svid): CallerIdentity => ({ kind: 'verified', svid }), refusedBy)
  }

  #verifierFor(snapshot: Snapshot): SvidVerifier {
    if (snapshot.revokedWorkloads !== this.#revokedSource) {
      this.#revokedSource = snapshot.revokedWorkloads
      this.#revoked = new Set(snapshot.revokedWorkloads)
    }
    const jwks = snapshot.jwks as unknown as Jwks
    if (this.#jwks === null) {
      this.#jwks = new JwksCache({ jwks: { keys: [] }, fetchJwks: this.#fetchJwks, now: this.#now })
    }
    if (this.#jwksSource !== snapshot.jwks) {
      try {
        this.#jwks.setJwks(jwks)
      } catch (err) {
        // A malformed key set in one snapshot must not drop the keys that verify today's callers.
        this.#logger.error({ err: String(err), revision: snapshot.revision }, 'snapshot JWKS rejected; keeping the previous keys')
      }
      this.#jwksSource = snapshot.jwks
    }
    // Compared field by field: a key string made per request only to compare it cost an allocation a request.
    const key = this.#verifierKey
    if (this.#verifier === null || key === null || key[0] !== snapshot.tenant.trustDomain || key[1] !== snapshot.issuer || key[2] !== snapshot.service.spiffeId) {
      this.#verifier = createSvidVerifier({
        trustDomain: snapshot.tenant.trustDomain,
        issuer: snapshot.issuer,
        audience: snapshot.service.spiffeId,
        jwks: this.#jwks,
        now: this.#now,
        isRevoked: (svid) => svid.workloadId !== undefined && this.#revoked.has(svid.workloadId),
      })
      this.#verifierKey = [snapshot.tenant.trustDomain, snapshot.issuer, snapshot.service.spiffeId]
    }
    return this.#verifier
  }

  stats() {
    return this.#verifier?.stats() ?? null
  }
}
