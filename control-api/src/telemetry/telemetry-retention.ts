import { lt, sql } from 'drizzle-orm'
import type { Db } from '../db/client'
import { telemetryBatches, telemetryHours, telemetryMinutes } from '../db/schema'
import type { Logger } from '../logger'
import { floorTo, HOUR_MS, LATE_DELTA_LIMIT_MS, SUM_BUCKETS_ARRAY } from './record-telemetry'

// Two days of minutes: "what happened yesterday at 14:07" stays answerable; older questions get hours.
export const MINUTE_RETENTION_MS = 48 * HOUR_MS
// Thirty days of hours: an SLO window (14 or 28 days) fits.
export const HOUR_RETENTION_MS = 30 * 24 * HOUR_MS
// Push ids are kept as long as minutes: a proxy does not retry a push for longer than that.
export const BATCH_RETENTION_MS = MINUTE_RETENTION_MS
// Five minutes: hour rows lag the minutes by at most that (the current hour is rewritten each time).
export const TELEMETRY_SWEEP_INTERVAL_MS = 5 * 60_000

const KEY = sql.raw('tenant_id, bucket_start, reporter, source, destination, route, status_class, reason')

/**
 * Rewrites the hour rollups from `from` (floored to the hour) on from the minutes: delete and re-insert in one
 * transaction, so a reader sees the old hours or the new ones. Recomputing instead of adding makes a run
 * idempotent and lets the current hour be rewritten as it fills. @returns hour rows written
 */
export async function downsampleHours(db: Db, from: Date): Promise<number> {
  const start = floorTo(from, HOUR_MS)
  return db.transaction(async (tx) => {
    await tx.delete(telemetryHours).where(sql`${telemetryHours.bucketStart} >= ${start}`)
    // date_bin with a UTC origin, not date_trunc: date_trunc on timestamptz follows the session's time zone.
    const result = await tx.execute(sql`
      insert into telemetry_hours (${KEY}, requests, latency_buckets, latency_sum_seconds)
      select tenant_id, date_bin('1 hour', bucket_start, timestamptz '1970-01-01T00:00:00Z') as hour,
             reporter, source, destination, route, status_class, reason,
             sum(requests)::bigint, ${sql.raw(SUM_BUCKETS_ARRAY)}, sum(latency_sum_seconds)
      from telemetry_minutes where bucket_start >= ${start}
      group by tenant_id, hour, reporter, source, destination, route, status_class, reason
    `)
    return Number((result as unknown as { rowCount?: number; affectedRows?: number }).rowCount ?? (result as { affectedRows?: number }).affectedRows ?? 0)
  })
}

/** Deletes minutes, hours and push ids past their retention. */
export async function expireTelemetry(db: Db, now: Date): Promise<void> {
  await db.delete(telemetryMinutes).where(lt(telemetryMinutes.bucketStart, new Date(now.getTime() - MINUTE_RETENTION_MS)))
  await db.delete(telemetryHours).where(lt(telemetryHours.bucketStart, new Date(now.getTime() - HOUR_RETENTION_MS)))
  await db.delete(telemetryBatches).where(lt(telemetryBatches.receivedAt, new Date(now.getTime() - BATCH_RETENTION_MS)))
}

/**
 * One sweep: downsample what may have changed since `lastRun` (everything still in minutes on the first run),
 * then expire. A push can land up to LATE_DELTA_LIMIT_MS in the past, so that much more is re-read.
 */
export async function sweepTelemetry(db: Db, now: Date, lastRun: Date | null): Promise<void> {
  const from = lastRun ? new Date(lastRun.getTime() - LATE_DELTA_LIMIT_MS) : new Date(now.getTime() - MINUTE_RETENTION_MS)
  await downsampleHours(db, from)
  await expireTelemetry(db, now)
}

export function scheduleTelemetryRetention(opts: { db: Db; logger: Logger; clock?: () => Date; intervalMs?: number }): { stop(): void } {
  let running = false
  let lastRun: Date | null = null
  const timer = setInterval(async () => {
    if (running) return
    running = true
    const now = opts.clock?.() ?? new Date()
    try {
      await sweepTelemetry(opts.db, now, lastRun)
      lastRun = now
    } catch (err) {
      opts.logger.warn({ err: String(err) }, 'telemetry downsampling/retention sweep failed')
    } finally {
      running = false
    }
  }, opts.intervalMs ?? TELEMETRY_SWEEP_INTERVAL_MS)
  ;(timer as { unref?: () => void }).unref?.()
  return { stop: () => clearInterval(timer) }
}
