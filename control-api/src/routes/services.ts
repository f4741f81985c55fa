import { createRoute, z } from '@hono/zod-openapi'
import { and, asc, count, eq, gt, sql } from 'drizzle-orm'
import { requireTenant } from '../auth/authenticate'
import type { Context } from 'hono'
import { actorOf, type AppEnv, type Principal } from '../context'
import { isUniqueViolation } from '../db/pg-errors'
import { services, tenants } from '../db/schema'
import { Conflict, QuotaExceeded } from '../errors'
import { checkIfMatch, etagOf } from '../http/etag'
import { decodeCursor, page } from '../http/pagination'
import { conflictResponses, errorResponses, json } from '../http/responses'
import { bearerSecurity, newRouter } from '../http/router'
import { recordChange } from '../repo/audit'
import { toService } from '../repo/serialize'
import { findService } from '../repo/services'
import { Pagination, pageOf } from '../schemas/common'
import { Service, ServiceCreate, ServicePatch, ServiceReplace } from '../schemas/services'

export const NameParam = z.object({ name: z.string().openapi({ param: { name: 'name', in: 'path' }, example: 'payments' }) })
const IfMatch = z.object({ 'if-match': z.string().optional().openapi({ description: 'The ETag you read; 412 when it is stale.' }) })
const withEtag = (description: string) => ({
  ...json(Service, description),
  headers: { ETag: { schema: { type: 'string' as const }, description: 'The version, for If-Match.' } },
})

const createService = createRoute({
  method: 'post',
  path: '/v1/services',
  tags: ['Services'],
  summary: 'Register a service',
  security: bearerSecurity,
  request: { body: { content: { 'application/json': { schema: ServiceCreate } }, required: true } },
  responses: { 201: withEtag('Created.'), ...errorResponses, ...conflictResponses },
})

const listServices = createRoute({
  method: 'get',
  path: '/v1/services',
  tags: ['Services'],
  summary: 'List services, by name',
  security: bearerSecurity,
  request: { query: Pagination },
  responses: { 200: json(pageOf(Service, 'ServicePage'), 'A page of services.'), ...errorResponses },
})

const getService = createRoute({
  method: 'get',
  path: '/v1/services/{name}',
  tags: ['Services'],
  summary: 'Get a service',
  security: bearerSecurity,
  request: { params: NameParam },
  responses: { 200: withEtag('The service.'), 304: { description: 'Not modified (If-None-Match).' }, ...errorResponses },
})

const replaceService = createRoute({
  method: 'put',
  path: '/v1/services/{name}',
  tags: ['Services'],
  summary: 'Replace a service',
  security: bearerSecurity,
  request: { params: NameParam, headers: IfMatch, body: { content: { 'application/json': { schema: ServiceReplace } }, required: true } },
  responses: { 200: withEtag('Replaced.'), ...errorResponses, ...conflictResponses },
})

const patchService = createRoute({
  method: 'patch',
  path: '/v1/services/{name}',
  tags: ['Services'],
  summary: 'Change some fields of a service (JSON merge patch)',
  security: bearerSecurity,
  request: {
    params: NameParam,
    headers: IfMatch,
    body: { content: { 'application/merge-patch+json': { schema: ServicePatch }, 'application/json': { schema: ServicePatch } }, required: true },
  },
  responses: { 200: withEtag('Patched.'), ...errorResponses, ...conflictResponses },
})

const deleteService = createRoute({
  method: 'delete',
  path: '/v1/services/{name}',
  tags: ['Services'],
  summary: 'Delete a service and its endpoints',
  security: bearerSecurity,
  request: { params: NameParam, headers: IfMatch },
  responses: { 204: { description: 'Deleted.' }, ...errorResponses, ...conflictResponses },
})

type ServiceRow = typeof services.$inferSelect
type ServiceChange = Pick<ServiceRow, 'protocol' | 'port' | 'labels' | 'description' | 'dependencies'>

/** A set, stored sorted so that snapshots (and their ETags) do not depend on the order it was written in. */
const normaliseDependencies = (d: string[] | null | undefined) => (d ? [...d].sort() : null)

/** PUT and PATCH: lock the row, check If-Match, write what `change` makes of it, audit, bump the revision. */
async function updateService(c: Context<AppEnv>, p: Extract<Principal, { kind: 'api-key' }>, name: string, change: (before: ServiceRow) => ServiceChange) {
  return c.var.db.transaction(async (tx) => {
    const before = await findService(tx, p.tenant.id, name, { forUpdate: true })
    checkIfMatch(c.req.header('if-match'), before.version)
    const [row] = await tx
      .update(services)
      .set({ ...change(before), version: sql`${services.version} + 1`, updatedAt: sql`now()` })
      .where(eq(services.id, before.id))
      .returning()
    const revision = await recordChange(tx, {
      tenantId: p.tenant.id,
      actor: actorOf(p),
      action: 'service.update',
      resourceType: 'service',
      resourceId: before.id,
      resourceName: name,
      before: toService(before),
      after: toService(row!),
      requestId: c.var.requestId,
    })
    return { row: row!, revision }
  })
}

