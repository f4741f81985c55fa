import { LATENCY_BUCKET_COUNT } from '../../../mesh/src/telemetry/latency-histogram'
import type { LatencyDelta, RequestCountDelta, TelemetryPush } from '../../../mesh/src/telemetry/telemetry-push'
import type { ControlLogger } from './control-logger'
import type { FetchLike } from './control-http'

// Every 5 s: a graph over a minute moves visibly, and a fleet of 1000 proxies is 200 pushes a second.
export const DEFAULT_TELEMETRY_INTERVAL_MS = 5_000
// A push's answer must come within this; it is retried on the next tick otherwise.
export const DEFAULT_TELEMETRY_TIMEOUT_MS = 10_000
// The last push at shutdown gets less: a stopping sidecar should not wait on a control API that is gone.
export const SHUTDOWN_TIMEOUT_MS = 2_000
// The control API takes at most this many series of each kind per push (mesh MAX_TELEMETRY_SERIES); an
// unsent delta is kept up to this many series, and series first seen beyond it are dropped and counted.
export const MAX_PENDING_SERIES = 5_000

const STATUS_CLASSES = new Set(['1xx', '2xx', '3xx', '4xx', '5xx'])

/**
 * What the pusher reads: the proxy core's request counter (direction, source, destination, route,
 * status_class, reason) and duration histogram (the same labels without reason), cumulative since start.
 */
export type TelemetrySource = {
  requests: { entries(): Iterable<{ readonly labels: readonly string[]; readonly value: { n: number } }> }
  duration: { entries(): Iterable<{ readonly labels: readonly string[]; readonly value: { counts: ArrayLike<number>; sum: number; count: number } }> }
}

export type TelemetryPusherOptions = {
  controlUrl: string
  /** The proxy instance id (the control client's `proxyId`): with the sequence number, what makes a retry a duplicate. */
  proxyId: string
  metrics: TelemetrySource
  /** A valid control-API token (the control client's `controlToken`). */
  token(): Promise<string>
  /** Called once after a 401 before the push is sent again (the control client's `refreshIdentity`). */
  refreshToken?(): Promise<void>
  logger: ControlLogger
  fetch?: FetchLike
  intervalMs?: number
  timeoutMs?: number
  /** Milliseconds since the epoch. */
  now?: () => number
}

