import { createRoute, z } from '@hono/zod-openapi'
import { and, asc, eq, isNull } from 'drizzle-orm'
import { requireTenant } from '../auth/authenticate'
import { displayPrefix, generateSecret, hashSecret, SECRET_PREFIX } from '../auth/secrets'
import { actorOf } from '../context'
import { joinTokens } from '../db/schema'
import { NotFound } from '../errors'
import { errorResponses, json } from '../http/responses'
import { bearerSecurity, newRouter } from '../http/router'
import { recordChange } from '../repo/audit'
import { findService } from '../repo/services'
import { JoinToken, JoinTokenCreate, JoinTokenWithSecret } from '../schemas/identity'
import { NameParam } from './services'

const TokenParams = NameParam.extend({ id: z.string().uuid().openapi({ param: { name: 'id', in: 'path' } }) })

function toJoinToken(t: typeof joinTokens.$inferSelect, service: string) {
  return {
    id: t.id,
    service,
    name: t.name,
    prefix: t.prefix,
    maxUses: t.maxUses,
    uses: t.uses,
    expiresAt: t.expiresAt.toISOString(),
    revokedAt: t.revokedAt?.toISOString() ?? null,
    createdAt: t.createdAt.toISOString(),
  }
}

const createToken = createRoute({
  method: 'post',
  path: '/v1/services/{name}/join-tokens',
  tags: ['Identity'],
  summary: "Create a join token for the service's proxies (admin or editor); the secret is shown once",
  security: bearerSecurity,
  request: { params: NameParam, body: { content: { 'application/json': { schema: JoinTokenCreate } }, required: false } },
  responses: { 201: json(JoinTokenWithSecret, 'The token, with its secret.'), ...errorResponses },
})

const listTokens = createRoute({
  method: 'get',
  path: '/v1/services/{name}/join-tokens',
  tags: ['Identity'],
  summary: "List the service's join tokens (never their secrets)",
  security: bearerSecurity,
  request: { params: NameParam, query: z.object({ includeRevoked: z.enum(['true', 'false']).default('false') }).strict() },
  responses: { 200: json(z.object({ items: z.array(JoinToken) }), 'The tokens.'), ...errorResponses },
})

const revokeToken = createRoute({
  method: 'delete',
  path: '/v1/services/{name}/join-tokens/{id}',
  tags: ['Identity'],
  summary: 'Revoke a join token; proxies that already joined keep their identity',
  security: bearerSecurity,
  request: { params: TokenParams },
  responses: { 204: { description: 'Revoked.' }, ...errorResponses },
})

export const joinTokenRoutes = newRouter()
  .openapi(createToken, async (c) => {
    const p = requireTenant(c, 'editor')
    const { name } = c.req.valid('param')
    const body = JoinTokenCreate.parse(c.req.valid('json') ?? {})
    const now = c.var.clock.now()
    const secret = generateSecret(SECRET_PREFIX.joinToken)
    const secretHash = await hashSecret(secret)
    const row = await c.var.db.transaction(async (tx) => {
      const service = await findService(tx, p.tenant.id, name)
      const [row] = await tx
        .insert(joinTokens)
        .values({
          tenantId: p.tenant.id,
          serviceId: service.id,
          name: body.name ?? `${name}-proxy`,
          prefix: displayPrefix(secret),
          secretHash,
          maxUses: body.maxUses,
          expiresAt: new Date(now.getTime() + body.ttlSeconds * 1000),
          createdBy: actorOf(p),
        })
        .returning()
      await recordChange(tx, {
        tenantId: p.tenant.id,
        actor: actorOf(p),
        action: 'join-token.create',
        resourceType: 'join-token',
        resourceId: row!.id,
        resourceName: `${name}/${row!.name}`,
        after: toJoinToken(row!, name),
        requestId: c.var.requestId,
        bumpsRevision: false,
      })
      return row!
    })
    return c.json({ ...toJoinToken(row, name), secret }, 201)
  })
  .openapi(listTokens, async (c) => {
    const p = requireTenant(c, 'editor')
    const { name } = c.req.valid('param')
    const service = await findService(c.var.db, p.tenant.id, name)
    const rows = await c.var.db
      .select()
      .from(joinTokens)
      .where(and(eq(joinTokens.tenantId, p.tenant.id), eq(joinTokens.serviceId, service.id), c.req.valid('query').includeRevoked === 'true' ? undefined : isNull(joinTokens.revokedAt)))
      .orderBy(asc(joinTokens.createdAt))
    return c.json({ items: rows.map((r) => toJoinToken(r, name)) }, 200)
  })
  .openapi(revokeToken, async (c) => {
    const p = requireTenant(c, 'editor')
    const { name, id } = c.req.valid('param')
    await c.var.db.transaction(async (tx) => {
      const service = await findService(tx, p.tenant.id, name)
      const [before] = await tx
        .select()
        .from(joinTokens)
        .where(and(eq(joinTokens.id, id), eq(joinTokens.serviceId, service.id), eq(joinTokens.tenantId, p.tenant.id), isNull(joinTokens.revokedAt)))
        .for('update')
      if (!before) throw new NotFound(`no join token ${id} for service "${name}"`)
      const [after] = await tx.update(joinTokens).set({ revokedAt: c.var.clock.now() }).where(eq(joinTokens.id, id)).returning()
      await recordChange(tx, {
        tenantId: p.tenant.id,
        actor: actorOf(p),
        action: 'join-token.revoke',
        resourceType: 'join-token',
        resourceId: id,
        resourceName: `${name}/${before.name}`,
        before: toJoinToken(before, name),
        after: toJoinToken(after!, name),
        requestId: c.var.requestId,
        bumpsRevision: false,
      })
    })
    return c.body(null, 204)
  })
