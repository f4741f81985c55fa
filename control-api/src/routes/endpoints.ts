import { createRoute, z } from '@hono/zod-openapi'
import { and, asc, count, eq, gt, sql } from 'drizzle-orm'
import { requireTenant, requireTenantOrWorkload } from '../auth/authenticate'
import { actorOf } from '../context'
import { endpoints, tenants } from '../db/schema'
import { NotFound, QuotaExceeded } from '../errors'
import { decodeCursor, page } from '../http/pagination'
import { errorResponses, json } from '../http/responses'
import { bearerSecurity, newRouter } from '../http/router'
import { recordChange } from '../repo/audit'
import { toEndpoint } from '../repo/serialize'
import { findService } from '../repo/services'
import { Pagination, pageOf } from '../schemas/common'
import { Endpoint, EndpointHeartbeat, EndpointRegister, Health } from '../schemas/services'
import { NameParam } from './services'

const EndpointParams = NameParam.extend({ id: z.string().uuid().openapi({ param: { name: 'id', in: 'path' } }) })

const registerEndpoint = createRoute({
  method: 'post',
  path: '/v1/services/{name}/endpoints',
  tags: ['Endpoints'],
  summary: 'Register an instance (idempotent per address and port: re-registering updates it)',
  security: bearerSecurity,
  request: { params: NameParam, body: { content: { 'application/json': { schema: EndpointRegister } }, required: true } },
  responses: { 201: json(Endpoint, 'Registered.'), 200: json(Endpoint, 'Already registered; updated and renewed.'), ...errorResponses },
})

const listEndpoints = createRoute({
  method: 'get',
  path: '/v1/services/{name}/endpoints',
  tags: ['Endpoints'],
  summary: "List a service's live endpoints",
  security: bearerSecurity,
  request: {
    params: NameParam,
    query: Pagination.extend({
      includeExpired: z.enum(['true', 'false']).default('false').openapi({ description: 'Also list endpoints whose TTL lapsed.' }),
      health: Health.optional(),
    }).strict(),
  },
  responses: { 200: json(pageOf(Endpoint, 'EndpointPage'), 'A page of endpoints.'), ...errorResponses },
})

const getEndpoint = createRoute({
  method: 'get',
  path: '/v1/services/{name}/endpoints/{id}',
  tags: ['Endpoints'],
  summary: 'Get an endpoint',
  security: bearerSecurity,
  request: { params: EndpointParams },
  responses: { 200: json(Endpoint, 'The endpoint.'), ...errorResponses },
})

const heartbeat = createRoute({
  method: 'post',
  path: '/v1/services/{name}/endpoints/{id}/heartbeat',
  tags: ['Endpoints'],
  summary: 'Renew the TTL (and optionally report health)',
  security: bearerSecurity,
  request: { params: EndpointParams, body: { content: { 'application/json': { schema: EndpointHeartbeat } }, required: false } },
  responses: { 200: json(Endpoint, 'Renewed.'), ...errorResponses },
})

const deleteEndpoint = createRoute({
  method: 'delete',
  path: '/v1/services/{name}/endpoints/{id}',
  tags: ['Endpoints'],
  summary: 'Deregister an endpoint',
  security: bearerSecurity,
  request: { params: EndpointParams },
  responses: { 204: { description: 'Deleted.' }, ...errorResponses },
})

const expiry = (now: Date, ttlSeconds: number) => new Date(now.getTime() + ttlSeconds * 1000)

