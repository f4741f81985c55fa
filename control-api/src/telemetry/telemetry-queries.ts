import { sql, type SQL } from 'drizzle-orm'
import { emptyBuckets, LATENCY_BUCKET_COUNT, latencyPercentilesMs, mergeBuckets } from '../../../mesh/src/telemetry/latency-histogram'
import type { Db } from '../db/client'
import { floorTo, HOUR_MS, MINUTE_MS, SUM_BUCKET_COLUMNS } from './record-telemetry'
import { MINUTE_RETENTION_MS } from './telemetry-retention'

type Reporter = 'inbound' | 'outbound'
type Counts = { reporter: Reporter; source: string; destination: string; t: number; statusClass: string; reason: string; requests: number }
type Hist = { reporter: Reporter; source: string; destination: string; t: number; buckets: number[] }

/** The stats of a set of rollup rows: counts by status class and reason, one merged histogram. */
export type Golden = { requests: number; rps: number; successRate: number | null; latencyMs: { p50: number | null; p95: number | null; p99: number | null } }

const rowsOf = <T>(r: unknown) => (r as { rows: T[] }).rows

/**
 * Counts and merged histograms of one tenant's rollups in [from, to), grouped by reporter, source, destination
 * and period start (`stepMs`, aligned to the epoch; one period when absent). Histograms are summed bucket by
 * bucket in SQL; percentiles are computed from the sums by the caller.
 */
async function readRollups(db: Db, q: { hourly: boolean; tenantId: string; from: Date; to: Date; stepMs?: number; destination?: string }): Promise<{ counts: Counts[]; hists: Hist[] }> {
  const table = sql.raw(q.hourly ? 'telemetry_hours' : 'telemetry_minutes')
  // Without a step the whole window is one period: no time column to group by.
  const period: SQL = q.stepMs ? sql`date_bin(${`${q.stepMs / 1000} seconds`}::interval, bucket_start, timestamptz '1970-01-01T00:00:00Z')` : sql`null::timestamptz`
  const where = sql`tenant_id = ${q.tenantId} and bucket_start >= ${q.from} and bucket_start < ${q.to}${q.destination === undefined ? sql`` : sql` and destination = ${q.destination}`}`
  // One pass, grouped to the reason: counts per row, histograms summed bucket by bucket in columns (reason
  // rows carry zero buckets, so summing them in changes nothing).
  const rows = rowsOf<Record<string, unknown> & { reporter: Reporter; source: string; destination: string; t: Date | string | null; status_class: string; reason: string; requests: string | number }>(
    await db.execute(sql`
      select reporter, source, destination, ${period} as t, status_class, reason, sum(requests)::bigint as requests, ${sql.raw(SUM_BUCKET_COLUMNS)}
      from ${table} where ${where}
      group by reporter, source, destination, t, status_class, reason`),
  )
  const counts: Counts[] = []
  const hists = new Map<string, Hist>()
  for (const r of rows) {
    const t = r.t === null ? q.from.getTime() : new Date(r.t as string).getTime()
    counts.push({ reporter: r.reporter, source: r.source, destination: r.destination, t, statusClass: r.status_class, reason: r.reason, requests: Number(r.requests) })
    const k = `${r.reporter}\u0001${r.source}\u0001${r.destination}\u0001${t}`
    let h = hists.get(k)
    if (!h) {
      h = { reporter: r.reporter, source: r.source, destination: r.destination, t, buckets: emptyBuckets() }
      hists.set(k, h)
    }
    for (let i = 0; i < LATENCY_BUCKET_COUNT; i++) h.buckets[i]! += Number(r[`b${i + 1}`] ?? 0)
  }
  return { counts, hists: [...hists.values()] }
}

function golden(counts: Iterable<Counts>, hists: Iterable<Hist>, seconds: number): Golden & { statusClasses: Record<string, number>; reasons: Record<string, number> } {
  let requests = 0
  let failures = 0
  const statusClasses: Record<string, number> = {}
  const reasons: Record<string, number> = {}
  for (const c of counts) {
    requests += c.requests
    if (c.statusClass === '5xx') failures += c.requests
    statusClasses[c.statusClass] = (statusClasses[c.statusClass] ?? 0) + c.requests
    if (c.reason) reasons[c.reason] = (reasons[c.reason] ?? 0) + c.requests
  }
  return {
    requests,
    rps: round(requests / seconds, 4),
    successRate: requests === 0 ? null : round((requests - failures) / requests, 6),
    latencyMs: latencyPercentilesMs(mergeBuckets([...hists].map((h) => h.buckets))),
    statusClasses,
    reasons,
  }
}

const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits

/**
 * The periods a window covers, the current (partial) one included: a 15-minute window at 10:07:30 reads the
 * minutes 09:53 … 10:07 and divides by the 14.5 minutes they span, so rates do not dip at a period's start.
 */
export function coverage(now: Date, windowMs: number, periodMs: number): { from: Date; to: Date; seconds: number } {
  const from = new Date(floorTo(now, periodMs).getTime() - windowMs + periodMs)
  return { from, to: new Date(floorTo(now, periodMs).getTime() + periodMs), seconds: Math.max(1, (now.getTime() - from.getTime()) / 1000) }
}

