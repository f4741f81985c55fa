import { sql } from 'drizzle-orm'
import { LATENCY_BUCKET_BOUNDS_SECONDS } from '../../../mesh/src/telemetry/latency-histogram'
import type { Queryable } from '../db/client'
import type { SloObjective } from '../db/schema'
import type { Counts } from './burn-rate'

// The SLI is read from the callee's own proxy (reporter 'inbound'): every request that reached the service,
// from inside the mesh or not, counted once. A caller's proxy refusing before the hop (no healthy upstream)
// shows on the caller's outbound series and in the service graph, not in the callee's SLO.

/** The 1-based Postgres array slice of histogram buckets at or under the threshold (a bucket bound, in ms). */
export function goodBucketCount(thresholdMs: number): number {
  const i = LATENCY_BUCKET_BOUNDS_SECONDS.findIndex((b) => Math.abs(b * 1000 - thresholdMs) < 1e-9)
  if (i < 0) throw new RangeError(`${thresholdMs} ms is not a latency bucket bound`)
  return i + 1
}

/** Total and bad requests per row, as SQL expressions over a rollup table row. */
function countsSql(objective: SloObjective) {
  if (objective.type === 'success-rate') {
    return { total: sql`sum(requests)`, bad: sql`sum(case when status_class = '5xx' then requests else 0 end)` }
  }
  // Latency: the histogram's own count is the total, so every request is judged by what was measured of it.
  const k = goodBucketCount(objective.thresholdMs)
  const all = sql`(select coalesce(sum(x), 0) from unnest(latency_buckets) as x)`
  const good = sql`(select coalesce(sum(x), 0) from unnest(latency_buckets[1:${sql.raw(String(k))}]) as x)`
  return { total: sql`sum(${all})`, bad: sql`sum(${all} - ${good})` }
}

/** Counts per minute (keyed by the minute's start, ms) for one service since `from`. */
export async function minuteCounts(db: Queryable, tenantId: string, service: string, objective: SloObjective, from: Date): Promise<Map<number, Counts>> {
  const { total, bad } = countsSql(objective)
  const rows = (await db.execute(sql`
    select bucket_start as minute, ${total}::float8 as total, ${bad}::float8 as bad
    from telemetry_minutes
    where tenant_id = ${tenantId} and reporter = 'inbound' and destination = ${service} and bucket_start >= ${from}
    group by bucket_start
  `)) as unknown as { rows: { minute: Date | string; total: number; bad: number }[] }
  const out = new Map<number, Counts>()
  for (const r of rows.rows) out.set(new Date(r.minute).getTime(), { total: Number(r.total), bad: Number(r.bad) })
  return out
}

/**
 * Counts over the whole SLO window: minute rollups for the last 47 hours (exact and current; minutes are kept 48 h)
 * and hour rollups before that (the retention sweep downsampled those hours long ago). Hours alone would lag the
 * current hour by up to a sweep interval.
 */
export async function windowTotals(db: Queryable, tenantId: string, service: string, objective: SloObjective, from: Date, now: Date): Promise<Counts> {
  const { total, bad } = countsSql(objective)
  const boundary = new Date(Math.floor((now.getTime() - 47 * 3_600_000) / 3_600_000) * 3_600_000)
  const rows = (await db.execute(sql`
    select coalesce(sum(total), 0)::float8 as total, coalesce(sum(bad), 0)::float8 as bad from (
      select ${total} as total, ${bad} as bad
      from telemetry_minutes
      where tenant_id = ${tenantId} and reporter = 'inbound' and destination = ${service}
        and bucket_start >= ${from > boundary ? from : boundary}
      union all
      select ${total} as total, ${bad} as bad
      from telemetry_hours
      where tenant_id = ${tenantId} and reporter = 'inbound' and destination = ${service}
        and bucket_start >= ${from} and bucket_start < ${boundary}
    ) as parts
  `)) as unknown as { rows: { total: number; bad: number }[] }
  const r = rows.rows[0]
  return { total: Number(r?.total ?? 0), bad: Number(r?.bad ?? 0) }
}
