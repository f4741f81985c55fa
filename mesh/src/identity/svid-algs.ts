/**
 * The JWT-SVID signature algorithms Weft accepts. The list is closed on purpose (RFC 8725 §3.1): `none`,
 * HS* (which would let a public key double as an HMAC secret) and EdDSA (not in the JWT-SVID profile) are
 * never accepted, whatever a token or a JWK says.
 */
export const SVID_ALGS = ['ES256', 'ES384', 'RS256', 'PS256'] as const
export type SvidAlg = (typeof SVID_ALGS)[number]

export function isSvidAlg(alg: unknown): alg is SvidAlg {
  return alg === 'ES256' || alg === 'ES384' || alg === 'RS256' || alg === 'PS256'
}

/** What `crypto.subtle.verify` needs beside the key, per alg. */
export const VERIFY_PARAMS: Record<SvidAlg, AlgorithmIdentifier | RsaPssParams | EcdsaParams> = {
  ES256: { name: 'ECDSA', hash: 'SHA-256' },
  ES384: { name: 'ECDSA', hash: 'SHA-384' },
  RS256: { name: 'RSASSA-PKCS1-v1_5' },
  // RFC 7518 §3.5: the salt is as long as the hash.
  PS256: { name: 'RSA-PSS', saltLength: 32 } as RsaPssParams,
}

/**
 * JWS ECDSA signatures are fixed-length r‖s (RFC 7518 §3.4); anything else is not a signature, so it is
 * refused without asking WebCrypto (which would otherwise differ across runtimes on odd lengths).
 */
export const ECDSA_SIGNATURE_BYTES: Partial<Record<SvidAlg, number>> = { ES256: 64, ES384: 96 }

/** RFC 7518 §3.3 and §3.5 ask for at least 2048-bit RSA keys. */
export const MIN_RSA_MODULUS_BITS = 2048

/** Whether a JWK's key type and curve can carry `alg` at all (used when the JWK does not name its alg). */
export function jwkFitsAlg(jwk: { kty?: unknown; crv?: unknown }, alg: SvidAlg): boolean {
  switch (alg) {
    case 'ES256':
      return jwk.kty === 'EC' && jwk.crv === 'P-256'
    case 'ES384':
      return jwk.kty === 'EC' && jwk.crv === 'P-384'
    case 'RS256':
    case 'PS256':
      return jwk.kty === 'RSA'
  }
}
