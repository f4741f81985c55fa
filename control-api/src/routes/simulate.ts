import { createRoute, z } from '@hono/zod-openapi'
import { eq } from 'drizzle-orm'
import { simulate } from '../../../mesh/src/policy/evaluate-request'
import { HttpMethod, ServiceName } from '../../../mesh/src/policy/schemas'
import type { Snapshot } from '../../../mesh/src/snapshot/types'
import { requireTenant } from '../auth/authenticate'
import { tenants } from '../db/schema'
import { NotFound, ValidationError } from '../errors'
import { errorResponses, json } from '../http/responses'
import { bearerSecurity, newRouter } from '../http/router'
import type { SnapshotCache } from '../snapshot/snapshot-cache'

const SimulateRequest = z
  .object({
    source: z.union([
      z.object({ service: ServiceName }).strict(),
      z.object({ principal: z.string().startsWith('spiffe://').max(300).openapi({ description: 'A caller that is not one of your services, by SPIFFE ID.' }) }).strict(),
    ]),
    destination: z.object({ service: ServiceName }).strict(),
    request: z
      .object({
        method: HttpMethod.default('GET'),
        path: z.string().startsWith('/').max(8192),
        headers: z.record(z.string().max(256), z.string().max(8192)).default({}),
        query: z.record(z.string().max(256), z.string().max(8192)).default({}),
      })
      .strict(),
  })
  .strict()
  .openapi('SimulateRequest', {
    example: { source: { service: 'orders' }, destination: { service: 'payments' }, request: { method: 'POST', path: '/charge', headers: { 'x-canary': '1' } } },
  })

const SimulateResponse = z
  .object({
    revision: z.number().int(),
    route: z.object({ policy: z.string(), rule: z.number().int(), match: z.number().int().nullable() }).nullable(),
    reason: z.string().optional().openapi({ description: 'The Weft-Reason a proxy would answer with, when it would answer itself.' }),
    detail: z.string().optional(),
    routing: z.record(z.string(), z.unknown()),
    backends: z.array(z.record(z.string(), z.unknown())),
    authorization: z.object({ decision: z.enum(['ALLOW', 'DENY']), policy: z.string().nullable(), rule: z.number().int().nullable(), reason: z.string() }).passthrough(),
    rateLimits: z.array(z.unknown()),
    faults: z.array(z.unknown()),
    filters: z.array(z.unknown()),
  })
  .passthrough()
  .openapi('SimulateResponse')

const simulateRoute = createRoute({
  method: 'post',
  path: '/v1/simulate',
  tags: ['Policies'],
  summary: 'Dry run: the route, backends, authorization, rate limits, faults and filters a request would meet, and why',
  description: 'Evaluated by the same code the proxies run, against the snapshots of the current revision. Nothing is consumed: no rate-limit token is taken, no fault is rolled.',
  security: bearerSecurity,
  request: { body: { content: { 'application/json': { schema: SimulateRequest } }, required: true } },
  responses: { 200: json(SimulateResponse, 'The evaluation.'), ...errorResponses },
})

export function simulateRoutes(snapshots: SnapshotCache) {
  return newRouter().openapi(simulateRoute, async (c) => {
    const p = requireTenant(c, 'viewer')
    const body = c.req.valid('json')
    const [t] = await c.var.db.select({ revision: tenants.revision }).from(tenants).where(eq(tenants.id, p.tenant.id))
    if (!t) throw new NotFound('tenant not found')
    const now = c.var.clock.now()
    const snapshotOf = async (service: string, path: string): Promise<Snapshot> => {
      try {
        return (await snapshots.get(c.var.db, p.tenant.id, t.revision, service, now)).snapshot
      } catch (err) {
        if (err instanceof NotFound) throw new ValidationError([{ path, message: `no service "${service}"` }])
        throw err
      }
    }
    const destination = await snapshotOf(body.destination.service, 'destination.service')
    let source: Snapshot
    if ('service' in body.source) {
      source = await snapshotOf(body.source.service, 'source.service')
    } else {
      // A caller outside the tenant's services: the destination's snapshot has the destination and everything its
      // routes send to, which is all such a caller's request can meet; only the identity differs.
      source = { ...destination, service: { ...destination.service, name: 'external', spiffeId: body.source.principal, dependencies: null } }
    }
    const headers = Object.fromEntries(Object.entries(body.request.headers).map(([k, v]) => [k.toLowerCase(), v]))
    const result = simulate(source, destination, { method: body.request.method, path: body.request.path, headers, query: body.request.query })
    return c.json({ revision: destination.revision, ...result } as unknown as z.output<typeof SimulateResponse>, 200)
  })
}
