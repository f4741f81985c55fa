import type { TelemetryPush } from '../../../mesh/src/telemetry/telemetry-push'
import { checkPushOptions, createTelemetryBatches, pushOutcome, type TelemetryPushStats, type TelemetrySource } from './telemetry-batches'
import type { ControlLogger } from './control-logger'
import type { FetchLike } from './control-http'

// Every 5 s: a graph over a minute moves visibly, and a fleet of 1000 proxies is 200 pushes a second.
export const DEFAULT_TELEMETRY_INTERVAL_MS = 5_000
// A push's answer must come within this; it is retried on the next tick otherwise.
export const DEFAULT_TELEMETRY_TIMEOUT_MS = 10_000
// The last push at shutdown gets less: a stopping sidecar should not wait on a control API that is gone.
export const SHUTDOWN_TIMEOUT_MS = 2_000
export { MAX_PENDING_SERIES, type TelemetrySource } from './telemetry-batches'

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

/** What a pusher has done, for `/config_dump` (the Node sidecar) and tests; the Worker's pusher keeps the same. */
export type TelemetryPusherStats = TelemetryPushStats

export interface TelemetryPusher {
  /** Pushes every `intervalMs` until `stop()`. */
  start(): void
  /** Stops the timer and pushes what is left once (shutdown). */
  stop(): Promise<void>
  /** Collects the delta since the last collection and pushes; resolves true when nothing is left unsent. */
  flush(): Promise<boolean>
  stats(): TelemetryPusherStats
}

/**
 * Pushes the proxy's request metrics to `POST /v1/proxy/telemetry` as deltas.
 *
 * Exactly-once counting over an unreliable network (telemetry-batches.ts): a batch, once built, keeps its
 * sequence number and body until the control API acknowledges it, and is sent again unchanged, so a retry
 * after a lost answer is recognised by `(proxyId, seq)` and not counted twice.
 *
 * Holds a timer and a shared in-flight promise: for the Node sidecar (`start()`). The Worker, whose requests
 * may not share those, pushes with worker-telemetry.ts.
 */
export function createTelemetryPusher(options: TelemetryPusherOptions): TelemetryPusher {
  const intervalMs = options.intervalMs ?? DEFAULT_TELEMETRY_INTERVAL_MS
  const timeoutMs = options.timeoutMs ?? DEFAULT_TELEMETRY_TIMEOUT_MS
  checkPushOptions({ proxyId: options.proxyId, intervalMs, timeoutMs })
  const url = `${options.controlUrl.replace(/\/+$/, '')}/v1/proxy/telemetry`
  const fetchImpl: FetchLike = options.fetch ?? ((input, init) => fetch(input, init))
  const now = options.now ?? Date.now
  const { logger, metrics } = options

  const batches = createTelemetryBatches({ proxyId: options.proxyId, metrics, now })
  let timer: ReturnType<typeof setTimeout> | null = null
  let running: Promise<boolean> | null = null
  let shuttingDown = false
  // seq, droppedSeries and pendingSeq are the batches' own: filled in by stats().
  const stats: TelemetryPusherStats = { seq: 0, acknowledged: 0, duplicates: 0, failures: 0, rejected: 0, droppedSeries: 0, pendingSeq: null, lastPushAt: null, lastError: null }

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
      const outcome = pushOutcome(res.status)
      if (outcome === 'unauthorized' && attempt === 0 && options.refreshToken) {
        await options.refreshToken().catch(() => {})
        continue
      }
      if (outcome === 'rejected') {
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
    batches.collect()
    // The pending batch first, unchanged; then as many new batches as the unsent delta needs.
    for (;;) {
      const batch = batches.next()
      if (!batch) return true
      const outcome = await send(batch)
      if (outcome === 'retry') {
        if (stats.failures === 1 || stats.failures % 60 === 0) logger.warn({ seq: batch.seq, err: stats.lastError, failures: stats.failures }, 'telemetry push failed; it is kept and sent again')
        return false
      }
      batches.settle(batch.seq)
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
      if (!done) logger.warn({ pendingSeq: batches.pendingSeq }, 'telemetry left unsent at shutdown')
    },
    flush,
    stats: () => ({ ...stats, seq: batches.seq, droppedSeries: batches.droppedSeries, pendingSeq: batches.pendingSeq }),
  }
}
