import { createRoute } from '@hono/zod-openapi'
import { and, eq, sql } from 'drizzle-orm'
import { parseSpiffeId, signSvid, spiffeIdOf } from '../../../mesh/src/identity'
import type { AppEnv } from '../context'
import type { Context } from 'hono'
import type { Queryable } from '../db/client'
import { joinTokens, services, tenants, workloads } from '../db/schema'
import { NotConfigured, Unauthorized, ValidationError } from '../errors'
import { currentSigner } from '../identity/signing-keys'
import { controlApiAudience } from '../identity/workload-auth'
import { errorResponses, json } from '../http/responses'
import { bearerSecurity, newRouter } from '../http/router'
import { recordChange } from '../repo/audit'
import { JOIN_REPLAY_WINDOW_SECONDS, TokenRequest, TokenRequestHeaders, TokenResponse } from '../schemas/identity'
import { sha256Hex } from '../sha256-hex'

const issueToken = createRoute({
  method: 'post',
  path: '/v1/identity/token',
  tags: ['Identity'],
  summary: 'Exchange a join token, or refresh a valid workload JWT, for a JWT-SVID',
  description:
    'Authorization: Bearer wfj_… (first start of a proxy: creates a workload) or Bearer <JWT-SVID for the control API> ' +
    '(refresh). The token is for one audience: the control API by default, or the SPIFFE ID of a service the caller will call.',
  security: bearerSecurity,
  request: { headers: TokenRequestHeaders, body: { content: { 'application/json': { schema: TokenRequest } }, required: false } },
  responses: { 200: json(TokenResponse, 'A JWT-SVID.'), ...errorResponses },
})

type Tenant = { id: string; slug: string; trustDomain: string; tokenTtlSeconds: number }

/** The requested audience, checked: a service of the same tenant that exists, or the control API. */
async function audienceFor(db: Queryable, tenant: Tenant, requested: string | undefined): Promise<string> {
  if (requested === undefined || requested === controlApiAudience(tenant.trustDomain)) return controlApiAudience(tenant.trustDomain)
  let target: { trustDomain: string; service: string }
  try {
    target = parseSpiffeId(requested)
  } catch {
    throw new ValidationError([{ path: 'audience', message: 'must be spiffe://<trust domain>/svc/<service>' }])
  }
  if (target.trustDomain !== tenant.trustDomain) throw new ValidationError([{ path: 'audience', message: `must be in your trust domain ${tenant.trustDomain}` }])
  const [svc] = await db.select({ id: services.id }).from(services).where(and(eq(services.tenantId, tenant.id), eq(services.name, target.service)))
  if (!svc) throw new ValidationError([{ path: 'audience', message: `no service "${target.service}"` }])
  return requested
}

async function mint(c: Context<AppEnv>, db: Queryable, tenant: Tenant, service: string, workloadId: string, audience: string) {
  const masterKey = c.var.masterKey
  if (!masterKey) throw new NotConfigured('WEFT_MASTER_KEY is not set: tokens cannot be signed')
  const signer = await currentSigner(db, tenant.id, masterKey)
  if (!signer) throw new NotConfigured(`tenant ${tenant.slug} has no current signing key`)
  const now = c.var.clock.now()
  const spiffeId = spiffeIdOf(tenant.trustDomain, service)
  const token = await signSvid({
    privateKey: signer.privateKey,
    kid: signer.kid,
    alg: signer.alg,
    issuer: c.var.issuer,
    subject: spiffeId,
    audience,
    ttlSeconds: tenant.tokenTtlSeconds,
    now,
    workloadId,
  })
  return {
    token,
    tokenType: 'JWT-SVID' as const,
    spiffeId,
    audience,
    workloadId,
    expiresAt: new Date(Math.floor(now.getTime() / 1000) * 1000 + tenant.tokenTtlSeconds * 1000).toISOString(),
  }
}

