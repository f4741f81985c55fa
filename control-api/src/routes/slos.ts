import { createRoute, z } from '@hono/zod-openapi'
import { and, asc, desc, eq, gt, lt, or } from 'drizzle-orm'
import { requireTenant } from '../auth/authenticate'
import { generateSecret, SECRET_PREFIX } from '../auth/secrets'
import { actorOf } from '../context'
import { isUniqueViolation } from '../db/pg-errors'
import { alerts, services, slos, webhooks } from '../db/schema'
import { Conflict, NotConfigured, NotFound, ValidationError } from '../errors'
import { decodeCursor, page } from '../http/pagination'
import { conflictResponses, errorResponses, json } from '../http/responses'
import { bearerSecurity, newRouter } from '../http/router'
import { seal } from '../identity/master-key'
import { recordChange } from '../repo/audit'
import { Pagination, pageOf } from '../schemas/common'
import { Alert, AlertListQuery, Slo, SloCreate, SloStatus, Webhook, WebhookCreate, WebhookWithSecret } from '../schemas/slos'
import { budgetRemaining } from '../slo/burn-rate'
import { deliveriesOf, webhookSecretAad } from '../slo/deliver-webhooks'
import { alertView, evaluateSlo, openAlertsOf } from '../slo/evaluate-slos'
import { windowTotals } from '../slo/slo-counts'
import { isInternalHost } from '../slo/webhook-url'

const NameParam = z.object({ name: z.string().openapi({ param: { name: 'name', in: 'path' }, example: 'payments-latency' }) })
const IdParam = z.object({ id: z.string().uuid().openapi({ param: { name: 'id', in: 'path' } }) })

type SloRow = typeof slos.$inferSelect
const toSlo = (s: SloRow) => ({
  id: s.id,
  name: s.name,
  service: s.service,
  objective: s.objective,
  window: `${s.windowDays}d`,
  description: s.description,
  version: s.version,
  createdAt: s.createdAt.toISOString(),
  updatedAt: s.updatedAt.toISOString(),
})
const toWebhook = (w: typeof webhooks.$inferSelect) => ({ id: w.id, url: w.url, description: w.description, createdAt: w.createdAt.toISOString() })

const tags = ['SLOs and alerts']
const createSlo = createRoute({
  method: 'post',
  path: '/v1/slos',
  tags,
  summary: 'Define a service level objective (success rate or latency) with burn-rate alerting',
  security: bearerSecurity,
  request: { body: { content: { 'application/json': { schema: SloCreate } }, required: true } },
  responses: { 201: json(Slo, 'Created.'), ...errorResponses, ...conflictResponses },
})
const listSlos = createRoute({
  method: 'get',
  path: '/v1/slos',
  tags,
  summary: 'List SLOs, by name',
  security: bearerSecurity,
  request: { query: Pagination },
  responses: { 200: json(pageOf(Slo, 'SloPage'), 'A page of SLOs.'), ...errorResponses },
})
const getSlo = createRoute({
  method: 'get',
  path: '/v1/slos/{name}',
  tags,
  summary: 'An SLO with its current burn rates, error budget and open alerts',
  security: bearerSecurity,
  request: { params: NameParam },
  responses: { 200: json(SloStatus, 'The SLO and its status.'), ...errorResponses },
})
const deleteSlo = createRoute({
  method: 'delete',
  path: '/v1/slos/{name}',
  tags,
  summary: 'Delete an SLO and its alerts',
  security: bearerSecurity,
  request: { params: NameParam },
  responses: { 204: { description: 'Deleted.' }, ...errorResponses },
})
const listAlerts = createRoute({
  method: 'get',
  path: '/v1/alerts',
  tags,
  summary: 'Alerts, newest first, with their webhook deliveries',
  security: bearerSecurity,
  request: { query: AlertListQuery },
  responses: { 200: json(pageOf(Alert, 'AlertPage'), 'A page of alerts.'), ...errorResponses },
})
const createWebhook = createRoute({
  method: 'post',
  path: '/v1/webhooks',
  tags,
  summary: 'Add a webhook for alerts (admin); the signing secret is shown once',
  security: bearerSecurity,
  request: { body: { content: { 'application/json': { schema: WebhookCreate } }, required: true } },
  responses: { 201: json(WebhookWithSecret, 'Created, with its signing secret.'), ...errorResponses },
})
const listWebhooks = createRoute({
  method: 'get',
  path: '/v1/webhooks',
  tags,
  summary: 'List webhooks (admin)',
  security: bearerSecurity,
  responses: { 200: json(z.object({ items: z.array(Webhook) }), 'Every webhook of the tenant.'), ...errorResponses },
})
const deleteWebhook = createRoute({
  method: 'delete',
  path: '/v1/webhooks/{id}',
  tags,
  summary: 'Remove a webhook (admin); its pending deliveries go with it',
  security: bearerSecurity,
  request: { params: IdParam },
  responses: { 204: { description: 'Deleted.' }, ...errorResponses },
})

