import { and, eq, gt, isNull, or } from 'drizzle-orm'
import type { Context } from 'hono'
import type { AppEnv, Principal, Role } from '../context'
import type { Db } from '../db/client'
import { apiKeys, operatorKeys, tenants } from '../db/schema'
import { Forbidden, Unauthorized } from '../errors'
import { authenticateWorkload, looksLikeJwt } from '../identity/workload-auth'
import { hashSecret, SECRET_PREFIX } from './secrets'

/**
 * Routes a proxy uses for its own service (endpoint registration, heartbeats): an API key with `role`, or
 * the workload identity of that very service. A workload of another service is refused.
 */
export function requireTenantOrWorkload(c: Context<AppEnv>, role: Role, service: string): Extract<Principal, { kind: 'api-key' | 'workload' }> {
  const p = c.get('principal')
  if (p?.kind === 'workload') {
    if (p.service !== service) throw new Forbidden(`the workload identity ${p.spiffeId} may only act for its own service`)
    return p
  }
  return requireTenant(c, role)
}

const ROLE_RANK: Record<Role, number> = { viewer: 0, editor: 1, admin: 2 }

/**
 * Resolves the bearer secret to a principal. Revocation is checked on every request (no cache), so a
 * revoked key fails at once. `envOperatorKeyHash` is the hash of WEFT_OPERATOR_KEY when set.
 */
export async function authenticate(
  db: Db,
  header: string | undefined,
  envOperatorKeyHash: string | null,
  now: Date,
  issuer: string,
  /** Only for the identity route's renewal: accept a workload token this long after it expired. */
  opts: { renewalGraceMs?: number } = {},
): Promise<Principal | null> {
  if (header === undefined) return null
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header)
  if (!m) throw new Unauthorized('Authorization must be "Bearer <secret>"')
  const secret = m[1]!
  const hash = await hashSecret(secret)

  if (secret.startsWith(SECRET_PREFIX.operator)) {
    if (envOperatorKeyHash !== null && hash === envOperatorKeyHash) return { kind: 'operator', keyId: null, name: 'WEFT_OPERATOR_KEY' }
    const [row] = await db
      .select({ id: operatorKeys.id, name: operatorKeys.name })
      .from(operatorKeys)
      .where(and(eq(operatorKeys.secretHash, hash), isNull(operatorKeys.revokedAt)))
    if (row) return { kind: 'operator', keyId: row.id, name: row.name }
    throw new Unauthorized('unknown or revoked operator key')
  }

  if (secret.startsWith(SECRET_PREFIX.apiKey)) {
    const [row] = await db
      .select({ keyId: apiKeys.id, name: apiKeys.name, role: apiKeys.role, tenantId: tenants.id, slug: tenants.slug, trustDomain: tenants.trustDomain })
      .from(apiKeys)
      .innerJoin(tenants, eq(tenants.id, apiKeys.tenantId))
      .where(and(eq(apiKeys.secretHash, hash), isNull(apiKeys.revokedAt), or(isNull(apiKeys.expiresAt), gt(apiKeys.expiresAt, now))))
    if (row) {
      return {
        kind: 'api-key',
        tenant: { id: row.tenantId, slug: row.slug, trustDomain: row.trustDomain },
        keyId: row.keyId,
        name: row.name,
        role: row.role as Role,
      }
    }
    throw new Unauthorized('unknown, expired or revoked API key')
  }

  if (secret.startsWith(SECRET_PREFIX.joinToken)) return { kind: 'join-token', secretHash: hash }

  if (looksLikeJwt(secret)) {
    const w = await authenticateWorkload(db, secret, issuer, now, opts)
    return { kind: 'workload', tenant: w.tenant, service: w.service, serviceId: w.serviceId, workloadId: w.workloadId, spiffeId: w.spiffeId, ...(w.expiredAt ? { expiredAt: w.expiredAt } : {}) }
  }

  throw new Unauthorized('unrecognised credential: expected a wfo_ operator key, a wft_ API key, a wfj_ join token or a workload JWT')
}

export function requireOperator(c: Context<AppEnv>): Extract<Principal, { kind: 'operator' }> {
  const p = c.get('principal')
  if (!p) throw new Unauthorized('this route needs an operator key')
  if (p.kind !== 'operator') throw new Forbidden('this route is for the operator; tenant API keys cannot use it')
  return p
}

export function requireTenant(c: Context<AppEnv>, role: Role): Extract<Principal, { kind: 'api-key' }> {
  const p = c.get('principal')
  if (!p) throw new Unauthorized('this route needs a tenant API key')
  if (p.kind === 'operator') throw new Forbidden('this route acts inside a tenant: use one of its API keys, not the operator key')
  if (p.kind !== 'api-key') throw new Forbidden('this route needs a tenant API key; workload identities and join tokens cannot use it')
  if (ROLE_RANK[p.role] < ROLE_RANK[role]) throw new Forbidden(`this needs the ${role} role; the key "${p.name}" is ${p.role}`)
  return p
}
