/**
 * Why a JWT-SVID was refused, one class per reason. Callers switch on `code` (stable, distinct), never on
 * the message. Messages name what was expected, never echo token contents: tokens come from anyone.
 *
 * Every reason except `SvidJwksUnavailable` means "these credentials are bad" (401); that one means "we
 * could not check" (503), because the tenant's keys could not be fetched.
 */
export class SvidError extends Error {
  static code = 'ERR_SVID'
  code: string = SvidError.code

  constructor(message?: string, options?: { cause?: unknown }) {
    super(message ?? '', options)
    this.name = new.target.name
  }
}

/** Not a compact JWS with JSON-object header and claims, or a claim of the wrong type. */
export class SvidMalformed extends SvidError {
  static override code = 'ERR_SVID_MALFORMED'
  override code = SvidMalformed.code
}

/** Longer than `maxTokenBytes`; refused before any decoding. */
export class SvidTooLarge extends SvidError {
  static override code = 'ERR_SVID_TOO_LARGE'
  override code = SvidTooLarge.code
}

/** `alg` outside ES256, ES384, RS256, PS256 (covers `none` and HS256-with-the-public-key). */
export class SvidAlgNotAllowed extends SvidError {
  static override code = 'ERR_SVID_ALG_NOT_ALLOWED'
  override code = SvidAlgNotAllowed.code
}

/** `typ` other than JWT/JOSE, or a `cty` (nested tokens are not accepted). */
export class SvidTypInvalid extends SvidError {
  static override code = 'ERR_SVID_TYP'
  override code = SvidTypInvalid.code
}

/** A `crit` header (no JWS extension is understood, RFC 7515 §4.1.11) or `b64`. */
export class SvidCritUnsupported extends SvidError {
  static override code = 'ERR_SVID_CRIT'
  override code = SvidCritUnsupported.code
}

/** A `jwk`, `jku`, `x5u` or `x5c` header: keys come from the tenant JWKS only, never from the token. */
export class SvidEmbeddedKey extends SvidError {
  static override code = 'ERR_SVID_EMBEDDED_KEY'
  override code = SvidEmbeddedKey.code
}

/** No usable key with the token's `kid`, even after the rate-limited JWKS refetch. */
export class SvidKidUnknown extends SvidError {
  static override code = 'ERR_SVID_KID_UNKNOWN'
  override code = SvidKidUnknown.code
}

/** The `kid` names a key made for another alg (algorithm confusion, RFC 8725 §2.1). */
export class SvidKeyAlgMismatch extends SvidError {
  static override code = 'ERR_SVID_KEY_ALG_MISMATCH'
  override code = SvidKeyAlgMismatch.code
}

/** The signature is missing or does not verify with the named key. */
export class SvidSignatureInvalid extends SvidError {
  static override code = 'ERR_SVID_SIGNATURE'
  override code = SvidSignatureInvalid.code
}

/** `aud` is not (and does not contain) the verifier's audience: a token minted for someone else. */
export class SvidAudienceMismatch extends SvidError {
  static override code = 'ERR_SVID_AUDIENCE'
  override code = SvidAudienceMismatch.code
}

export class SvidIssuerMismatch extends SvidError {
  static override code = 'ERR_SVID_ISSUER'
  override code = SvidIssuerMismatch.code
}

/** `sub` is a SPIFFE ID of another trust domain, i.e. another tenant. */
export class SvidTrustDomainMismatch extends SvidError {
  static override code = 'ERR_SVID_TRUST_DOMAIN'
  override code = SvidTrustDomainMismatch.code
}

/** `sub` is not a Weft SPIFFE ID (`spiffe://<td>/svc/<service>`). */
export class SvidSubjectInvalid extends SvidError {
  static override code = 'ERR_SVID_SUBJECT'
  override code = SvidSubjectInvalid.code
}

/** `exp` plus the clock skew has passed. */
export class SvidExpired extends SvidError {
  static override code = 'ERR_SVID_EXPIRED'
  override code = SvidExpired.code
}

/** `nbf` (or `iat`) is later than now plus the clock skew. */
export class SvidNotYetValid extends SvidError {
  static override code = 'ERR_SVID_NOT_YET_VALID'
  override code = SvidNotYetValid.code
}

export class SvidMissingClaim extends SvidError {
  static override code = 'ERR_SVID_MISSING_CLAIM'
  override code = SvidMissingClaim.code
  readonly claim: string
  constructor(claim: string) {
    super(`the "${claim}" claim is required`)
    this.claim = claim
  }
}

/** Authentic, but the workload (or this token) is revoked. */
export class SvidRevoked extends SvidError {
  static override code = 'ERR_SVID_REVOKED'
  override code = SvidRevoked.code
}

/** The tenant JWKS has never been loaded and fetching it failed: the token could not be checked at all. */
export class SvidJwksUnavailable extends SvidError {
  static override code = 'ERR_SVID_JWKS_UNAVAILABLE'
  override code = SvidJwksUnavailable.code
}

/** Every rejection class, for exhaustive mapping (e.g. to problem types) and tests. */
export const SVID_ERROR_CLASSES = [
  SvidMalformed,
  SvidTooLarge,
  SvidAlgNotAllowed,
  SvidTypInvalid,
  SvidCritUnsupported,
  SvidEmbeddedKey,
  SvidKidUnknown,
  SvidKeyAlgMismatch,
  SvidSignatureInvalid,
  SvidAudienceMismatch,
  SvidIssuerMismatch,
  SvidTrustDomainMismatch,
  SvidSubjectInvalid,
  SvidExpired,
  SvidNotYetValid,
  SvidMissingClaim,
  SvidRevoked,
  SvidJwksUnavailable,
] as const

/** A string that is not a Weft SPIFFE ID; thrown by `parseSpiffeId`/`spiffeIdOf`, not a token rejection. */
export class SpiffeIdInvalid extends Error {
  static code = 'ERR_SPIFFE_ID_INVALID'
  code = SpiffeIdInvalid.code
  constructor(message?: string) {
    super(message ?? '')
    this.name = 'SpiffeIdInvalid'
  }
}