export type TelemetryPusherStats = {
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

export interface TelemetryPusher {
  /** Pushes every `intervalMs` until `stop()`. */
  start(): void
  /** Stops the timer and pushes what is left once (shutdown). */
  stop(): Promise<void>
  /** Collects the delta since the last collection and pushes; resolves true when nothing is left unsent. */
  flush(): Promise<boolean>
  /** Without timers (a Worker): flushes when `intervalMs` has passed since the last attempt, else does nothing. */
  flushIfDue(): Promise<void>
  stats(): TelemetryPusherStats
}

type Key = string
const SEP = '\u0001'

/**
 * Pushes the proxy's request metrics to `POST /v1/proxy/telemetry` as deltas.
 *
 * Exactly-once counting over an unreliable network: a batch, once built, keeps its sequence number and body
 * until the control API acknowledges it, and is sent again unchanged, so when an answer was lost after the
 * control API committed, the retry is recognised by `(proxyId, seq)` and not counted twice. What is observed
 * meanwhile accumulates in one unsent delta (bounded by MAX_PENDING_SERIES series) and becomes the next batch.
 *
 * Runtime-agnostic (fetch, timers): the Node sidecar calls `start()`; a Worker calls `flushIfDue()` from
 * `ctx.waitUntil` after a request.
 */
export function createTelemetryPusher(options: TelemetryPusherOptions): TelemetryPusher {
  const intervalMs = options.intervalMs ?? DEFAULT_TELEMETRY_INTERVAL_MS
  const timeoutMs = options.timeoutMs ?? DEFAULT_TELEMETRY_TIMEOUT_MS
  if (!(intervalMs > 0)) throw new RangeError('intervalMs must be positive')
  if (!(timeoutMs > 0)) throw new RangeError('timeoutMs must be positive')
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(options.proxyId)) throw new RangeError('proxyId must be a UUID')
  const url = `${options.controlUrl.replace(/\/+$/, '')}/v1/proxy/telemetry`
  const fetchImpl: FetchLike = options.fetch ?? ((input, init) => fetch(input, init))
  const now = options.now ?? Date.now
  const { logger, metrics } = options

  // Cumulative values already taken into a delta, per series.
  const seenCounts = new Map<Key, number>()
  const seenHist = new Map<Key, { counts: number[]; sum: number; count: number }>()
  // The unsent delta.
  const unsentCounts = new Map<Key, number>()
  const unsentHist = new Map<Key, { buckets: number[]; sum: number }>()
  let pending: TelemetryPush | null = null
  let seq = 0
  let timer: ReturnType<typeof setTimeout> | null = null
  let running: Promise<boolean> | null = null
  let lastAttempt = 0
  let shuttingDown = false
  const stats: TelemetryPusherStats = { seq: 0, acknowledged: 0, duplicates: 0, failures: 0, rejected: 0, droppedSeries: 0, pendingSeq: null, lastPushAt: null, lastError: null }

  const room = (map: Map<Key, unknown>, key: Key) => {
    if (map.has(key) || map.size < MAX_PENDING_SERIES) return true
    stats.droppedSeries++
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

  /** Moves up to MAX_PENDING_SERIES series of each kind from the unsent delta into a new batch. */
  function buildBatch(): TelemetryPush | null {
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
    stats.seq = seq
    return { proxyId: options.proxyId, seq, observedAt: new Date(now()).toISOString(), requests, latency }
  }

  /** @returns 'ok' (acknowledged or refused for good: not to be sent again) or 'retry'. */
  async function send(batch: TelemetryPush): Promise<'ok' | 'retry'> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const ctl = new AbortController()
      const limit = shuttingDown ? Math.min(timeoutMs, SHUTDOWN_TIMEOUT_MS) : timeoutMs
      let t: ReturnType<typeof setTimeout> | undefined
      // The token too: without an identity yet (control API down since start) it would wait indefinitely.
      const deadline = new Promise<never>((_, reject) => {
        t = setTimeout(() => {
          ctl.abort()
          reject(new Error(`no answer within ${limit} ms`))
        }, limit)
      })
      let res: Response
      let text: string
      try {
        const exchange = (async () => {
          const bearer = await options.token()
          const r = await fetchImpl(url, {
            method: 'POST',
            headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json', accept: 'application/json' },
            body: JSON.stringify(batch),
            signal: ctl.signal,
          })
          return { r, body: await r.text() }
        })()
        exchange.catch(() => {})
        ;({ r: res, body: text } = await Promise.race([exchange, deadline]))
      } catch (err) {
        const e = err as { message?: string; cause?: { code?: string } }
        stats.failures++
        stats.lastError = `${e?.message ?? String(err)}${e?.cause?.code ? `: ${e.cause.code}` : ''}`
        return 'retry'
      } finally {
        clearTimeout(t)
      }
      if (res.ok) {
        const body = JSON.parse(text) as { duplicate?: boolean }
        stats.acknowledged++
        if (body.duplicate) stats.duplicates++
        stats.lastPushAt = new Date(now()).toISOString()
        return 'ok'
      }
      stats.lastError = `${res.status} ${text.slice(0, 200)}`
      if (res.status === 401 && attempt === 0 && options.refreshToken) {
        await options.refreshToken().catch(() => {})
        continue
      }
      // 408, 429 and 5xx may succeed later; any other 4xx will not: drop the batch rather than retry forever.
      if (res.status >= 400 && res.status < 500 && res.status !== 401 && res.status !== 408 && res.status !== 429) {
        stats.rejected++
        logger.error({ status: res.status, seq: batch.seq, detail: text.slice(0, 300) }, 'the control API refused a telemetry push; its deltas are dropped')
        return 'ok'
      }
      stats.failures++
      return 'retry'
    }
    stats.failures++
    return 'retry'
  }

  async function flushOnce(): Promise<boolean> {
    lastAttempt = now()
    collect()
    // The pending batch first, unchanged; then as many new batches as the unsent delta needs.
    for (;;) {
      pending ??= buildBatch()
      stats.pendingSeq = pending?.seq ?? null
      if (!pending) return true
      const outcome = await send(pending)
      if (outcome === 'retry') {
        if (stats.failures === 1 || stats.failures % 60 === 0) logger.warn({ seq: pending.seq, err: stats.lastError, failures: stats.failures }, 'telemetry push failed; it is kept and sent again')
        return false
      }
      pending = null
      stats.pendingSeq = null
    }
  }

  function flush(): Promise<boolean> {
    // One flush at a time: two concurrent ones could send one batch twice under different sequence numbers.
    running ??= flushOnce().finally(() => {
      running = null
    })
    return running
  }

  function schedule(): void {
    timer = setTimeout(async () => {
      await flush().catch((err: unknown) => logger.warn({ err: String(err) }, 'telemetry push failed'))
      if (timer !== null) schedule()
    }, intervalMs)
  }

  return {
    start() {
      if (timer === null) schedule()
    },
    async stop() {
      if (timer !== null) clearTimeout(timer)
      timer = null
      shuttingDown = true
      await running
      const done = await flush()
      if (!done) logger.warn({ pendingSeq: stats.pendingSeq }, 'telemetry left unsent at shutdown')
    },
    flush,
    async flushIfDue() {
      if (now() - lastAttempt >= intervalMs) await flush()
    },
    stats: () => ({ ...stats }),
  }
}