export const identityRoutes = newRouter().openapi(issueToken, async (c) => {
  const p = c.get('principal')
  const requested = c.req.valid('json')?.audience
  const now = c.var.clock.now()
  const tenantCols = { id: tenants.id, slug: tenants.slug, trustDomain: tenants.trustDomain, tokenTtlSeconds: tenants.tokenTtlSeconds }

  if (p?.kind === 'join-token') {
    const idempotencyKey = c.req.valid('header')['idempotency-key']
    const joinKeyHash = idempotencyKey === undefined ? null : await sha256Hex(idempotencyKey)
    // Exchange: consume one use of the join token and create the workload, atomically. A retry of an exchange
    // whose answer was lost (same token, same Idempotency-Key) gets its workload again instead: with a
    // single-use token, a proxy would otherwise be locked out by one dropped response.
    const { out, replayed } = await c.var.db.transaction(async (tx) => {
      const [jt] = await tx.select().from(joinTokens).where(eq(joinTokens.secretHash, p.secretHash)).for('update')
      if (!jt) throw new Unauthorized('unknown join token')
      if (jt.revokedAt) throw new Unauthorized('the join token has been revoked')
      const [tenant] = await tx.select(tenantCols).from(tenants).where(eq(tenants.id, jt.tenantId))
      const [svc] = await tx.select({ name: services.name }).from(services).where(eq(services.id, jt.serviceId))
      if (joinKeyHash !== null) {
        const [prior] = await tx.select().from(workloads).where(and(eq(workloads.joinTokenId, jt.id), eq(workloads.joinKeyHash, joinKeyHash)))
        if (prior) {
          if (prior.revokedAt) throw new Unauthorized('the workload this exchange created has been revoked')
          if (now.getTime() - prior.createdAt.getTime() > JOIN_REPLAY_WINDOW_SECONDS * 1000) {
            throw new Unauthorized(`this exchange (same join token and Idempotency-Key) completed at ${prior.createdAt.toISOString()}; retries are answered for ${JOIN_REPLAY_WINDOW_SECONDS / 60} minutes`)
          }
          const audience = await audienceFor(tx, tenant!, requested)
          await tx.update(workloads).set({ lastIssuedAt: now }).where(eq(workloads.id, prior.id))
          return { out: await mint(c, tx, tenant!, svc!.name, prior.id, audience), replayed: true }
        }
      }
      if (jt.expiresAt <= now) throw new Unauthorized('the join token has expired')
      if (jt.uses >= jt.maxUses) throw new Unauthorized(`the join token has been used ${jt.uses} of ${jt.maxUses} times`)
      const audience = await audienceFor(tx, tenant!, requested)
      await tx.update(joinTokens).set({ uses: sql`${joinTokens.uses} + 1` }).where(eq(joinTokens.id, jt.id))
      const [w] = await tx.insert(workloads).values({ tenantId: jt.tenantId, serviceId: jt.serviceId, joinTokenId: jt.id, joinKeyHash, lastIssuedAt: now }).returning()
      await recordChange(tx, {
        tenantId: jt.tenantId,
        actor: { type: 'workload', id: w!.id, name: spiffeIdOf(tenant!.trustDomain, svc!.name) },
        action: 'workload.join',
        resourceType: 'workload',
        resourceId: w!.id,
        resourceName: svc!.name,
        after: { workloadId: w!.id, service: svc!.name, joinToken: jt.id },
        requestId: c.var.requestId,
        bumpsRevision: false,
      })
      return { out: await mint(c, tx, tenant!, svc!.name, w!.id, audience), replayed: false }
    })
    c.var.log.info({ spiffeId: out.spiffeId, workloadId: out.workloadId }, replayed ? 'workload join retried: same workload' : 'workload joined')
    return c.json(out, 200, { 'Cache-Control': 'no-store' })
  }

  if (p?.kind === 'workload') {
    // Refresh: the caller proved a live, unrevoked identity for the control API; issue a new token.
    const [tenant] = await c.var.db.select(tenantCols).from(tenants).where(eq(tenants.id, p.tenant.id))
    if (p.expiredAt) {
      // Renewal after an outage: the expired token buys a control-API token again, never one for a callee.
      if (requested !== undefined && requested !== controlApiAudience(tenant!.trustDomain)) {
        throw new Unauthorized('an expired identity can only be renewed for the control API; mint callee tokens with the renewed one')
      }
      c.var.log.info({ workloadId: p.workloadId, expiredAt: p.expiredAt.toISOString() }, 'workload identity renewed after expiry')
    }
    const audience = await audienceFor(c.var.db, tenant!, requested)
    await c.var.db.update(workloads).set({ lastIssuedAt: now }).where(eq(workloads.id, p.workloadId))
    return c.json(await mint(c, c.var.db, tenant!, p.service, p.workloadId, audience), 200, { 'Cache-Control': 'no-store' })
  }

  if (!p) throw new Unauthorized('send a join token (wfj_…) or your current workload JWT as the bearer token')
  throw new Unauthorized('identity tokens are issued to workloads: use a join token (wfj_…) or a workload JWT, not an API or operator key')
})
