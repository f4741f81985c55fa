import { and, eq } from 'drizzle-orm'
import { decodeJwt } from 'jose'
import { createSvidVerifier, JwksCache, parseSpiffeId, SvidError, SvidExpired, type VerifiedSvid } from '../../../mesh/src/identity'
import type { Queryable } from '../db/client'
import { services, tenants, workloads } from '../db/schema'
import { Unauthorized } from '../errors'
import { TRUST_DOMAIN_SUFFIX } from '../routes/tenants'
import { publishedKeys } from './signing-keys'

/**
 * The audience of tokens meant for the control API itself (the default of POST /v1/identity/token). It is
 * outside the /svc/ namespace, so no service can be named into it, and per trust domain, so one tenant's
 * tokens mean nothing for another's.
 */
export function controlApiAudience(trustDomain: string): string {
  return `spiffe://${trustDomain}/weft/control-api`
}

export type WorkloadIdentity = {
  tenant: { id: string; slug: string; trustDomain: string }
  service: string
  serviceId: string
  workloadId: string
  spiffeId: string
  svid: VerifiedSvid
  /** When the token expired, if it had and was accepted within `renewalGraceMs`. */
  expiredAt?: Date
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/

export function looksLikeJwt(secret: string): boolean {
  return JWT_SHAPE.test(secret)
}

/**
 * Verifies a workload's JWT-SVID presented to the control API: the shared verifier's full rule set against
 * the tenant's published keys, audience = the control API, then the workload must still exist, be
 * unrevoked and belong to a live service. The control API reads keys from its own database, so it
 * builds the key set per request instead of caching across requests (Workers cannot share connections).
 */
export async function authenticateWorkload(db: Queryable, token: string, issuer: string, now: Date, opts: { renewalGraceMs?: number } = {}): Promise<WorkloadIdentity> {
  let sub: unknown
  let exp: unknown
  try {
    ;({ sub, exp } = decodeJwt(token))
  } catch {
    throw new Unauthorized('the bearer token is not a JWT')
  }
  let trustDomain: string
  try {
    trustDomain = parseSpiffeId(String(sub)).trustDomain
  } catch {
    throw new Unauthorized('the token subject is not a Weft SPIFFE ID')
  }
  if (!trustDomain.endsWith(TRUST_DOMAIN_SUFFIX)) throw new Unauthorized('the token is not from a Weft trust domain')
  const slug = trustDomain.slice(0, -TRUST_DOMAIN_SUFFIX.length)
  const [tenant] = await db.select({ id: tenants.id, slug: tenants.slug, trustDomain: tenants.trustDomain }).from(tenants).where(eq(tenants.slug, slug))
  if (!tenant || tenant.trustDomain !== trustDomain) throw new Unauthorized('unknown trust domain')

  const jwks = new JwksCache({ jwks: { keys: await publishedKeys(db, tenant.id, now) } })
  const verifyAt = (at: number) => createSvidVerifier({ trustDomain, issuer, audience: controlApiAudience(trustDomain), jwks, cacheSize: 0, now: () => at }).verify(token)
  let svid: VerifiedSvid
  let expiredAt: Date | undefined
  try {
    svid = await verifyAt(now.getTime())
  } catch (err) {
    const graceMs = opts.renewalGraceMs ?? 0
    const expiredMs = typeof exp === 'number' ? exp * 1000 : NaN
    if (err instanceof SvidExpired && graceMs > 0 && now.getTime() - expiredMs <= graceMs) {
      // Within the renewal grace: every other rule (signature by a key still published, issuer, audience, trust
      // domain, alg) is checked as of one second before expiry; the caller may only renew (identity route).
      try {
        svid = await verifyAt(expiredMs - 1000)
      } catch (again) {
        if (again instanceof SvidError) throw new Unauthorized(`workload token refused (${again.code}): ${again.message}`, { cause: again })
        throw again
      }
      expiredAt = new Date(expiredMs)
    } else if (err instanceof SvidError) {
      throw new Unauthorized(`workload token refused (${err.code}): ${err.message}`, { cause: err })
    } else {
      throw err
    }
  }
  if (!svid.workloadId) throw new Unauthorized('the token names no workload (wid)')
  const [row] = await db
    .select({ revokedAt: workloads.revokedAt, serviceId: services.id, service: services.name })
    .from(workloads)
    .innerJoin(services, eq(services.id, workloads.serviceId))
    .where(and(eq(workloads.id, svid.workloadId), eq(workloads.tenantId, tenant.id)))
  if (!row || row.service !== svid.service) throw new Unauthorized('the workload no longer exists')
  if (row.revokedAt) throw new Unauthorized('the workload has been revoked')
  return { tenant, service: row.service, serviceId: row.serviceId, workloadId: svid.workloadId, spiffeId: svid.spiffeId, svid, ...(expiredAt ? { expiredAt } : {}) }
}
