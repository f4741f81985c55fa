import { createRoute, z } from '@hono/zod-openapi'
import { and, asc, count, eq, gt, isNull, or } from 'drizzle-orm'
import { requireTenant } from '../auth/authenticate'
import { displayPrefix, generateSecret, hashSecret, SECRET_PREFIX } from '../auth/secrets'
import { actorOf } from '../context'
import { apiKeys, tenants } from '../db/schema'
import { NotFound, QuotaExceeded, ValidationError } from '../errors'
import { decodeCursor, page } from '../http/pagination'
import { errorResponses, json } from '../http/responses'
import { bearerSecurity, newRouter } from '../http/router'
import { recordChange } from '../repo/audit'
import { toApiKey } from '../repo/serialize'
import { Pagination, pageOf } from '../schemas/common'
import { ApiKey, ApiKeyCreate, ApiKeyWithSecret } from '../schemas/tenants'

const IdParam = z.object({ id: z.string().uuid().openapi({ param: { name: 'id', in: 'path' } }) })

const createKey = createRoute({
  method: 'post',
  path: '/v1/api-keys',
  tags: ['API keys'],
  summary: 'Create an API key (tenant admin); the secret is shown once',
  security: bearerSecurity,
  request: { body: { content: { 'application/json': { schema: ApiKeyCreate } }, required: true } },
  responses: { 201: json(ApiKeyWithSecret, 'The key, with its secret.'), ...errorResponses },
})

const listKeys = createRoute({
  method: 'get',
  path: '/v1/api-keys',
  tags: ['API keys'],
  summary: 'List API keys (never their secrets)',
  security: bearerSecurity,
  request: { query: Pagination.extend({ includeRevoked: z.enum(['true', 'false']).default('false') }).strict() },
  responses: { 200: json(pageOf(ApiKey, 'ApiKeyPage'), 'A page of keys, oldest first.'), ...errorResponses },
})

const revokeKey = createRoute({
  method: 'delete',
  path: '/v1/api-keys/{id}',
  tags: ['API keys'],
  summary: 'Revoke an API key; it stops working at once',
  security: bearerSecurity,
  request: { params: IdParam },
  responses: { 204: { description: 'Revoked.' }, ...errorResponses },
})

export const apiKeyRoutes = newRouter()
  .openapi(createKey, async (c) => {
    const p = requireTenant(c, 'admin')
    const body = c.req.valid('json')
    const now = c.get('clock').now()
    const expiresAt = body.expiresAt ? new Date(body.expiresAt) : null
    if (expiresAt && expiresAt <= now) throw new ValidationError([{ path: 'expiresAt', message: 'must be in the future' }])
    const secret = generateSecret(SECRET_PREFIX.apiKey)
    const secretHash = await hashSecret(secret)
    const key = await c.var.db.transaction(async (tx) => {
      // Lock the tenant row so concurrent creates cannot both slip under the quota.
      const [tenant] = await tx.select({ quotas: tenants.quotas }).from(tenants).where(eq(tenants.id, p.tenant.id)).for('update')
      const [live] = await tx.select({ n: count() }).from(apiKeys).where(and(eq(apiKeys.tenantId, p.tenant.id), isNull(apiKeys.revokedAt)))
      if (tenant && (live?.n ?? 0) >= tenant.quotas.maxApiKeys) throw new QuotaExceeded(`the tenant may have at most ${tenant.quotas.maxApiKeys} API keys`)
      const [row] = await tx
        .insert(apiKeys)
        .values({ tenantId: p.tenant.id, name: body.name, role: body.role, prefix: displayPrefix(secret), secretHash, createdBy: actorOf(p), expiresAt })
        .returning()
      await recordChange(tx, {
        tenantId: p.tenant.id,
        actor: actorOf(p),
        action: 'api-key.create',
        resourceType: 'api-key',
        resourceId: row!.id,
        resourceName: row!.name,
        after: toApiKey(row!),
        requestId: c.var.requestId,
        bumpsRevision: false,
      })
      return row!
    })
    return c.json({ ...toApiKey(key), secret }, 201, { Location: `/v1/api-keys/${key.id}` })
  })
  .openapi(listKeys, async (c) => {
    const p = requireTenant(c, 'admin')
    const { limit, cursor, includeRevoked } = c.req.valid('query')
    const after = decodeCursor<[string, string]>(cursor, ['string', 'string'])
    const rows = await c.var.db
      .select()
      .from(apiKeys)
      .where(
        and(
          eq(apiKeys.tenantId, p.tenant.id),
          includeRevoked === 'true' ? undefined : isNull(apiKeys.revokedAt),
          after
            ? or(gt(apiKeys.createdAt, new Date(after[0])), and(eq(apiKeys.createdAt, new Date(after[0])), gt(apiKeys.id, after[1])))
            : undefined,
        ),
      )
      .orderBy(asc(apiKeys.createdAt), asc(apiKeys.id))
      .limit(limit + 1)
    return c.json(page(rows, limit, toApiKey, (k) => [k.createdAt.toISOString(), k.id]), 200)
  })
  .openapi(revokeKey, async (c) => {
    const p = requireTenant(c, 'admin')
    const { id } = c.req.valid('param')
    await c.var.db.transaction(async (tx) => {
      const [before] = await tx.select().from(apiKeys).where(and(eq(apiKeys.id, id), eq(apiKeys.tenantId, p.tenant.id), isNull(apiKeys.revokedAt)))
      if (!before) throw new NotFound(`no API key ${id}`)
      const [after] = await tx.update(apiKeys).set({ revokedAt: c.get('clock').now() }).where(eq(apiKeys.id, id)).returning()
      await recordChange(tx, {
        tenantId: p.tenant.id,
        actor: actorOf(p),
        action: 'api-key.revoke',
        resourceType: 'api-key',
        resourceId: id,
        resourceName: before.name,
        before: toApiKey(before),
        after: toApiKey(after!),
        requestId: c.var.requestId,
        bumpsRevision: false,
      })
    })
    return c.body(null, 204)
  })
