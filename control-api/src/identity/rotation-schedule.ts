import type { Db } from '../db/client'
import type { Logger } from '../logger'
import { recordChange } from '../repo/audit'
import { retireAllExpiredKeys, rotateSigningKeys, tenantsDueForRotation } from './signing-keys'

/** How often to look for due keys: rotation periods are hours to weeks, so minutes of lag do not matter. */
export const ROTATION_CHECK_INTERVAL_MS = 5 * 60_000

/**
 * Rotates every tenant whose current key is older than the period. Safe with many instances: each
 * rotation locks the tenant's key rows and re-checks, so a tenant rotates once however many run this.
 */
export async function rotateDueKeys(db: Db, masterKey: CryptoKey, now: Date, periodMs: number, logger: Logger): Promise<string[]> {
  const rotated: string[] = []
  // Keys whose overlap has closed retire even when no rotation is due, so their private halves do not linger.
  const retired = await retireAllExpiredKeys(db, now)
  if (retired.length) logger.info({ retired }, 'signing keys retired')
  for (const tenantId of await tenantsDueForRotation(db, now, periodMs)) {
    const did = await db.transaction(async (tx) => {
      const still = await tenantsDueForRotation(tx, now, periodMs)
      if (!still.includes(tenantId)) return false
      const r = await rotateSigningKeys(tx, tenantId, masterKey, now)
      await recordChange(tx, {
        tenantId,
        actor: { type: 'system', id: null, name: 'key-rotation' },
        action: 'signing-key.rotate',
        resourceType: 'signing-key',
        resourceId: r.current.kid,
        after: { current: r.current.kid, next: r.next.kid, retired: r.retired },
      })
      return true
    })
    if (did) {
      rotated.push(tenantId)
      logger.info({ tenantId }, 'signing keys rotated on schedule')
    }
  }
  return rotated
}

/** The Node entry's timer; the Worker uses a cron trigger that calls rotateDueKeys. */
export function scheduleKeyRotation(opts: { db: Db; masterKey: CryptoKey; logger: Logger; periodMs: number; clock?: () => Date }): { stop(): void } {
  const tick = () => {
    rotateDueKeys(opts.db, opts.masterKey, opts.clock?.() ?? new Date(), opts.periodMs, opts.logger).catch((err: unknown) =>
      opts.logger.error({ err: String(err) }, 'scheduled key rotation failed'),
    )
  }
  const timer = setInterval(tick, ROTATION_CHECK_INTERVAL_MS)
  timer.unref?.()
  tick()
  return { stop: () => clearInterval(timer) }
}
