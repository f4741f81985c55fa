import { sql } from 'drizzle-orm'
import { LATENCY_BUCKET_COUNT } from '../../../mesh/src/telemetry/latency-histogram'
import type { TelemetryPush } from '../../../mesh/src/telemetry/telemetry-push'
import type { Db, Queryable } from '../db/client'
import { telemetryBatches, telemetryHours, telemetryMinutes } from '../db/schema'
import { RollupAccumulator, type RollupRow } from './rollup-key'

export const MINUTE_MS = 60_000
export const HOUR_MS = 3_600_000
/**
 * A delta observed longer ago than this (a proxy that retried through a long outage) is counted in the minute
 * it arrives instead: the hourly downsampling only re-reads the last hours (telemetry-retention.ts), so
 * nothing may land further back. One hour covers a control API restart or a short outage with exact minutes.
 */
export const LATE_DELTA_LIMIT_MS = HOUR_MS
// 11 parameters a row; Postgres allows 65 535 parameters a statement.
const ROWS_PER_STATEMENT = 2_000

type RollupTable = typeof telemetryMinutes | typeof telemetryHours

const bucketIndexes = Array.from({ length: LATENCY_BUCKET_COUNT }, (_, i) => i + 1)
// Bucket-wise addition written out (`array[a[1] + b[1], …]`): several times cheaper per row than unnest in a
// subquery, and the bucket count is fixed.
const ADD_EXCLUDED_BUCKETS = (table: string) => `array[${bucketIndexes.map((i) => `"${table}"."latency_buckets"[${i}] + excluded.latency_buckets[${i}]`).join(', ')}]::bigint[]`
/** `sum(latency_buckets[1])::bigint, …`: the bucket-wise sum of a group's histograms, one column per bucket. */
export const SUM_BUCKET_COLUMNS = bucketIndexes.map((i) => `sum(latency_buckets[${i}])::bigint as b${i}`).join(', ')
/** The same sums folded back into one array. */
export const SUM_BUCKETS_ARRAY = `array[${bucketIndexes.map((i) => `sum(latency_buckets[${i}])`).join(', ')}]::bigint[]`

export const floorTo = (t: Date, ms: number) => new Date(Math.floor(t.getTime() / ms) * ms)

/** The minute a push is counted in: when it was observed, unless that is in the future or too long ago. */
export function minuteOf(observedAt: Date, now: Date): Date {
  const t = observedAt.getTime()
  const at = t > now.getTime() || t < now.getTime() - LATE_DELTA_LIMIT_MS ? now : observedAt
  return floorTo(at, MINUTE_MS)
}

/** The rows one push adds. The reporter's own name comes from its token, never from the body. */
export function rollupRowsOf(push: TelemetryPush, reporterService: string): RollupRow[] {
  const acc = new RollupAccumulator()
  const own = <T extends { direction: 'inbound' | 'outbound'; source: string; destination: string }>(s: T) =>
    s.direction === 'outbound' ? { source: reporterService, destination: s.destination } : { source: s.source, destination: reporterService }
  for (const r of push.requests) acc.addRequests({ reporter: r.direction, ...own(r), route: r.route, statusClass: r.statusClass, reason: r.reason }, r.count)
  for (const l of push.latency) acc.addLatency({ reporter: l.direction, ...own(l), route: l.route, statusClass: l.statusClass }, l.buckets, l.sumSeconds)
  return acc.rows()
}

/** Adds rows into a rollup table: counts and sums add, histograms add bucket by bucket. */
export async function upsertRollups(q: Queryable, table: RollupTable, tenantId: string, bucketStart: Date, rows: RollupRow[]): Promise<void> {
  for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
    const chunk = rows.slice(i, i + ROWS_PER_STATEMENT)
    await q
      .insert(table)
      .values(chunk.map((r) => ({ tenantId, bucketStart, ...r })))
      .onConflictDoUpdate({
        target: [table.tenantId, table.bucketStart, table.reporter, table.source, table.destination, table.route, table.statusClass, table.reason],
        set: {
          requests: sql`${table.requests} + excluded.requests`,
          latencyBuckets: sql`${sql.raw(ADD_EXCLUDED_BUCKETS(table === telemetryMinutes ? 'telemetry_minutes' : 'telemetry_hours'))}`,
          latencySumSeconds: sql`${table.latencySumSeconds} + excluded.latency_sum_seconds`,
        },
      })
  }
}

export type RecordResult = { duplicate: boolean; minute: Date; rows: number }

/**
 * Counts one push into the tenant's minute rollups, once: the (tenant, proxy, seq) row and the counts commit
 * together, so a retry of a push that committed finds its seq and adds nothing, and one that did not commit
 * is counted in full.
 */
export async function recordTelemetry(db: Db, input: { tenantId: string; reporterService: string; push: TelemetryPush; now: Date }): Promise<RecordResult> {
  const { tenantId, push, now } = input
  const minute = minuteOf(new Date(push.observedAt), now)
  const rows = rollupRowsOf(push, input.reporterService)
  return db.transaction(async (tx) => {
    const fresh = await tx
      .insert(telemetryBatches)
      .values({ tenantId, proxyId: push.proxyId, seq: push.seq, receivedAt: now })
      .onConflictDoNothing()
      .returning({ seq: telemetryBatches.seq })
    if (fresh.length === 0) return { duplicate: true, minute, rows: 0 }
    await upsertRollups(tx, telemetryMinutes, tenantId, minute, rows)
    return { duplicate: false, minute, rows: rows.length }
  })
}