async function findSlo(db: Parameters<typeof recordChange>[0], tenantId: string, name: string): Promise<SloRow> {
  const [row] = await db.select().from(slos).where(and(eq(slos.tenantId, tenantId), eq(slos.name, name)))
  if (!row) throw new NotFound(`no SLO "${name}"`)
  return row
}

export function sloRoutes(opts: { webhookAllowPrivate: boolean }) {
  return newRouter()
    .openapi(createSlo, async (c) => {
      const p = requireTenant(c, 'editor')
      const body = c.req.valid('json')
      try {
        const row = await c.var.db.transaction(async (tx) => {
          const [svc] = await tx.select({ id: services.id }).from(services).where(and(eq(services.tenantId, p.tenant.id), eq(services.name, body.service)))
          if (!svc) throw new ValidationError([{ path: 'service', message: `no service "${body.service}"` }])
          const [row] = await tx
            .insert(slos)
            .values({ tenantId: p.tenant.id, name: body.name, service: body.service, objective: body.objective, windowDays: Number.parseInt(body.window, 10), description: body.description })
            .returning()
          await recordChange(tx, { tenantId: p.tenant.id, actor: actorOf(p), action: 'slo.create', resourceType: 'slo', resourceId: row!.id, resourceName: row!.name, after: toSlo(row!), requestId: c.var.requestId, bumpsRevision: false })
          return row!
        })
        return c.json(toSlo(row), 201, { Location: `/v1/slos/${row.name}` })
      } catch (err) {
        if (isUniqueViolation(err)) throw new Conflict(`an SLO named "${body.name}" already exists`, { cause: err })
        throw err
      }
    })
    .openapi(listSlos, async (c) => {
      const p = requireTenant(c, 'viewer')
      const { limit, cursor } = c.req.valid('query')
      const after = decodeCursor<[string]>(cursor, ['string'])
      const rows = await c.var.db
        .select()
        .from(slos)
        .where(and(eq(slos.tenantId, p.tenant.id), after ? gt(slos.name, after[0]) : undefined))
        .orderBy(asc(slos.name))
        .limit(limit + 1)
      return c.json(page(rows, limit, toSlo, (s) => [s.name]), 200)
    })
    .openapi(getSlo, async (c) => {
      const p = requireTenant(c, 'viewer')
      const slo = await findSlo(c.var.db, p.tenant.id, c.req.valid('param').name)
      const now = c.var.clock.now()
      const rules = await evaluateSlo(c.var.db, slo, now)
      const totals = await windowTotals(c.var.db, p.tenant.id, slo.service, slo.objective, new Date(now.getTime() - slo.windowDays * 86_400_000), now)
      const open = (await openAlertsOf(c.var.db, p.tenant.id)).get(slo.id) ?? []
      return c.json(
        {
          ...toSlo(slo),
          status: {
            evaluatedAt: now.toISOString(),
            rules,
            window: { ...totals, budgetRemaining: Math.round(budgetRemaining(totals, slo.objective.target) * 10_000) / 10_000 },
            openAlerts: open.map((a) => ({ id: a.id, severity: a.severity as 'page' | 'ticket', openedAt: a.openedAt.toISOString() })),
          },
        },
        200,
      )
    })
    .openapi(deleteSlo, async (c) => {
      const p = requireTenant(c, 'editor')
      const name = c.req.valid('param').name
      await c.var.db.transaction(async (tx) => {
        const slo = await findSlo(tx, p.tenant.id, name)
        await tx.delete(slos).where(eq(slos.id, slo.id))
        await recordChange(tx, { tenantId: p.tenant.id, actor: actorOf(p), action: 'slo.delete', resourceType: 'slo', resourceId: slo.id, resourceName: name, before: toSlo(slo), requestId: c.var.requestId, bumpsRevision: false })
      })
      return c.body(null, 204)
    })
    .openapi(listAlerts, async (c) => {
      const p = requireTenant(c, 'viewer')
      const q = c.req.valid('query')
      const after = decodeCursor<[string, string]>(q.cursor, ['string', 'string'])
      const rows = await c.var.db
        .select({ alert: alerts, slo: slos })
        .from(alerts)
        .innerJoin(slos, eq(slos.id, alerts.sloId))
        .where(
          and(
            eq(alerts.tenantId, p.tenant.id),
            q.state ? eq(alerts.state, q.state) : undefined,
            q.slo ? eq(slos.name, q.slo) : undefined,
            after ? or(lt(alerts.openedAt, new Date(after[0])), and(eq(alerts.openedAt, new Date(after[0])), lt(alerts.id, after[1]))) : undefined,
          ),
        )
        .orderBy(desc(alerts.openedAt), desc(alerts.id))
        .limit(q.limit + 1)
      const deliveries = await deliveriesOf(c.var.db, p.tenant.id, rows.map((r) => r.alert.id))
      const toAlert = (r: (typeof rows)[number]) => ({
        ...alertView(r.alert, r.slo),
        deliveries: (deliveries.get(r.alert.id) ?? []).map((d) => ({
          id: d.id,
          webhookId: d.webhookId,
          event: d.event as 'alert.opened' | 'alert.resolved',
          state: d.state as 'pending' | 'delivered' | 'failed',
          attempts: d.attempts,
          lastError: d.lastError,
          nextAttemptAt: d.nextAttemptAt.toISOString(),
          deliveredAt: d.deliveredAt?.toISOString() ?? null,
        })),
      })
      return c.json(page(rows, q.limit, toAlert, (r) => [r.alert.openedAt.toISOString(), r.alert.id]), 200)
    })
    .openapi(createWebhook, async (c) => {
      const p = requireTenant(c, 'admin')
      const body = c.req.valid('json')
      if (!opts.webhookAllowPrivate && isInternalHost(new URL(body.url))) {
        throw new ValidationError([{ path: 'url', message: 'points at a loopback or private address; set WEFT_WEBHOOK_ALLOW_PRIVATE=true on a self-hosted control API to allow it' }])
      }
      const masterKey = c.var.masterKey
      if (!masterKey) throw new NotConfigured('webhook secrets are sealed with WEFT_MASTER_KEY, which this control API does not have')
      const secret = generateSecret(SECRET_PREFIX.webhook)
      const id = crypto.randomUUID()
      const row = await c.var.db.transaction(async (tx) => {
        const [row] = await tx
          .insert(webhooks)
          .values({ id, tenantId: p.tenant.id, url: body.url, description: body.description, secretSealed: await seal(masterKey, secret, webhookSecretAad(id)) })
          .returning()
        await recordChange(tx, { tenantId: p.tenant.id, actor: actorOf(p), action: 'webhook.create', resourceType: 'webhook', resourceId: id, after: toWebhook(row!), requestId: c.var.requestId, bumpsRevision: false })
        return row!
      })
      return c.json({ ...toWebhook(row), secret }, 201)
    })
    .openapi(listWebhooks, async (c) => {
      const p = requireTenant(c, 'admin')
      const rows = await c.var.db.select().from(webhooks).where(eq(webhooks.tenantId, p.tenant.id)).orderBy(asc(webhooks.createdAt))
      return c.json({ items: rows.map(toWebhook) }, 200)
    })
    .openapi(deleteWebhook, async (c) => {
      const p = requireTenant(c, 'admin')
      const { id } = c.req.valid('param')
      await c.var.db.transaction(async (tx) => {
        const [row] = await tx.delete(webhooks).where(and(eq(webhooks.tenantId, p.tenant.id), eq(webhooks.id, id))).returning()
        if (!row) throw new NotFound('no such webhook')
        await recordChange(tx, { tenantId: p.tenant.id, actor: actorOf(p), action: 'webhook.delete', resourceType: 'webhook', resourceId: id, before: toWebhook(row), requestId: c.var.requestId, bumpsRevision: false })
      })
      return c.body(null, 204)
    })
}