export const serviceRoutes = newRouter()
  .openapi(createService, async (c) => {
    const p = requireTenant(c, 'editor')
    const body = c.req.valid('json')
    try {
      const { row, revision } = await c.var.db.transaction(async (tx) => {
        const [tenant] = await tx.select({ quotas: tenants.quotas }).from(tenants).where(eq(tenants.id, p.tenant.id)).for('update')
        const [n] = await tx.select({ n: count() }).from(services).where(eq(services.tenantId, p.tenant.id))
        if (tenant && (n?.n ?? 0) >= tenant.quotas.maxServices) throw new QuotaExceeded(`the tenant may have at most ${tenant.quotas.maxServices} services`)
        const [row] = await tx.insert(services).values({ tenantId: p.tenant.id, ...body, dependencies: normaliseDependencies(body.dependencies) }).returning()
        const revision = await recordChange(tx, {
          tenantId: p.tenant.id,
          actor: actorOf(p),
          action: 'service.create',
          resourceType: 'service',
          resourceId: row!.id,
          resourceName: row!.name,
          after: toService(row!),
          requestId: c.var.requestId,
        })
        return { row: row!, revision }
      })
      return c.json(toService(row), 201, { ETag: etagOf(row.version), Location: `/v1/services/${row.name}`, 'Weft-Revision': String(revision) })
    } catch (err) {
      if (isUniqueViolation(err)) throw new Conflict(`a service named "${body.name}" already exists`, { cause: err })
      throw err
    }
  })
  .openapi(listServices, async (c) => {
    const p = requireTenant(c, 'viewer')
    const { limit, cursor } = c.req.valid('query')
    const after = decodeCursor<[string]>(cursor, ['string'])
    const rows = await c.var.db
      .select()
      .from(services)
      .where(and(eq(services.tenantId, p.tenant.id), after ? gt(services.name, after[0]) : undefined))
      .orderBy(asc(services.name))
      .limit(limit + 1)
    return c.json(page(rows, limit, toService, (s) => [s.name]), 200)
  })
  .openapi(getService, async (c) => {
    const p = requireTenant(c, 'viewer')
    const row = await findService(c.var.db, p.tenant.id, c.req.valid('param').name)
    const etag = etagOf(row.version)
    if (c.req.header('if-none-match') === etag) return c.body(null, 304, { ETag: etag })
    return c.json(toService(row), 200, { ETag: etag })
  })
  .openapi(replaceService, async (c) => {
    const p = requireTenant(c, 'editor')
    const body = c.req.valid('json')
    const { row, revision } = await updateService(c, p, c.req.valid('param').name, () => ({ ...body, dependencies: normaliseDependencies(body.dependencies) }))
    return c.json(toService(row), 200, { ETag: etagOf(row.version), 'Weft-Revision': String(revision) })
  })
  .openapi(patchService, async (c) => {
    const p = requireTenant(c, 'editor')
    const patch = c.req.valid('json')
    const { row, revision } = await updateService(c, p, c.req.valid('param').name, (before) => {
      const labels = { ...before.labels }
      for (const [k, v] of Object.entries(patch.labels ?? {})) {
        if (v === null) delete labels[k]
        else labels[k] = v
      }
      return {
        protocol: patch.protocol ?? before.protocol,
        port: patch.port ?? before.port,
        description: patch.description ?? before.description,
        labels,
        dependencies: patch.dependencies === undefined ? before.dependencies : normaliseDependencies(patch.dependencies),
      }
    })
    return c.json(toService(row), 200, { ETag: etagOf(row.version), 'Weft-Revision': String(revision) })
  })
  .openapi(deleteService, async (c) => {
    const p = requireTenant(c, 'editor')
    const { name } = c.req.valid('param')
    const revision = await c.var.db.transaction(async (tx) => {
      const before = await findService(tx, p.tenant.id, name, { forUpdate: true })
      checkIfMatch(c.req.valid('header')['if-match'], before.version)
      await tx.delete(services).where(eq(services.id, before.id))
      return recordChange(tx, {
        tenantId: p.tenant.id,
        actor: actorOf(p),
        action: 'service.delete',
        resourceType: 'service',
        resourceId: before.id,
        resourceName: name,
        before: toService(before),
        requestId: c.var.requestId,
      })
    })
    return c.body(null, 204, { 'Weft-Revision': String(revision) })
  })
