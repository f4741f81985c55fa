import { createRoute, z } from '@hono/zod-openapi'
import { eq } from 'drizzle-orm'
import { requireTenantOrWorkload } from '../auth/authenticate'
import { tenants } from '../db/schema'
import type { Deps } from '../context'
import { DatabaseUnavailable, NotFound } from '../errors'
import { errorResponses } from '../http/responses'
import { bearerSecurity, newRouter } from '../http/router'
import type { SnapshotCache } from '../snapshot/snapshot-cache'
import { parseProxyHeaders, recordProxyReport } from '../distribution/proxy-registry'
import type { RevisionBus } from '../distribution/revision-bus'

/** Long polls are held at most this long: under common proxy and load-balancer idle timeouts (60 s). */
export const MAX_WAIT_SECONDS = 55
// Without a revision bus (a Worker deployed without its TENANT_REVISIONS binding), each waiting request
// checks its tenant's revision this often.
const FALLBACK_POLL_MS = 1_000

const getConfig = createRoute({
  method: 'get',
  path: '/v1/proxy/config',
  tags: ['Proxy'],
  summary: "A service's compiled snapshot; long-poll with If-None-Match and wait",
  description:
    'Proxies call this with their workload JWT and the ETag they hold. With `wait=N` (seconds) the answer is held until the ' +
    "tenant's revision moves (200 with the new snapshot) or N seconds pass (304). The ETag is a content hash.",
  security: bearerSecurity,
  request: {
    query: z
      .object({
        service: z.string().max(63),
        wait: z
          .string()
          .regex(/^\d{1,3}s?$/, 'seconds, e.g. 30 or 30s')
          .optional()
          .openapi({ description: `Seconds to hold the request when nothing changed (0–${MAX_WAIT_SECONDS}).` }),
      })
      .strict(),
    headers: z.object({
      'if-none-match': z.string().optional(),
      'weft-proxy-id': z.string().optional().openapi({ description: "The proxy instance's stable id (a UUID), for GET /v1/proxies." }),
      'weft-applied-revision': z.string().optional().openapi({ description: 'The revision the proxy has applied: its acknowledgement.' }),
      'weft-proxy-runtime': z.string().optional().openapi({ description: 'node or workers.' }),
      'weft-proxy-labels': z.string().optional().openapi({ description: 'k=v pairs, comma-separated.' }),
      'weft-missing-filters': z.string().optional().openapi({ description: 'sha256 digests of FilterChain modules the proxy lacks, comma-separated.' }),
    }),
  },
  responses: {
    200: { description: 'The snapshot (see mesh/src/snapshot/types.ts).', content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } } },
    304: { description: 'Unchanged since the ETag sent.' },
    ...errorResponses,
  },
})

export function proxyConfigRoutes(snapshots: SnapshotCache, bus: RevisionBus | undefined, connections: Pick<Deps, 'getDb' | 'releaseDb'> = { getDb: (c) => c.var.db }) {
  return newRouter().openapi(getConfig, async (c) => {
    const { service, wait } = c.req.valid('query')
    const p = requireTenantOrWorkload(c, 'viewer', service)
    const tenantId = p.tenant.id
    const waitMs = Math.min(Number.parseInt(wait ?? '0', 10), MAX_WAIT_SECONDS) * 1000
    const deadline = Date.now() + waitMs
    const inm = c.req.valid('header')['if-none-match']

    const currentRevision = async () => {
      const [t] = await c.var.db.select({ revision: tenants.revision }).from(tenants).where(eq(tenants.id, tenantId))
      if (!t) throw new NotFound('tenant not found')
      return t.revision
    }
    if (p.kind === 'workload') {
      const report = parseProxyHeaders((n) => c.req.header(n))
      if (report) {
        await recordProxyReport(c.var.db, { ...report, tenantId, serviceId: p.serviceId, workloadId: p.workloadId, now: c.var.clock.now() })
      }
    }
    let revision = await currentRevision()
    for (;;) {
      const compiled = await snapshots.get(c.var.db, tenantId, revision, service, c.var.clock.now())
      const headers = { ETag: compiled.etag, 'Weft-Revision': String(compiled.revision), 'Cache-Control': 'no-cache' }
      if (inm !== compiled.etag) return c.body(compiled.body, 200, { ...headers, 'Content-Type': 'application/json' })
      const remaining = deadline - Date.now()
      if (remaining <= 0) return c.body(null, 304, headers)
      let next: number | null
      if (bus) {
        // A watcher waits without a database connection where connections are per request (Workers), so
        // many watchers do not pin as many server connections; only a wake needs one again.
        await connections.releaseDb?.(c)
        next = await bus.waitForRevision(tenantId, compiled.revision, remaining, c.req.raw.signal)
        if (next !== null && connections.releaseDb) {
          try {
            c.set('db', await connections.getDb(c))
          } catch (err) {
            throw new DatabaseUnavailable('cannot connect to the database', { cause: err })
          }
        }
      } else {
        await new Promise((r) => setTimeout(r, Math.min(FALLBACK_POLL_MS, remaining)))
        const now = await currentRevision()
        next = now > compiled.revision ? now : Date.now() >= deadline ? null : compiled.revision
      }
      if (next === null) return c.body(null, 304, headers)
      revision = next
    }
  })
}
