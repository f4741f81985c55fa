import { and, eq, lte } from 'drizzle-orm'
import type { Db } from '../db/client'
import { endpoints } from '../db/schema'
import type { Logger } from '../logger'
import { recordChange } from '../repo/audit'

/**
 * An endpoint whose TTL lapses changes what proxies must route to, yet nobody writes anything: this turns
 * the lapse into a revision (and an audit entry) so snapshots, compiled once per revision, drop it.
 */
export async function sweepExpiredEndpoints(db: Db, now: Date): Promise<number> {
  return db.transaction(async (tx) => {
    const lapsed = await tx
      .update(endpoints)
      .set({ expired: true })
      .where(and(lte(endpoints.expiresAt, now), eq(endpoints.expired, false)))
      .returning({ id: endpoints.id, tenantId: endpoints.tenantId, address: endpoints.address, port: endpoints.port })
    const byTenant = new Map<string, typeof lapsed>()
    for (const e of lapsed) byTenant.set(e.tenantId, [...(byTenant.get(e.tenantId) ?? []), e])
    for (const [tenantId, list] of byTenant) {
      await recordChange(tx, {
        tenantId,
        actor: { type: 'system', id: null, name: 'endpoint-expiry' },
        action: 'endpoint.expire',
        resourceType: 'endpoint',
        after: { endpoints: list.map((e) => ({ id: e.id, address: `${e.address}:${e.port}` })) },
      })
    }
    return lapsed.length
  })
}

// One second: a dead instance stops receiving traffic within its TTL plus about a second.
export const EXPIRY_SWEEP_INTERVAL_MS = 1_000

export function scheduleEndpointExpiry(opts: { db: Db; logger: Logger; clock?: () => Date; intervalMs?: number }): { stop(): void } {
  let running = false
  const timer = setInterval(async () => {
    if (running) return
    running = true
    try {
      const n = await sweepExpiredEndpoints(opts.db, opts.clock?.() ?? new Date())
      if (n) opts.logger.info({ expired: n }, 'endpoints expired')
    } catch (err) {
      opts.logger.warn({ err: String(err) }, 'endpoint expiry sweep failed')
    } finally {
      running = false
    }
  }, opts.intervalMs ?? EXPIRY_SWEEP_INTERVAL_MS)
  ;(timer as { unref?: () => void }).unref?.()
  return { stop: () => clearInterval(timer) }
}
