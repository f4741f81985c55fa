import { createRoute, z } from '@hono/zod-openapi'
import { MAX_TELEMETRY_SERIES } from '../../../mesh/src/telemetry/telemetry-push'
import { requireTenant } from '../auth/authenticate'
import { Forbidden, PayloadTooLarge, Unauthorized, ValidationError } from '../errors'
import { errorResponses, json } from '../http/responses'
import { bearerSecurity, newRouter } from '../http/router'
import { DnsLabel } from '../schemas/common'
import { durationParam, ServiceGraph, ServiceMetrics, TelemetryAccepted, TelemetryPush } from '../schemas/telemetry'
import { HOUR_MS, recordTelemetry } from '../telemetry/record-telemetry'
import { serviceGraph, serviceSeries } from '../telemetry/telemetry-queries'
import { MINUTE_RETENTION_MS } from '../telemetry/telemetry-retention'

// A chart of more points than a screen is wide says nothing more.
const MAX_POINTS = 1_440

const pushTelemetry = createRoute({
  method: 'post',
  path: '/v1/proxy/telemetry',
  tags: ['Proxy'],
  summary: "A proxy's metric deltas: request counts and latency histograms by source, destination, route, status class",
  description:
    'Workload JWT only: the tenant and the reporting service are the token\'s. Safe to retry: a push whose `(proxyId, seq)` was counted ' +
    `answers \`duplicate: true\` and adds nothing. At most ${MAX_TELEMETRY_SERIES} series of each kind per push (413 beyond).`,
  security: bearerSecurity,
  request: { body: { required: true, content: { 'application/json': { schema: TelemetryPush } } } },
  responses: { 200: json(TelemetryAccepted, 'Counted (or already counted).'), ...errorResponses },
})

const getGraph = createRoute({
  method: 'get',
  path: '/v1/telemetry/graph',
  tags: ['Telemetry'],
  summary: 'The service graph: who calls whom, with requests per second, success rate and p50/p95/p99 per edge',
  security: bearerSecurity,
  request: {
    query: z.object({ window: durationParam('1m', '24h', 'window').default(15 * 60_000).openapi({ type: 'string', example: '15m', description: 'How far back, 1m–24h (default 15m).' }) }).strict(),
  },
  responses: { 200: json(ServiceGraph, 'Nodes and edges over the window.'), ...errorResponses },
})

const getService = createRoute({
  method: 'get',
  path: '/v1/telemetry/services/{name}',
  tags: ['Telemetry'],
  summary: 'Golden signals of one service over time: rps, success rate, p50/p95/p99 latency per step',
  security: bearerSecurity,
  request: {
    params: z.object({ name: DnsLabel.openapi({ param: { name: 'name', in: 'path' }, example: 'payments' }) }),
    query: z
      .object({
        window: durationParam('1m', '30d', 'window').default(60 * 60_000).openapi({ type: 'string', example: '1h', description: 'How far back, 1m–30d (default 1h).' }),
        step: durationParam('1m', '1d', 'step').default(60_000).openapi({ type: 'string', example: '1m', description: 'Point spacing, 1m–1d (default 1m); whole hours read the hour rollups.' }),
      })
      .strict(),
  },
  responses: { 200: json(ServiceMetrics, 'One point per step, oldest first, the current (partial) step last.'), ...errorResponses },
})

export const telemetryRoutes = newRouter()
  .openapi(pushTelemetry, async (c) => {
    const p = c.get('principal')
    // Only a proxy reports: the reporter is the service named by its workload token.
    if (p?.kind !== 'workload') {
      if (!p) throw new Unauthorized('this route needs a workload JWT-SVID')
      throw new Forbidden('only a workload identity (a proxy) can report telemetry')
    }
    const push = c.req.valid('json')
    if (push.requests.length > MAX_TELEMETRY_SERIES || push.latency.length > MAX_TELEMETRY_SERIES) {
      throw new PayloadTooLarge(`at most ${MAX_TELEMETRY_SERIES} series of each kind per push (got ${push.requests.length} and ${push.latency.length}); push more often`)
    }
    const r = await recordTelemetry(c.var.db, { tenantId: p.tenant.id, reporterService: p.service, push, now: c.var.clock.now() })
    if (r.duplicate) c.var.log.info({ proxyId: push.proxyId, seq: push.seq }, 'telemetry push already counted')
    return c.json({ duplicate: r.duplicate, minute: r.minute.toISOString(), series: r.rows }, 200)
  })
  .openapi(getGraph, async (c) => {
    const p = requireTenant(c, 'viewer')
    const { window } = c.req.valid('query')
    return c.json(await serviceGraph(c.var.db, p.tenant.id, c.var.clock.now(), window), 200)
  })
  .openapi(getService, async (c) => {
    const p = requireTenant(c, 'viewer')
    const { name } = c.req.valid('param')
    const { window, step } = c.req.valid('query')
    const errors = []
    if (step > window) errors.push({ path: 'query.step', message: 'step must not be longer than the window' })
    if (window / step > MAX_POINTS) errors.push({ path: 'query.step', message: `at most ${MAX_POINTS} points: use a step of at least ${Math.ceil(window / MAX_POINTS / 60_000)}m` })
    if (window > MINUTE_RETENTION_MS && step % HOUR_MS !== 0) errors.push({ path: 'query.step', message: `minutes are kept ${MINUTE_RETENTION_MS / HOUR_MS}h: a longer window needs a step of whole hours` })
    if (errors.length) throw new ValidationError(errors)
    return c.json(await serviceSeries(c.var.db, p.tenant.id, name, c.var.clock.now(), window, step), 200)
  })
