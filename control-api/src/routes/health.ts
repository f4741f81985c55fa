import { createRoute, z } from '@hono/zod-openapi'
import { sql } from 'drizzle-orm'
import { DatabaseUnavailable } from '../errors'
import { errorResponses, json } from '../http/responses'
import { newRouter } from '../http/router'

// Readiness must answer quickly even when the database hangs: a load balancer's probe times out too.
const READY_TIMEOUT_MS = 2_000

const Status = z.object({ status: z.literal('ok'), database: z.literal('ok').optional() }).openapi('Status')

const healthz = createRoute({
  method: 'get',
  path: '/healthz',
  tags: ['Health'],
  summary: 'Liveness: the process answers',
  responses: { 200: json(Status, 'Alive.') },
})

const readyz = createRoute({
  method: 'get',
  path: '/readyz',
  tags: ['Health'],
  summary: 'Readiness: the database answers too',
  responses: { 200: json(Status, 'Ready.'), 503: errorResponses[503] },
})

export const healthRoutes = newRouter()
  .openapi(healthz, (c) => c.json({ status: 'ok' as const }, 200))
  .openapi(readyz, async (c) => {
    let timer: ReturnType<typeof setTimeout> | undefined
    try {
      await Promise.race([
        c.var.db.execute(sql`select 1`),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS)
        }),
      ])
    } catch (err) {
      throw new DatabaseUnavailable(`database check failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
    } finally {
      clearTimeout(timer)
    }
    return c.json({ status: 'ok' as const, database: 'ok' as const }, 200)
  })
