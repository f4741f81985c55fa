import { and, eq, sql } from 'drizzle-orm'
import type { Db } from '../db/client'
import { alerts, slos, tenants, webhookDeliveries, webhooks } from '../db/schema'
import { evaluateRules, firingSeverities, LONGEST_WINDOW_MINUTES, type RuleEvaluation, type Severity } from './burn-rate'
import { minuteCounts } from './slo-counts'

const MINUTE_MS = 60_000

export type AlertEvent = 'alert.opened' | 'alert.resolved'
export type SloRow = typeof slos.$inferSelect
type AlertRow = typeof alerts.$inferSelect

export type EvaluationResult = { slos: number; opened: number; resolved: number }

/** The JSON a webhook receives (and `GET /v1/alerts` lists, without the envelope). */
export function alertView(alert: AlertRow, slo: Pick<SloRow, 'name' | 'service' | 'objective' | 'windowDays'>) {
  return {
    id: alert.id,
    slo: slo.name,
    service: slo.service,
    objective: slo.objective,
    window: `${slo.windowDays}d`,
    severity: alert.severity as Severity,
    state: alert.state as 'open' | 'resolved',
    openedAt: alert.openedAt.toISOString(),
    resolvedAt: alert.resolvedAt?.toISOString() ?? null,
    openedWith: alert.openedWith as { rules: RuleEvaluation[] },
  }
}

/** The burn-rate rules of one SLO at `now`, from the minute rollups. */
export async function evaluateSlo(db: Db, slo: SloRow, now: Date): Promise<RuleEvaluation[]> {
  const nowMinute = Math.floor(now.getTime() / MINUTE_MS) * MINUTE_MS
  const from = new Date(nowMinute - (LONGEST_WINDOW_MINUTES - 1) * MINUTE_MS)
  const perMinute = await minuteCounts(db, slo.tenantId, slo.service, slo.objective, from)
  return evaluateRules(perMinute, nowMinute, slo.objective.target, slo.windowDays)
}

/**
 * Evaluates every SLO (of one tenant, or of all), opens an alert for each severity that starts firing and
 * resolves those that stopped, and queues a webhook delivery per tenant webhook for each change. Safe to run
 * on several instances at once: at most one alert per SLO and severity can be open (a partial unique index),
 * and the state change and its deliveries commit together.
 */
export async function evaluateSlos(db: Db, now: Date, opts: { tenantId?: string } = {}): Promise<EvaluationResult> {
  const rows = await db.select().from(slos).where(opts.tenantId ? eq(slos.tenantId, opts.tenantId) : undefined)
  let opened = 0
  let resolved = 0
  for (const slo of rows) {
    const rules = await evaluateSlo(db, slo, now)
    const firing = firingSeverities(rules)
    for (const severity of ['page', 'ticket'] as const) {
      const change = await db.transaction(async (tx) => {
        const [open] = await tx
          .select()
          .from(alerts)
          .where(and(eq(alerts.sloId, slo.id), eq(alerts.severity, severity), eq(alerts.state, 'open')))
          .for('update')
        if (firing.has(severity) && !open) {
          const [row] = await tx
            .insert(alerts)
            .values({ tenantId: slo.tenantId, sloId: slo.id, severity, state: 'open', openedWith: { rules }, openedAt: now })
            .onConflictDoNothing()
            .returning()
          if (!row) return null // another instance opened it first
          await queueDeliveries(tx, slo, row, 'alert.opened', now)
          return 'opened' as const
        }
        if (!firing.has(severity) && open) {
          const [row] = await tx.update(alerts).set({ state: 'resolved', resolvedAt: now }).where(eq(alerts.id, open.id)).returning()
          await queueDeliveries(tx, slo, row!, 'alert.resolved', now)
          return 'resolved' as const
        }
        return null
      })
      if (change === 'opened') opened++
      if (change === 'resolved') resolved++
    }
  }
  return { slos: rows.length, opened, resolved }
}

async function queueDeliveries(tx: Parameters<Parameters<Db['transaction']>[0]>[0], slo: SloRow, alert: AlertRow, event: AlertEvent, now: Date): Promise<void> {
  const hooks = await tx.select({ id: webhooks.id }).from(webhooks).where(eq(webhooks.tenantId, slo.tenantId))
  if (hooks.length === 0) return
  const [tenant] = await tx.select({ slug: tenants.slug }).from(tenants).where(eq(tenants.id, slo.tenantId))
  await tx.insert(webhookDeliveries).values(
    hooks.map((h) => ({
      tenantId: slo.tenantId,
      webhookId: h.id,
      alertId: alert.id,
      event,
      payload: { type: event, tenant: tenant?.slug ?? null, createdAt: now.toISOString(), alert: alertView(alert, slo) },
      nextAttemptAt: now,
    })),
  )
}

/** Open alerts per SLO id, for status views. */
export async function openAlertsOf(db: Db, tenantId: string): Promise<Map<string, AlertRow[]>> {
  const rows = await db
    .select()
    .from(alerts)
    .where(and(eq(alerts.tenantId, tenantId), eq(alerts.state, 'open')))
    .orderBy(sql`${alerts.openedAt} desc`)
  const out = new Map<string, AlertRow[]>()
  for (const r of rows) out.set(r.sloId, [...(out.get(r.sloId) ?? []), r])
  return out
}