export const endpointRoutes = newRouter()
  .openapi(registerEndpoint, async (c) => {
    const { name } = c.req.valid('param')
    const p = requireTenantOrWorkload(c, 'editor', name)
    const body = c.req.valid('json')
    const now = c.var.clock.now()
    const { row, created } = await c.var.db.transaction(async (tx) => {
      const service = await findService(tx, p.tenant.id, name)
      const [existing] = await tx
        .select()
        .from(endpoints)
        .where(and(eq(endpoints.serviceId, service.id), eq(endpoints.address, body.address), eq(endpoints.port, body.port)))
        .for('update')
      const values = { ...body, zone: body.zone ?? null, lastHeartbeatAt: now, expiresAt: expiry(now, body.ttlSeconds), expired: false }
      let row: typeof endpoints.$inferSelect
      if (existing) {
        ;[row] = (await tx
          .update(endpoints)
          .set({ ...values, version: sql`${endpoints.version} + 1`, updatedAt: sql`now()` })
          .where(eq(endpoints.id, existing.id))
          .returning()) as [typeof endpoints.$inferSelect]
      } else {
        const [tenant] = await tx.select({ quotas: tenants.quotas }).from(tenants).where(eq(tenants.id, p.tenant.id)).for('update')
        const [n] = await tx.select({ n: count() }).from(endpoints).where(eq(endpoints.serviceId, service.id))
        if (tenant && (n?.n ?? 0) >= tenant.quotas.maxEndpointsPerService) {
          throw new QuotaExceeded(`a service may have at most ${tenant.quotas.maxEndpointsPerService} endpoints`)
        }
        ;[row] = (await tx.insert(endpoints).values({ tenantId: p.tenant.id, serviceId: service.id, ...values }).returning()) as [typeof endpoints.$inferSelect]
      }
      await recordChange(tx, {
        tenantId: p.tenant.id,
        actor: actorOf(p),
        action: existing ? 'endpoint.update' : 'endpoint.register',
        resourceType: 'endpoint',
        resourceId: row.id,
        resourceName: `${name}/${row.address}:${row.port}`,
        before: existing ? toEndpoint(existing, name, now) : null,
        after: toEndpoint(row, name, now),
        requestId: c.var.requestId,
      })
      return { row, created: !existing }
    })
    const out = toEndpoint(row, name, now)
    return created ? c.json(out, 201, { Location: `/v1/services/${name}/endpoints/${row.id}` }) : c.json(out, 200)
  })
  .openapi(listEndpoints, async (c) => {
    const p = requireTenant(c, 'viewer')
    const { name } = c.req.valid('param')
    const { limit, cursor, includeExpired, health } = c.req.valid('query')
    const now = c.var.clock.now()
    const service = await findService(c.var.db, p.tenant.id, name)
    const after = decodeCursor<[string]>(cursor, ['string'])
    const rows = await c.var.db
      .select()
      .from(endpoints)
      .where(
        and(
          eq(endpoints.tenantId, p.tenant.id),
          eq(endpoints.serviceId, service.id),
          includeExpired === 'true' ? undefined : gt(endpoints.expiresAt, now),
          health ? eq(endpoints.health, health) : undefined,
          after ? gt(endpoints.id, after[0]) : undefined,
        ),
      )
      .orderBy(asc(endpoints.id))
      .limit(limit + 1)
    return c.json(page(rows, limit, (e) => toEndpoint(e, name, now), (e) => [e.id]), 200)
  })
  .openapi(getEndpoint, async (c) => {
    const p = requireTenant(c, 'viewer')
    const { name, id } = c.req.valid('param')
    const service = await findService(c.var.db, p.tenant.id, name)
    const [row] = await c.var.db.select().from(endpoints).where(and(eq(endpoints.id, id), eq(endpoints.serviceId, service.id), eq(endpoints.tenantId, p.tenant.id)))
    if (!row) throw new NotFound(`no endpoint ${id} in service "${name}"`)
    return c.json(toEndpoint(row, name, c.var.clock.now()), 200)
  })
  .openapi(heartbeat, async (c) => {
    const { name, id } = c.req.valid('param')
    const p = requireTenantOrWorkload(c, 'editor', name)
    const body = c.req.valid('json') ?? {}
    const now = c.var.clock.now()
    const row = await c.var.db.transaction(async (tx) => {
      const service = await findService(tx, p.tenant.id, name)
      const [before] = await tx
        .select()
        .from(endpoints)
        .where(and(eq(endpoints.id, id), eq(endpoints.serviceId, service.id), eq(endpoints.tenantId, p.tenant.id)))
        .for('update')
      if (!before) throw new NotFound(`no endpoint ${id} in service "${name}"`)
      const health = body.health ?? before.health
      const [row] = await tx
        .update(endpoints)
        .set({ health, lastHeartbeatAt: now, expiresAt: expiry(now, before.ttlSeconds), expired: false })
        .where(eq(endpoints.id, id))
        .returning()
      // A plain renewal changes nothing a proxy sees, so it is not audited (it would drown the log);
      // a health change or a return from expiry is, and moves the revision.
      const revived = before.expiresAt.getTime() <= now.getTime()
      if (health !== before.health || revived) {
        await recordChange(tx, {
          tenantId: p.tenant.id,
          actor: actorOf(p),
          action: revived ? 'endpoint.revive' : 'endpoint.health',
          resourceType: 'endpoint',
          resourceId: id,
          resourceName: `${name}/${before.address}:${before.port}`,
          before: toEndpoint(before, name, now),
          after: toEndpoint(row!, name, now),
          requestId: c.var.requestId,
        })
      }
      return row!
    })
    return c.json(toEndpoint(row, name, now), 200)
  })
  .openapi(deleteEndpoint, async (c) => {
    const { name, id } = c.req.valid('param')
    const p = requireTenantOrWorkload(c, 'editor', name)
    const now = c.var.clock.now()
    await c.var.db.transaction(async (tx) => {
      const service = await findService(tx, p.tenant.id, name)
      const [gone] = await tx
        .delete(endpoints)
        .where(and(eq(endpoints.id, id), eq(endpoints.serviceId, service.id), eq(endpoints.tenantId, p.tenant.id)))
        .returning()
      if (!gone) throw new NotFound(`no endpoint ${id} in service "${name}"`)
      await recordChange(tx, {
        tenantId: p.tenant.id,
        actor: actorOf(p),
        action: 'endpoint.delete',
        resourceType: 'endpoint',
        resourceId: id,
        resourceName: `${name}/${gone.address}:${gone.port}`,
        before: toEndpoint(gone, name, now),
        requestId: c.var.requestId,
      })
    })
    return c.body(null, 204)
  })