const pairKey = (source: string, destination: string) => `${source}\u0001${destination}`

/**
 * Which reporter speaks for each (source, destination) pair: the caller's proxy (outbound) when it reported,
 * since it also sees what failed before reaching the callee (no healthy upstream, circuit open, timeouts);
 * otherwise the callee's (inbound), e.g. for callers without a proxy. Never both: that would count twice.
 */
function preferredReporters(counts: Counts[]): Map<string, Reporter> {
  const out = new Map<string, Reporter>()
  for (const c of counts) {
    const k = pairKey(c.source, c.destination)
    if (c.reporter === 'outbound' || !out.has(k)) out.set(k, c.reporter)
  }
  return out
}

export type GraphEdge = Golden & { source: string; destination: string; reporter: Reporter; statusClasses: Record<string, number>; reasons: Record<string, number> }
export type GraphNode = Golden & { name: string }

/** The service graph of one tenant over the last `windowMs`. */
export async function serviceGraph(db: Db, tenantId: string, now: Date, windowMs: number) {
  const span = coverage(now, windowMs, MINUTE_MS)
  const { counts, hists } = await readRollups(db, { hourly: false, tenantId, from: span.from, to: span.to })
  const reporters = preferredReporters(counts)
  const chosen = <T extends { reporter: Reporter; source: string; destination: string }>(rows: T[]) => rows.filter((r) => reporters.get(pairKey(r.source, r.destination)) === r.reporter)
  const byPair = <T extends { source: string; destination: string }>(rows: T[]) => {
    const m = new Map<string, T[]>()
    for (const r of rows) {
      const k = pairKey(r.source, r.destination)
      const list = m.get(k)
      if (list) list.push(r)
      else m.set(k, [r])
    }
    return m
  }
  const edgeCounts = byPair(chosen(counts))
  const edgeHists = byPair(chosen(hists))
  const edges: GraphEdge[] = []
  const intoNode = new Map<string, { counts: Counts[]; hists: Hist[] }>()
  const names = new Set<string>()
  for (const [k, cs] of edgeCounts) {
    const hs = edgeHists.get(k) ?? []
    const { source, destination, reporter } = cs[0]!
    edges.push({ source, destination, reporter, ...golden(cs, hs, span.seconds) })
    names.add(source).add(destination)
    const n = intoNode.get(destination) ?? { counts: [], hists: [] }
    n.counts.push(...cs)
    n.hists.push(...hs)
    intoNode.set(destination, n)
  }
  edges.sort((a, b) => (a.source === b.source ? (a.destination < b.destination ? -1 : 1) : a.source < b.source ? -1 : 1))
  const nodes: GraphNode[] = [...names].sort().map((name) => {
    const n = intoNode.get(name)
    const { statusClasses: _s, reasons: _r, ...g } = golden(n?.counts ?? [], n?.hists ?? [], span.seconds)
    return { name, ...g }
  })
  return { window: { from: span.from.toISOString(), to: now.toISOString(), seconds: span.seconds }, nodes, edges }
}

export type ServicePoint = Golden & { time: string }

/**
 * Golden signals of what one service served, per step: its own proxy's (inbound) view when it reported in
 * the window, else its callers' (outbound) view. Minutes are read while the window is still kept in minutes
 * and the step is under an hour; otherwise the hour rollups.
 */
export async function serviceSeries(db: Db, tenantId: string, name: string, now: Date, windowMs: number, stepMs: number) {
  const span = coverage(now, windowMs, stepMs)
  const hourly = stepMs % HOUR_MS === 0 || span.from.getTime() < now.getTime() - MINUTE_RETENTION_MS
  const { counts, hists } = await readRollups(db, { hourly, tenantId, from: span.from, to: span.to, stepMs, destination: name })
  const reporter: Reporter | null = counts.some((c) => c.reporter === 'inbound') ? 'inbound' : counts.length ? 'outbound' : null
  const byTime = <T extends { t: number; reporter: Reporter }>(rows: T[]) => {
    const m = new Map<number, T[]>()
    for (const r of rows) {
      if (r.reporter !== reporter) continue
      const list = m.get(r.t)
      if (list) list.push(r)
      else m.set(r.t, [r])
    }
    return m
  }
  const countsAt = byTime(counts)
  const histsAt = byTime(hists)
  const points: ServicePoint[] = []
  for (let t = span.from.getTime(); t < span.to.getTime(); t += stepMs) {
    const seconds = Math.max(1, Math.min(stepMs, now.getTime() - t) / 1000)
    const { statusClasses: _s, reasons: _r, ...g } = golden(countsAt.get(t) ?? [], histsAt.get(t) ?? [], seconds)
    points.push({ time: new Date(t).toISOString(), ...g })
  }
  const total = golden(
    counts.filter((c) => c.reporter === reporter),
    hists.filter((h) => h.reporter === reporter),
    span.seconds,
  )
  return { service: name, reporter, resolution: hourly ? ('hour' as const) : ('minute' as const), stepSeconds: stepMs / 1000, total, points }
}
