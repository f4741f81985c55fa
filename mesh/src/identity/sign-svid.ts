import { SignJWT } from 'jose'
import { parseSpiffeId } from './spiffe'
import { isSvidAlg, type SvidAlg } from './svid-algs'

/** DESIGN.md, "Identity": JWT-SVIDs live 15 minutes by default and at most an hour. */
export const DEFAULT_SVID_TTL_SECONDS = 15 * 60
export const MAX_SVID_TTL_SECONDS = 60 * 60

export type SignSvidOptions = {
  /** The tenant's current signing key (private half, usage `sign`). */
  privateKey: CryptoKey
  kid: string
  alg: SvidAlg
  /** `WEFT_PUBLIC_URL`. */
  issuer: string
  /** The workload's SPIFFE ID, `spiffe://<slug>.weft/svc/<service>`. */
  subject: string
  /** One audience, bound to the callee, so a stolen token cannot be replayed elsewhere. */
  audience: string
  ttlSeconds: number
  /** A Date, or milliseconds since the epoch; defaults to the current time. */
  now?: Date | number
  /** Defaults to a random UUID. */
  jti?: string
  /**
   * The workload instance (the control API's workload row), carried as the `wid` claim so that one
   * revoked instance can be refused without revoking its whole service.
   */
  workloadId?: string
}

/**
 * Mints a JWT-SVID: header `{alg, kid, typ: 'JWT'}`, claims `sub`, `iss`, `aud` (a single string), `iat`,
 * `exp`, `jti`, and `wid` when a workload ID is given.
 *
 * @example
 * const token = await signSvid({ privateKey, kid, alg: 'ES256', issuer: 'https://weft.example',
 *   subject: spiffeIdOf('acme.weft', 'orders'), audience: spiffeIdOf('acme.weft', 'payments'), ttlSeconds: 900 })
 * @throws TypeError or RangeError for unusable options, SpiffeIdInvalid for a bad subject.
 */
export async function signSvid(options: SignSvidOptions): Promise<string> {
  const { privateKey, kid, alg, issuer, subject, audience, ttlSeconds } = options
  if (!isSvidAlg(alg)) throw new TypeError(`alg must be one of ES256, ES384, RS256, PS256, got ${String(alg)}`)
  if (typeof kid !== 'string' || kid === '') throw new TypeError('kid must be a non-empty string')
  if (typeof issuer !== 'string' || issuer === '') throw new TypeError('issuer must be a non-empty string')
  if (typeof audience !== 'string' || audience === '') throw new TypeError('audience must be a non-empty string')
  if (options.workloadId !== undefined && (typeof options.workloadId !== 'string' || options.workloadId === '')) throw new TypeError('workloadId must be a non-empty string')
  parseSpiffeId(subject)
  if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0 || ttlSeconds > MAX_SVID_TTL_SECONDS) {
    throw new RangeError(`ttlSeconds must be an integer within 1..${MAX_SVID_TTL_SECONDS}, got ${ttlSeconds}`)
  }
  const nowMs = options.now === undefined ? Date.now() : typeof options.now === 'number' ? options.now : options.now.getTime()
  if (!Number.isFinite(nowMs)) throw new RangeError('now is not a valid time')
  const iat = Math.floor(nowMs / 1000)
  const jti = options.jti ?? crypto.randomUUID()
  const claims: Record<string, string | number> = { sub: subject, iss: issuer, aud: audience, iat, exp: iat + ttlSeconds, jti }
  if (options.workloadId !== undefined) claims.wid = options.workloadId
  return new SignJWT(claims)
    .setProtectedHeader({ alg, kid, typ: 'JWT' })
    .sign(privateKey)
}
