/**
 * Workload identity shared by the control API (which mints JWT-SVIDs) and the proxies (which verify them).
 * WebCrypto and jose only, so the same code runs in Node and in workerd.
 */
export { DEFAULT_MIN_REFETCH_INTERVAL_MS, JwksCache, type Jwks, type JwksCacheOptions, type JwksKeyHandle } from './jwks-cache'
export { LruCache } from './lru-cache'
export { DEFAULT_SVID_TTL_SECONDS, MAX_SVID_TTL_SECONDS, signSvid, type SignSvidOptions } from './sign-svid'
export { isServiceName, isTrustDomain, parseSpiffeId, spiffeIdOf, type SpiffeId } from './spiffe'
export { isSvidAlg, SVID_ALGS, type SvidAlg } from './svid-algs'
export * from './svid-errors'
export {
  createSvidVerifier,
  DEFAULT_CLOCK_SKEW_SECONDS,
  DEFAULT_MAX_TOKEN_BYTES,
  DEFAULT_VERIFIER_CACHE_SIZE,
  type SvidVerifier,
  type SvidVerifierOptions,
  type SvidVerifierStats,
  type VerifiedSvid,
} from './verify-svid'
