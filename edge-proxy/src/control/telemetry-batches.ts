import { LATENCY_BUCKET_COUNT } from '../../../mesh/src/telemetry/latency-histogram'
import type { LatencyDelta, RequestCountDelta, TelemetryPush } from '../../../mesh/src/telemetry/telemetry-push'

// The pure part of pushing telemetry, shared by the Node sidecar's pusher (telemetry-push.ts) and the Worker's
// (worker-telemetry.ts): turning cumulative metrics into deltas and deltas into numbered batches. No timers,
// no promises, no fetch: in a Worker this state lives in module scope across requests, which is safe only for
// plain data (workerd binds every I/O object to the request that made it).

// The control API takes at most this many series of each kind per push (mesh MAX_TELEMETRY_SERIES); an
// unsent delta is kept up to this many series, and series first seen beyond it are dropped and counted.
export const MAX_PENDING_SERIES = 5_000

const STATUS_CLASSES = new Set(['1xx', '2xx', '3xx', '4xx', '5xx'])

/**
 * What the pushers read: the proxy core's request counter (direction, source, destination, route,
 * status_class, reason) and duration histogram (the same labels without reason), cumulative since start.
 */
export type TelemetrySource = {
  requests: { entries(): Iterable<{ readonly labels: readonly string[]; readonly value: { n: number } }> }
  duration: { entries(): Iterable<{ readonly labels: readonly string[]; readonly value: { counts: ArrayLike<number>; sum: number; count: number } }> }
}

export interface TelemetryBatches {
  /** Takes what the metrics counted since the last collection into the unsent delta. */
  collect(): void
  /**
   * The batch to send: the unacknowledged one, unchanged (same seq, same body), else a new one built from up
   * to MAX_PENDING_SERIES series of each kind of the unsent delta; null when nothing is left to send.
   */
  next(): TelemetryPush | null
  /** Batch `seq` was acknowledged (or refused for good): it is not sent again. Another seq: nothing happens. */
  settle(seq: number): void
  /** The sequence number of the last batch built. */
  readonly seq: number
  /** The batch built but not settled yet. */
  readonly pendingSeq: number | null
  /** Series dropped because the unsent delta was at MAX_PENDING_SERIES. */
  readonly droppedSeries: number
}

type Key = string
const SEP = '\u0001'

/**
 * Exactly-once counting over an unreliable network: a batch, once built, keeps its sequence number and body
 * until settled, so when an answer was lost after the control API committed, the retry is recognised by
 * `(proxyId, seq)` and not counted twice. What is observed meanwhile accumulates in one unsent delta and
 * becomes the next batch.
 */
