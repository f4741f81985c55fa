import { ControlRequestFailed } from './control-errors'
import { createControlHttp, type FetchLike } from './control-http'
import type { ControlLogger } from './control-logger'
import { checkPushOptions, createTelemetryBatches, pushOutcome, type TelemetryPushStats, type TelemetrySource } from './telemetry-batches'
import { DEFAULT_TELEMETRY_INTERVAL_MS } from './telemetry-push'

// The Worker's telemetry pusher. The Node one (telemetry-push.ts) keeps a timer and a shared in-flight promise;
// in workerd both belong to the request that made them and hang or throw in any other ("Cannot perform I/O on
// behalf of a different request"). So, as in worker-control.ts, the isolate keeps only PLAIN DATA between
// requests (what was already taken from the metrics, the unsent delta, the batch awaiting its answer, when the
// next push is due, who is sending) and a request that finds a push due sends it itself, with its own fetch,
// in its own ctx.waitUntil. A cron trigger pushes too, so a quiet Worker still reports.

// Per push: the request's waitUntil is what waits on it, not a caller.
export const DEFAULT_WORKER_TELEMETRY_TIMEOUT_MS = 5_000
// workerd gives waitUntil work about 30 s after the response and then cancels it, without running `finally`:
// a sending flag older than this belongs to such a request and another one takes over. Were the first still
// running, both would send the same seq at worst, which the control API counts once.
const STALE_SEND_MS = 30_000

export type WorkerTelemetryOptions = {
  controlUrl: string
  /** The Worker's proxy instance id (WorkerControl.proxyId): with seq, what makes a retry a duplicate. */
  proxyId: string
  metrics: TelemetrySource
  /** The workload token for the control API (WorkerControl.controlToken). */
  token(): Promise<string>
  /** After a 401 (WorkerControl.discardControlToken): the push is sent once more with a new token. */
  discardToken(token: string): void
  logger: ControlLogger
  /** Called in the request that pushes: the Worker's fetch, or its service binding to the control API. */
  fetch: FetchLike
  intervalMs?: number
  timeoutMs?: number
  now?: () => number
}

export type WorkerTelemetryStats = TelemetryPushStats

export interface WorkerTelemetry {
  /**
   * Called by every request once it has its response: when a push is due (every `intervalMs`) and no other
   * request of the isolate is sending, the push for this request's `ctx.waitUntil`; otherwise null.
   */
  pushIfDue(): Promise<void> | null
  /** A cron run: pushes now, awaited, unless another request is sending. Never throws. */
  pushNow(): Promise<void>
  stats(): WorkerTelemetryStats
}

/**
 * @example
 * const telemetry = createWorkerTelemetry({ controlUrl, proxyId: control.proxyId, metrics: core.metrics, token: () => control.controlToken(), discardToken: (t) => control.discardControlToken(t), logger, fetch })
 * const push = telemetry.pushIfDue()
 * if (push) ctx.waitUntil(push)
 */
export function createWorkerTelemetry(options: WorkerTelemetryOptions): WorkerTelemetry {
  const intervalMs = options.intervalMs ?? DEFAULT_TELEMETRY_INTERVAL_MS
  const timeoutMs = options.timeoutMs ?? DEFAULT_WORKER_TELEMETRY_TIMEOUT_MS
  checkPushOptions({ proxyId: options.proxyId, intervalMs, timeoutMs })
  const now = options.now ?? Date.now
  const { logger } = options
  // Each call makes its AbortController and timer in the calling request and clears them before returning.
  const http = createControlHttp({ baseUrl: options.controlUrl, fetch: options.fetch, now })

  // ---- the isolate's state: plain data only ----
  const batches = createTelemetryBatches({ proxyId: options.proxyId, metrics: options.metrics, now })
  let nextDueAt = 0
  // When the request that is sending started; null when none is.
  let sendingSince: number | null = null
  const stats = { acknowledged: 0, duplicates: 0, failures: 0, rejected: 0, lastPushAt: null as string | null, lastError: null as string | null }

  /** @returns true when the batch is settled (acknowledged, or refused for good), false to send it again later. */
  async function send(batch: NonNullable<ReturnType<typeof batches.next>>): Promise<boolean> {
    for (let attempt = 0; attempt < 2; attempt++) {
      let token: string | undefined
      try {
        token = await options.token()
        const res = await http({ method: 'POST', path: '/v1/proxy/telemetry', bearer: token, json: batch, timeoutMs })
        const body = JSON.parse(res.text) as { duplicate?: boolean }
        stats.acknowledged++
        if (body.duplicate) stats.duplicates++
        stats.lastPushAt = new Date(now()).toISOString()
        return true
      } catch (err) {
        stats.lastError = (err as Error)?.message ?? String(err)
        const outcome = err instanceof ControlRequestFailed ? pushOutcome(err.status) : 'retry'
        if (outcome === 'unauthorized' && attempt === 0 && token) {
          options.discardToken(token)
          continue
        }
        if (outcome === 'rejected') {
          stats.rejected++
          logger.error({ status: (err as ControlRequestFailed).status, seq: batch.seq, detail: stats.lastError }, 'the control API refused a telemetry push; its deltas are dropped')
          return true
        }
        stats.failures++
        if (stats.failures === 1 || stats.failures % 60 === 0) logger.warn({ seq: batch.seq, err: stats.lastError, failures: stats.failures }, 'telemetry push failed; it is kept and sent again')
        return false
      }
    }
    return false
  }

  async function push(mine: number): Promise<void> {
    try {
      batches.collect()
      // The pending batch first, unchanged; then as many new batches as the unsent delta needs.
      for (let batch = batches.next(); batch; batch = batches.next()) {
        if (!(await send(batch))) return
        batches.settle(batch.seq)
      }
    } catch (err) {
      stats.lastError = String(err)
      logger.warn({ err: stats.lastError }, 'telemetry push failed')
    } finally {
      if (sendingSince === mine) sendingSince = null
    }
  }

  /** Claims the push for the calling request, or null when another request is sending. */
  function claim(): number | null {
    const t = now()
    if (sendingSince !== null && t - sendingSince < STALE_SEND_MS) return null
    sendingSince = t
    nextDueAt = t + intervalMs
    return t
  }

  return {
    pushIfDue() {
      if (now() < nextDueAt) return null
      const mine = claim()
      return mine === null ? null : push(mine)
    },
    async pushNow() {
      const mine = claim()
      if (mine !== null) await push(mine)
    },
    stats: () => ({ ...stats, seq: batches.seq, droppedSeries: batches.droppedSeries, pendingSeq: batches.pendingSeq }),
  }
}
