import { createRoute } from '@hono/zod-openapi'
import { eq, sql } from 'drizzle-orm'
import { requireTenant } from '../auth/authenticate'
import { actorOf } from '../context'
import { tenants, type TenantTracing } from '../db/schema'
import { NotConfigured, NotFound } from '../errors'
import { errorResponses, json } from '../http/responses'
import { bearerSecurity, newRouter } from '../http/router'
import { recordChange } from '../repo/audit'
import { REDACTED, Tracing, TracingPut } from '../schemas/tracing'
import { sealTracingHeaders } from '../tracing/tracing-headers'

const tags = ['Tracing']
const getTracing = createRoute({
  method: 'get',
  path: '/v1/tracing',
  tags,
  summary: "The tenant's trace collector and sample rate (header values redacted)",
  security: bearerSecurity,
  responses: { 200: json(Tracing, 'The tracing settings; `enabled: false` when none are set.'), ...errorResponses },
})
const putTracing = createRoute({
  method: 'put',
  path: '/v1/tracing',
  tags,
  summary: 'Export spans from every proxy to an OTLP/HTTP collector (admin)',
  security: bearerSecurity,
  request: { body: { content: { 'application/json': { schema: TracingPut } }, required: true } },
  responses: { 200: json(Tracing, 'The new settings; proxies receive them with the next snapshot.'), ...errorResponses },
})
const deleteTracing = createRoute({
  method: 'delete',
  path: '/v1/tracing',
  tags,
  summary: 'Turn tracing off (admin)',
  security: bearerSecurity,
  responses: { 204: { description: 'Off; proxies stop exporting with the next snapshot.' }, ...errorResponses },
})

/** The API's view: header names only, so a viewer key (or a leaked audit entry) never yields the collector's key. */
export function tracingView(t: TenantTracing | null, updatedAt: Date | null) {
  if (t === null) return { enabled: false, endpoint: null, headers: {}, sampleRate: 0, updatedAt: null }
  const headers: Record<string, typeof REDACTED> = {}
  for (const name of [...t.headerNames].sort()) headers[name] = REDACTED
  return { enabled: true, endpoint: t.endpoint, headers, sampleRate: t.sampleRate, updatedAt: updatedAt?.toISOString() ?? null }
}

/**
 * One tenant's collector. Stored on the tenant row and compiled into every snapshot (a change bumps the
 * revision), so it reaches the proxies the way policies do.
 */
export const tracingRoutes = newRouter()
  .openapi(getTracing, async (c) => {
    const p = requireTenant(c, 'viewer')
    const [row] = await c.var.db.select({ tracing: tenants.tracing, updatedAt: tenants.updatedAt }).from(tenants).where(eq(tenants.id, p.tenant.id))
    if (!row) throw new NotFound('tenant not found')
    return c.json(tracingView(row.tracing, row.tracing ? row.updatedAt : null), 200)
  })
  .openapi(putTracing, async (c) => {
    const p = requireTenant(c, 'admin')
    const body = c.req.valid('json')
    const masterKey = c.var.masterKey
    const given = body.headers === undefined ? null : Object.keys(body.headers).length === 0 ? 'none' : body.headers
    if (given !== null && given !== 'none' && !masterKey) throw new NotConfigured('WEFT_MASTER_KEY is not set: collector headers cannot be stored')
    const sealed = given !== null && given !== 'none' ? await sealTracingHeaders(masterKey!, p.tenant.id, given) : null
    const row = await c.var.db.transaction(async (tx) => {
      const [before] = await tx.select().from(tenants).where(eq(tenants.id, p.tenant.id)).for('update')
      if (!before) throw new NotFound('tenant not found')
      // Headers left out keep the current ones (so a sample-rate change needs no credential); {} removes them.
      const tracing: TenantTracing =
        given === null
          ? { endpoint: body.endpoint, sampleRate: body.sampleRate, headerNames: before.tracing?.headerNames ?? [], sealedHeaders: before.tracing?.sealedHeaders ?? null }
          : given === 'none'
            ? { endpoint: body.endpoint, sampleRate: body.sampleRate, headerNames: [], sealedHeaders: null }
            : { endpoint: body.endpoint, sampleRate: body.sampleRate, headerNames: Object.keys(given), sealedHeaders: sealed }
      const [after] = await tx.update(tenants).set({ tracing, updatedAt: sql`now()` }).where(eq(tenants.id, p.tenant.id)).returning()
      await recordChange(tx, {
        tenantId: p.tenant.id,
        actor: actorOf(p),
        action: 'tracing.update',
        resourceType: 'tracing',
        resourceId: p.tenant.id,
        resourceName: p.tenant.slug,
        before: tracingView(before.tracing, before.updatedAt),
        after: tracingView(tracing, after!.updatedAt),
        requestId: c.var.requestId,
      })
      return after!
    })
    c.var.log.info({ endpoint: body.endpoint, sampleRate: body.sampleRate }, 'tracing configured')
    return c.json(tracingView(row.tracing, row.updatedAt), 200)
  })
  .openapi(deleteTracing, async (c) => {
    const p = requireTenant(c, 'admin')
    await c.var.db.transaction(async (tx) => {
      const [before] = await tx.select().from(tenants).where(eq(tenants.id, p.tenant.id)).for('update')
      if (!before) throw new NotFound('tenant not found')
      if (before.tracing === null) return
      await tx.update(tenants).set({ tracing: null, updatedAt: sql`now()` }).where(eq(tenants.id, p.tenant.id))
      await recordChange(tx, {
        tenantId: p.tenant.id,
        actor: actorOf(p),
        action: 'tracing.delete',
        resourceType: 'tracing',
        resourceId: p.tenant.id,
        resourceName: p.tenant.slug,
        before: tracingView(before.tracing, before.updatedAt),
        requestId: c.var.requestId,
      })
    })
    return c.body(null, 204)
  })
