import { createRoute, z } from '@hono/zod-openapi'
import { and, asc, eq, gt, gte, min } from 'drizzle-orm'
import { requireTenant } from '../auth/authenticate'
import { auditEvents, proxies, proxyRevisions, services, tenants } from '../db/schema'
import { NotFound } from '../errors'
import { errorResponses, json } from '../http/responses'
import { bearerSecurity, newRouter } from '../http/router'
import { MAX_WAIT_SECONDS } from './proxy-config'
import { Timestamp } from '../schemas/common'

/** A proxy polls at least every MAX_WAIT_SECONDS; missing two polls means it is gone. */
export const PROXY_LIVENESS_MS = (2 * MAX_WAIT_SECONDS + 10) * 1000

const Proxy = z
  .object({
    id: z.string().uuid(),
    service: z.string(),
    workloadId: z.string().nullable(),
    labels: z.record(z.string(), z.string()),
    runtime: z.string(),
    appliedRevision: z.number().int(),
    missingFilters: z.array(z.string()).openapi({
      description: 'sha256 digests of FilterChain modules the proxy does not have (a Worker built before the chain changed: run weft edge build and deploy again); those filters fail per their failurePolicy.',
    }),
    appliedAt: Timestamp,
    firstSeenAt: Timestamp,
    lastSeenAt: Timestamp,
    live: z.boolean(),
  })
  .openapi('Proxy')

const Convergence = z
  .object({
    revision: z.number().int(),
    currentRevision: z.number().int(),
    writtenAt: Timestamp.nullable().openapi({ description: 'When the change that made this revision was committed.' }),
    converged: z.boolean().openapi({ description: 'Every live proxy has applied this revision or a later one.' }),
    applied: z.number().int(),
    pending: z.number().int(),
    proxies: z.array(
      z.object({
        id: z.string(),
        service: z.string(),
        appliedRevision: z.number().int(),
        applied: z.boolean(),
        appliedAt: Timestamp.nullable(),
        latencyMs: z.number().nullable().openapi({ description: 'From the write to this proxy applying it (or a later revision).' }),
      }),
    ),
  })
  .openapi('Convergence')

const listProxies = createRoute({
  method: 'get',
  path: '/v1/proxies',
  tags: ['Proxy'],
  summary: "The tenant's proxies: service, labels, runtime, applied revision, last seen",
  security: bearerSecurity,
  request: {
    query: z
      .object({ service: z.string().max(63).optional(), includeGone: z.enum(['true', 'false']).default('false').openapi({ description: 'Also list proxies not seen recently.' }) })
      .strict(),
  },
  responses: { 200: json(z.object({ items: z.array(Proxy) }), 'Proxies by service.'), ...errorResponses },
})

const convergence = createRoute({
  method: 'get',
  path: '/v1/revisions/{revision}/convergence',
  tags: ['Proxy'],
  summary: 'Which live proxies have applied a revision, and how long each took after the write',
  security: bearerSecurity,
  request: { params: z.object({ revision: z.coerce.number().int().min(1).openapi({ param: { name: 'revision', in: 'path' } }) }) },
  responses: { 200: json(Convergence, 'Convergence of that revision.'), ...errorResponses },
})

export const proxyRoutes = newRouter()
  .openapi(listProxies, async (c) => {
    const p = requireTenant(c, 'viewer')
    const q = c.req.valid('query')
    const now = c.var.clock.now()
    const rows = await c.var.db
      .select({ p: proxies, service: services.name })
      .from(proxies)
      .innerJoin(services, eq(services.id, proxies.serviceId))
      .where(
        and(
          eq(proxies.tenantId, p.tenant.id),
          q.service ? eq(services.name, q.service) : undefined,
          q.includeGone === 'true' ? undefined : gt(proxies.lastSeenAt, new Date(now.getTime() - PROXY_LIVENESS_MS)),
        ),
      )
      .orderBy(asc(services.name), asc(proxies.firstSeenAt))
    return c.json(
      {
        items: rows.map(({ p: x, service }) => ({
          id: x.id,
          service,
          workloadId: x.workloadId,
          labels: x.labels,
          runtime: x.runtime,
          appliedRevision: x.appliedRevision,
          missingFilters: x.missingFilters,
          appliedAt: x.appliedAt.toISOString(),
          firstSeenAt: x.firstSeenAt.toISOString(),
          lastSeenAt: x.lastSeenAt.toISOString(),
          live: x.lastSeenAt.getTime() > now.getTime() - PROXY_LIVENESS_MS,
        })),
      },
      200,
    )
  })
  .openapi(convergence, async (c) => {
    const p = requireTenant(c, 'viewer')
    const { revision } = c.req.valid('param')
    const now = c.var.clock.now()
    const [t] = await c.var.db.select({ revision: tenants.revision }).from(tenants).where(eq(tenants.id, p.tenant.id))
    if (!t) throw new NotFound('tenant not found')
    if (revision > t.revision) throw new NotFound(`revision ${revision} has not been written yet (current: ${t.revision})`)
    const [written] = await c.var.db
      .select({ at: min(auditEvents.createdAt) })
      .from(auditEvents)
      .where(and(eq(auditEvents.tenantId, p.tenant.id), eq(auditEvents.revision, revision)))
    const live = await c.var.db
      .select({ p: proxies, service: services.name })
      .from(proxies)
      .innerJoin(services, eq(services.id, proxies.serviceId))
      .where(and(eq(proxies.tenantId, p.tenant.id), gt(proxies.lastSeenAt, new Date(now.getTime() - PROXY_LIVENESS_MS))))
      .orderBy(asc(services.name), asc(proxies.firstSeenAt))
    // The first report of this revision or a later one: a proxy may skip revisions that came in a burst.
    const firsts = await c.var.db
      .select({ proxyId: proxyRevisions.proxyId, at: min(proxyRevisions.appliedAt) })
      .from(proxyRevisions)
      .where(and(eq(proxyRevisions.tenantId, p.tenant.id), gte(proxyRevisions.revision, revision)))
      .groupBy(proxyRevisions.proxyId)
    const firstAt = new Map(firsts.map((f) => [f.proxyId, f.at]))
    const writtenAt = written?.at ?? null
    const items = live.map(({ p: x, service }) => {
      const applied = x.appliedRevision >= revision
      const at = applied ? (firstAt.get(x.id) ?? x.appliedAt) : null
      return {
        id: x.id,
        service,
        appliedRevision: x.appliedRevision,
        applied,
        appliedAt: at?.toISOString() ?? null,
        latencyMs: at && writtenAt ? Math.max(0, at.getTime() - writtenAt.getTime()) : null,
      }
    })
    const applied = items.filter((i) => i.applied).length
    return c.json(
      {
        revision,
        currentRevision: t.revision,
        writtenAt: writtenAt?.toISOString() ?? null,
        converged: applied === items.length,
        applied,
        pending: items.length - applied,
        proxies: items,
      },
      200,
    )
  })
