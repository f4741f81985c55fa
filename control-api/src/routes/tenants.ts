import { createRoute, z } from '@hono/zod-openapi'
import { and, asc, count, eq, gt, isNull, sql } from 'drizzle-orm'
import { generateSecret, hashSecret, displayPrefix, SECRET_PREFIX } from '../auth/secrets'
import { requireOperator, requireTenant } from '../auth/authenticate'
import { actorOf } from '../context'
import type { Queryable } from '../db/client'
import { isUniqueViolation } from '../db/pg-errors'
import { apiKeys, endpoints, services, tenants } from '../db/schema'
import { Conflict, NotConfigured, NotFound } from '../errors'
import { createInitialKeys } from '../identity/signing-keys'
import { decodeCursor, page } from '../http/pagination'
import { errorResponses, json } from '../http/responses'
import { bearerSecurity, newRouter } from '../http/router'
import { recordChange } from '../repo/audit'
import { toApiKey, toTenant } from '../repo/serialize'
import { Pagination, pageOf } from '../schemas/common'
import { DEFAULT_QUOTAS, DEFAULT_TOKEN_TTL_SECONDS, TenantCreate, TenantCreated, Tenant, TenantPatch, TenantWithUsage } from '../schemas/tenants'

export const TRUST_DOMAIN_SUFFIX = '.weft'
const SlugParam = z.object({ slug: z.string().openapi({ param: { name: 'slug', in: 'path' }, example: 'acme' }) })

const createTenant = createRoute({
  method: 'post',
  path: '/v1/tenants',
  tags: ['Tenants (operator)'],
  summary: 'Onboard a tenant; returns its first admin API key, once',
  security: bearerSecurity,
  request: { body: { content: { 'application/json': { schema: TenantCreate } }, required: true } },
  responses: { 201: json(TenantCreated, 'The tenant and its first admin key (secret shown once).'), ...errorResponses, 409: errorResponses[400] },
})

const listTenants = createRoute({
  method: 'get',
  path: '/v1/tenants',
  tags: ['Tenants (operator)'],
  summary: 'List tenants',
  security: bearerSecurity,
  request: { query: Pagination },
  responses: { 200: json(pageOf(Tenant, 'TenantPage'), 'A page of tenants, by slug.'), ...errorResponses },
})

const getTenant = createRoute({
  method: 'get',
  path: '/v1/tenants/{slug}',
  tags: ['Tenants (operator)'],
  summary: 'Get a tenant with its usage',
  security: bearerSecurity,
  request: { params: SlugParam },
  responses: { 200: json(TenantWithUsage, 'The tenant.'), ...errorResponses },
})

const deleteTenant = createRoute({
  method: 'delete',
  path: '/v1/tenants/{slug}',
  tags: ['Tenants (operator)'],
  summary: 'Delete a tenant and everything it owns',
  security: bearerSecurity,
  request: { params: SlugParam },
  responses: { 204: { description: 'Deleted.' }, ...errorResponses },
})

const patchTenant = createRoute({
  method: 'patch',
  path: '/v1/tenant',
  tags: ['Tenant'],
  summary: "Change the caller's tenant settings (tenant admin)",
  security: bearerSecurity,
  request: { body: { content: { 'application/json': { schema: TenantPatch }, 'application/merge-patch+json': { schema: TenantPatch } }, required: true } },
  responses: { 200: json(Tenant, 'The tenant.'), ...errorResponses },
})

const currentTenant = createRoute({
  method: 'get',
  path: '/v1/tenant',
  tags: ['Tenant'],
  summary: "The caller's tenant, quotas and usage",
  security: bearerSecurity,
  responses: { 200: json(TenantWithUsage, 'The tenant.'), ...errorResponses },
})

async function usageOf(db: Queryable, tenantId: string) {
  const [[s], [e], [k]] = await Promise.all([
    db.select({ n: count() }).from(services).where(eq(services.tenantId, tenantId)),
    db.select({ n: count() }).from(endpoints).where(eq(endpoints.tenantId, tenantId)),
    db.select({ n: count() }).from(apiKeys).where(and(eq(apiKeys.tenantId, tenantId), isNull(apiKeys.revokedAt))),
  ])
  return { services: s?.n ?? 0, endpoints: e?.n ?? 0, apiKeys: k?.n ?? 0 }
}

