import { and, eq, inArray, lte, sql } from 'drizzle-orm'
import type { Db } from '../db/client'
import { webhookDeliveries, webhooks } from '../db/schema'
import { unseal } from '../identity/master-key'
import type { Logger } from '../logger'
import { SIGNATURE_HEADER, signWebhook } from './webhook-signature'

/** After this many failed attempts a delivery is given up ('failed'); with the backoff below, about a day. */
export const MAX_ATTEMPTS = 12
/** A claimed delivery is not picked again for this long, so two instances do not send it twice at once. */
const LEASE_MS = 60_000
const TIMEOUT_MS = 10_000
const BATCH = 50

/** Exponential backoff: 30 s, 1 min, 2 min, … capped at 4 h. */
export function backoffMs(attempts: number): number {
  return Math.min(30_000 * 2 ** Math.max(0, attempts - 1), 4 * 3_600_000)
}

/** The additional data every sealed webhook secret is bound to: a sealed secret moved to another row will not open. */
export const webhookSecretAad = (webhookId: string) => `webhook:${webhookId}`

export type DeliveryRun = { attempted: number; delivered: number; failed: number }

/**
 * Sends the deliveries that are due: claims a batch (SKIP LOCKED plus a lease, so concurrent instances take
 * different rows and a crash mid-send only delays a retry), POSTs each signed body, and records the outcome:
 * delivered on 2xx, otherwise retried with backoff until MAX_ATTEMPTS.
 */
export async function deliverDueWebhooks(
  db: Db,
  opts: { masterKey: CryptoKey; now: Date; logger?: Logger; fetch?: typeof fetch },
): Promise<DeliveryRun> {
  const { now } = opts
  const doFetch = opts.fetch ?? fetch
  const claimed = await db.transaction(async (tx) => {
    const due = await tx
      .select({ id: webhookDeliveries.id })
      .from(webhookDeliveries)
      .where(and(eq(webhookDeliveries.state, 'pending'), lte(webhookDeliveries.nextAttemptAt, now)))
      .orderBy(webhookDeliveries.nextAttemptAt)
      .limit(BATCH)
      .for('update', { skipLocked: true })
    if (due.length === 0) return []
    await tx
      .update(webhookDeliveries)
      .set({ nextAttemptAt: new Date(now.getTime() + LEASE_MS) })
      .where(inArray(webhookDeliveries.id, due.map((d) => d.id)))
    return tx
      .select({ delivery: webhookDeliveries, url: webhooks.url, secretSealed: webhooks.secretSealed })
      .from(webhookDeliveries)
      .innerJoin(webhooks, eq(webhooks.id, webhookDeliveries.webhookId))
      .where(inArray(webhookDeliveries.id, due.map((d) => d.id)))
  })
  const run: DeliveryRun = { attempted: 0, delivered: 0, failed: 0 }
  for (const { delivery, url, secretSealed } of claimed) {
    run.attempted++
    const body = JSON.stringify({ id: delivery.id, ...delivery.payload })
    let error: string | null = null
    try {
      const secret = await unseal(opts.masterKey, secretSealed, webhookSecretAad(delivery.webhookId))
      const res = await doFetch(url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          'User-Agent': 'weft-webhooks/1',
          'Weft-Event': delivery.event,
          'Weft-Delivery': delivery.id,
          [SIGNATURE_HEADER]: await signWebhook(secret, body, now),
        },
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(TIMEOUT_MS),
      })
      await res.body?.cancel()
      if (res.status < 200 || res.status > 299) error = `HTTP ${res.status}`
    } catch (err) {
      // fetch says only "fetch failed"; the cause says why (refused address, DNS, connection).
      error = err instanceof Error ? (err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message) : String(err)
    }
    const attempts = delivery.attempts + 1
    if (error === null) {
      run.delivered++
      await db.update(webhookDeliveries).set({ state: 'delivered', attempts, deliveredAt: now, lastError: null }).where(eq(webhookDeliveries.id, delivery.id))
    } else {
      const givesUp = attempts >= MAX_ATTEMPTS
      if (givesUp) run.failed++
      opts.logger?.warn({ tenant: delivery.tenantId, delivery: delivery.id, attempts, err: error }, givesUp ? 'webhook delivery given up' : 'webhook delivery failed, will retry')
      await db
        .update(webhookDeliveries)
        .set({
          state: givesUp ? 'failed' : 'pending',
          attempts,
          lastError: error.slice(0, 500),
          nextAttemptAt: new Date(now.getTime() + backoffMs(attempts)),
        })
        .where(eq(webhookDeliveries.id, delivery.id))
    }
  }
  return run
}

/** Deliveries per alert, newest first, for the alerts API. */
export async function deliveriesOf(db: Db, tenantId: string, alertIds: string[]) {
  if (alertIds.length === 0) return new Map<string, (typeof webhookDeliveries.$inferSelect)[]>()
  const rows = await db
    .select()
    .from(webhookDeliveries)
    .where(and(eq(webhookDeliveries.tenantId, tenantId), inArray(webhookDeliveries.alertId, alertIds)))
    .orderBy(sql`${webhookDeliveries.createdAt} desc`)
  const out = new Map<string, (typeof webhookDeliveries.$inferSelect)[]>()
  for (const r of rows) out.set(r.alertId, [...(out.get(r.alertId) ?? []), r])
  return out
}
