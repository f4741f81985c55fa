import { createRoute, z } from '@hono/zod-openapi'
import { and, desc, eq, lt } from 'drizzle-orm'
import { requireTenant } from '../auth/authenticate'
import { auditEvents } from '../db/schema'
import { decodeCursor, page } from '../http/pagination'
import { errorResponses, json } from '../http/responses'
import { bearerSecurity, newRouter } from '../http/router'
import { AuditEvent } from '../schemas/audit'
import { Pagination, pageOf } from '../schemas/common'

const listAudit = createRoute({
  method: 'get',
  path: '/v1/audit-events',
  tags: ['Audit'],
  summary: 'Who changed what, when (tenant admin); newest first',
  security: bearerSecurity,
  request: {
    query: Pagination.extend({
      resourceType: z.string().max(50).optional().openapi({ example: 'service' }),
      resourceName: z.string().max(300).optional(),
      action: z.string().max(50).optional().openapi({ example: 'service.update' }),
    }).strict(),
  },
  responses: { 200: json(pageOf(AuditEvent, 'AuditEventPage'), 'A page of events.'), ...errorResponses },
})

export const auditRoutes = newRouter().openapi(listAudit, async (c) => {
  const p = requireTenant(c, 'admin')
  const q = c.req.valid('query')
  const before = decodeCursor<[number]>(q.cursor, ['number'])
  const rows = await c.var.db
    .select()
    .from(auditEvents)
    .where(
      and(
        eq(auditEvents.tenantId, p.tenant.id),
        q.resourceType ? eq(auditEvents.resourceType, q.resourceType) : undefined,
        q.resourceName ? eq(auditEvents.resourceName, q.resourceName) : undefined,
        q.action ? eq(auditEvents.action, q.action) : undefined,
        before ? lt(auditEvents.id, before[0]) : undefined,
      ),
    )
    .orderBy(desc(auditEvents.id))
    .limit(q.limit + 1)
  return c.json(
    page(
      rows,
      q.limit,
      (e) => ({
        id: String(e.id),
        actor: e.actor,
        action: e.action,
        resourceType: e.resourceType,
        resourceId: e.resourceId,
        resourceName: e.resourceName,
        before: e.before ?? null,
        after: e.after ?? null,
        revision: e.revision,
        requestId: e.requestId,
        createdAt: e.createdAt.toISOString(),
      }),
      (e) => [e.id],
    ),
    200,
  )
})