export const tenantRoutes = newRouter()
  .openapi(createTenant, async (c) => {
    const operator = requireOperator(c)
    const body = c.req.valid('json')
    const masterKey = c.var.masterKey
    if (!masterKey) throw new NotConfigured('WEFT_MASTER_KEY is not set: tenants cannot get signing keys')
    const secret = generateSecret(SECRET_PREFIX.apiKey)
    const secretHash = await hashSecret(secret)
    try {
      const created = await c.var.db.transaction(async (tx) => {
        const [tenant] = await tx
          .insert(tenants)
          .values({
            slug: body.slug,
            displayName: body.displayName ?? body.slug,
            trustDomain: body.slug + TRUST_DOMAIN_SUFFIX,
            quotas: { ...DEFAULT_QUOTAS, ...body.quotas },
            tokenTtlSeconds: body.tokenTtlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS,
          })
          .returning()
        await createInitialKeys(tx, tenant!.id, masterKey, c.var.clock.now())
        const [key] = await tx
          .insert(apiKeys)
          .values({
            tenantId: tenant!.id,
            name: body.adminKeyName ?? 'admin',
            role: 'admin',
            prefix: displayPrefix(secret),
            secretHash,
            createdBy: actorOf(operator),
          })
          .returning()
        const revision = await recordChange(tx, {
          tenantId: tenant!.id,
          actor: actorOf(operator),
          action: 'tenant.create',
          resourceType: 'tenant',
          resourceId: tenant!.id,
          resourceName: tenant!.slug,
          after: toTenant(tenant!),
          requestId: c.var.requestId,
        })
        await recordChange(tx, {
          tenantId: tenant!.id,
          actor: actorOf(operator),
          action: 'api-key.create',
          resourceType: 'api-key',
          resourceId: key!.id,
          resourceName: key!.name,
          after: toApiKey(key!),
          requestId: c.var.requestId,
          bumpsRevision: false,
        })
        return { tenant: { ...tenant!, revision: revision ?? tenant!.revision }, key: key! }
      })
      c.var.log.info({ tenant: created.tenant.slug }, 'tenant onboarded')
      return c.json({ tenant: toTenant(created.tenant), adminKey: { ...toApiKey(created.key), secret } }, 201, {
        Location: `/v1/tenants/${created.tenant.slug}`,
      })
    } catch (err) {
      if (isUniqueViolation(err)) throw new Conflict(`a tenant with slug "${body.slug}" already exists`, { cause: err })
      throw err
    }
  })
  .openapi(listTenants, async (c) => {
    requireOperator(c)
    const { limit, cursor } = c.req.valid('query')
    const after = decodeCursor<[string]>(cursor, ['string'])
    const rows = await c.var.db
      .select()
      .from(tenants)
      .where(after ? gt(tenants.slug, after[0]) : undefined)
      .orderBy(asc(tenants.slug))
      .limit(limit + 1)
    return c.json(page(rows, limit, toTenant, (t) => [t.slug]), 200)
  })
  .openapi(getTenant, async (c) => {
    requireOperator(c)
    const [tenant] = await c.var.db.select().from(tenants).where(eq(tenants.slug, c.req.valid('param').slug))
    if (!tenant) throw new NotFound(`no tenant "${c.req.valid('param').slug}"`)
    return c.json({ ...toTenant(tenant), usage: await usageOf(c.var.db, tenant.id) }, 200)
  })
  .openapi(deleteTenant, async (c) => {
    const operator = requireOperator(c)
    const { slug } = c.req.valid('param')
    await c.var.db.transaction(async (tx) => {
      const [gone] = await tx.delete(tenants).where(eq(tenants.slug, slug)).returning()
      if (!gone) throw new NotFound(`no tenant "${slug}"`)
      // The tenant's own audit log goes with it; the operator's record of the deletion stays.
      await recordChange(tx, {
        tenantId: null,
        actor: actorOf(operator),
        action: 'tenant.delete',
        resourceType: 'tenant',
        resourceId: gone.id,
        resourceName: gone.slug,
        before: toTenant(gone),
        requestId: c.var.requestId,
      })
    })
    c.var.log.info({ tenant: slug }, 'tenant deleted')
    return c.body(null, 204)
  })
  .openapi(currentTenant, async (c) => {
    const p = requireTenant(c, 'viewer')
    const [tenant] = await c.var.db.select().from(tenants).where(eq(tenants.id, p.tenant.id))
    if (!tenant) throw new NotFound('tenant not found')
    return c.json({ ...toTenant(tenant), usage: await usageOf(c.var.db, tenant.id) }, 200)
  })
  .openapi(patchTenant, async (c) => {
    const p = requireTenant(c, 'admin')
    const patch = c.req.valid('json')
    const row = await c.var.db.transaction(async (tx) => {
      const [before] = await tx.select().from(tenants).where(eq(tenants.id, p.tenant.id)).for('update')
      if (!before) throw new NotFound('tenant not found')
      const [after] = await tx
        .update(tenants)
        .set({ tokenTtlSeconds: patch.tokenTtlSeconds ?? before.tokenTtlSeconds, version: sql`${tenants.version} + 1`, updatedAt: sql`now()` })
        .where(eq(tenants.id, p.tenant.id))
        .returning()
      await recordChange(tx, {
        tenantId: p.tenant.id,
        actor: actorOf(p),
        action: 'tenant.update',
        resourceType: 'tenant',
        resourceId: p.tenant.id,
        resourceName: p.tenant.slug,
        before: toTenant(before),
        after: toTenant(after!),
        requestId: c.var.requestId,
        bumpsRevision: false,
      })
      return after!
    })
    return c.json(toTenant(row), 200)
  })