export function createTelemetryBatches(options: { proxyId: string; metrics: TelemetrySource; now: () => number }): TelemetryBatches {
  const { metrics } = options
  // Cumulative values already taken into a delta, per series.
  const seenCounts = new Map<Key, number>()
  const seenHist = new Map<Key, { counts: number[]; sum: number; count: number }>()
  // The unsent delta.
  const unsentCounts = new Map<Key, number>()
  const unsentHist = new Map<Key, { buckets: number[]; sum: number }>()
  let pending: TelemetryPush | null = null
  let seq = 0
  let droppedSeries = 0

  const room = (map: Map<Key, unknown>, key: Key) => {
    if (map.has(key) || map.size < MAX_PENDING_SERIES) return true
    droppedSeries++
    return false
  }

  function collect(): void {
    for (const { labels, value } of metrics.requests.entries()) {
      const key = labels.join(SEP)
      const delta = value.n - (seenCounts.get(key) ?? 0)
      if (delta <= 0 || !STATUS_CLASSES.has(labels[4]!)) continue
      if (!room(unsentCounts, key)) continue
      seenCounts.set(key, value.n)
      unsentCounts.set(key, (unsentCounts.get(key) ?? 0) + delta)
    }
    for (const { labels, value } of metrics.duration.entries()) {
      const key = labels.join(SEP)
      const seen = seenHist.get(key) ?? { counts: new Array<number>(LATENCY_BUCKET_COUNT).fill(0), sum: 0, count: 0 }
      if (value.count <= seen.count || !STATUS_CLASSES.has(labels[4]!)) continue
      if (!room(unsentHist, key)) continue
      // The registry keeps one count per finite bound; +Inf is what the total has beyond them.
      const current = new Array<number>(LATENCY_BUCKET_COUNT).fill(0)
      let finite = 0
      for (let i = 0; i < LATENCY_BUCKET_COUNT - 1; i++) finite += current[i] = value.counts[i] ?? 0
      current[LATENCY_BUCKET_COUNT - 1] = value.count - finite
      const u = unsentHist.get(key) ?? { buckets: new Array<number>(LATENCY_BUCKET_COUNT).fill(0), sum: 0 }
      for (let i = 0; i < LATENCY_BUCKET_COUNT; i++) u.buckets[i]! += current[i]! - seen.counts[i]!
      u.sum += value.sum - seen.sum
      unsentHist.set(key, u)
      seenHist.set(key, { counts: current, sum: value.sum, count: value.count })
    }
  }

  function build(): TelemetryPush | null {
    if (unsentCounts.size === 0 && unsentHist.size === 0) return null
    const requests: RequestCountDelta[] = []
    for (const [key, count] of unsentCounts) {
      if (requests.length >= MAX_PENDING_SERIES) break
      const [direction, source, destination, route, statusClass, reason] = key.split(SEP)
      requests.push({ direction: direction as 'inbound', source: source!, destination: destination!, route: route!, statusClass: statusClass as '2xx', reason: reason!, count })
      unsentCounts.delete(key)
    }
    const latency: LatencyDelta[] = []
    for (const [key, h] of unsentHist) {
      if (latency.length >= MAX_PENDING_SERIES) break
      const [direction, source, destination, route, statusClass] = key.split(SEP)
      // Float sums can drift a hair below zero; the control API takes none.
      latency.push({ direction: direction as 'inbound', source: source!, destination: destination!, route: route!, statusClass: statusClass as '2xx', buckets: h.buckets, sumSeconds: Math.max(0, h.sum) })
      unsentHist.delete(key)
    }
    seq++
    return { proxyId: options.proxyId, seq, observedAt: new Date(options.now()).toISOString(), requests, latency }
  }

  return {
    collect,
    next: () => (pending ??= build()),
    settle(s) {
      if (pending?.seq === s) pending = null
    },
    get seq() {
      return seq
    },
    get pendingSeq() {
      return pending?.seq ?? null
    },
    get droppedSeries() {
      return droppedSeries
    },
  }
}

/**
 * What a push's HTTP status means: 2xx taken; 401 the token (refresh it and send again); 408, 429 and 5xx may
 * succeed later (keep the batch, same seq); any other 4xx never will (drop it rather than retry forever).
 */
/** Counters of a telemetry pusher, the Node sidecar's and the Worker's alike. */
export type TelemetryPushStats = {
  /** The sequence number of the last batch built. */
  seq: number
  acknowledged: number
  duplicates: number
  failures: number
  /** Batches the control API refused as invalid (4xx): dropped, never retried. */
  rejected: number
  /** Series dropped because the unsent delta was at MAX_PENDING_SERIES. */
  droppedSeries: number
  /** A batch sent but not acknowledged yet: it is sent again, unchanged, before anything newer. */
  pendingSeq: number | null
  lastPushAt: string | null
  lastError: string | null
}

export function pushOutcome(status: number): 'ok' | 'unauthorized' | 'rejected' | 'retry' {
  if (status >= 200 && status < 300) return 'ok'
  if (status === 401) return 'unauthorized'
  if (status >= 400 && status < 500 && status !== 408 && status !== 429) return 'rejected'
  return 'retry'
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** @throws RangeError when the options cannot work: a pusher should fail at construction, not on every push. */
export function checkPushOptions(o: { proxyId: string; intervalMs: number; timeoutMs: number }): void {
  if (!(o.intervalMs > 0)) throw new RangeError('intervalMs must be positive')
  if (!(o.timeoutMs > 0)) throw new RangeError('timeoutMs must be positive')
  if (!UUID.test(o.proxyId)) throw new RangeError('proxyId must be a UUID')
}
