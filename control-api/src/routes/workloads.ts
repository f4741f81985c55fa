import { createRoute, z } from '@hono/zod-openapi'
import { and, asc, eq, isNull, isNotNull } from 'drizzle-orm'
import { requireTenant } from '../auth/authenticate'
import { actorOf } from '../context'
import { services, workloads } from '../db/schema'
import { NotFound } from '../errors'
import { spiffeIdOf } from '../../../mesh/src/identity/spiffe'
import { errorResponses, json } from '../http/responses'
import { bearerSecurity, newRouter } from '../http/router'
import { recordChange } from '../repo/audit'
import { findService } from '../repo/services'
import { Workload, WorkloadRevoke } from '../schemas/identity'

const IdParam = z.object({ id: z.string().uuid().openapi({ param: { name: 'id', in: 'path' } }) })

export function toWorkload(w: typeof workloads.$inferSelect, service: string, trustDomain: string) {
  return {
    id: w.id,
    service,
    spiffeId: spiffeIdOf(trustDomain, service),
    createdAt: w.createdAt.toISOString(),
    lastIssuedAt: w.lastIssuedAt.toISOString(),
    revokedAt: w.revokedAt?.toISOString() ?? null,
    revokedReason: w.revokedReason,
  }
}

const listWorkloads = createRoute({
  method: 'get',
  path: '/v1/workloads',
  tags: ['Identity'],
  summary: 'Workloads that joined (one per proxy instance), with their revocation state',
  security: bearerSecurity,
  request: {
    query: z
      .object({
        service: z.string().max(63).optional(),
        revoked: z.enum(['true', 'false']).optional().openapi({ description: 'Only revoked (true) or only live (false) workloads.' }),
      })
      .strict(),
  },
  responses: { 200: json(z.object({ items: z.array(Workload) }), 'Workloads, oldest first.'), ...errorResponses },
})

const revokeWorkload = createRoute({
  method: 'post',
  path: '/v1/workloads/{id}/revoke',
  tags: ['Identity'],
  summary: 'Revoke a workload: its token refreshes are refused at once and proxies learn it from their snapshot',
  security: bearerSecurity,
  request: { params: IdParam, body: { content: { 'application/json': { schema: WorkloadRevoke } }, required: false } },
  responses: { 200: json(Workload, 'Revoked.'), ...errorResponses },
})

export const workloadRoutes = newRouter()
  .openapi(listWorkloads, async (c) => {
    const p = requireTenant(c, 'viewer')
    const q = c.req.valid('query')
    const service = q.service ? await findService(c.var.db, p.tenant.id, q.service) : null
    const rows = await c.var.db
      .select({ w: workloads, service: services.name })
      .from(workloads)
      .innerJoin(services, eq(services.id, workloads.serviceId))
      .where(
        and(
          eq(workloads.tenantId, p.tenant.id),
          service ? eq(workloads.serviceId, service.id) : undefined,
          q.revoked === 'true' ? isNotNull(workloads.revokedAt) : q.revoked === 'false' ? isNull(workloads.revokedAt) : undefined,
        ),
      )
      .orderBy(asc(workloads.createdAt), asc(workloads.id))
    return c.json({ items: rows.map((r) => toWorkload(r.w, r.service, p.tenant.trustDomain)) }, 200)
  })
  .openapi(revokeWorkload, async (c) => {
    const p = requireTenant(c, 'editor')
    const { id } = c.req.valid('param')
    const reason = c.req.valid('json')?.reason ?? null
    const out = await c.var.db.transaction(async (tx) => {
      const [row] = await tx
        .select({ w: workloads, service: services.name })
        .from(workloads)
        .innerJoin(services, eq(services.id, workloads.serviceId))
        .where(and(eq(workloads.id, id), eq(workloads.tenantId, p.tenant.id)))
        .for('update')
      if (!row) throw new NotFound(`no workload ${id}`)
      if (row.w.revokedAt) return toWorkload(row.w, row.service, p.tenant.trustDomain)
      const [after] = await tx.update(workloads).set({ revokedAt: c.var.clock.now(), revokedReason: reason }).where(eq(workloads.id, id)).returning()
      const result = toWorkload(after!, row.service, p.tenant.trustDomain)
      // A revocation changes what proxies must refuse, so it is a new revision.
      await recordChange(tx, {
        tenantId: p.tenant.id,
        actor: actorOf(p),
        action: 'workload.revoke',
        resourceType: 'workload',
        resourceId: id,
        resourceName: row.service,
        before: toWorkload(row.w, row.service, p.tenant.trustDomain),
        after: result,
        requestId: c.var.requestId,
      })
      return result
    })
    return c.json(out, 200)
  })
