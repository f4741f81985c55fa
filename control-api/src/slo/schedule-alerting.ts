import type { Db } from '../db/client'
import type { Logger } from '../logger'
import { deliverDueWebhooks } from './deliver-webhooks'
import { evaluateSlos } from './evaluate-slos'

/** SLOs are evaluated once a minute: the rollups are per minute, so more often would read the same data. */
export const ALERTING_INTERVAL_MS = 60_000

/** One round: evaluate every SLO, then send what is due (new alert events and retries). */
export async function runAlerting(opts: { db: Db; masterKey: CryptoKey | null; logger: Logger; now: Date; fetch?: typeof fetch }) {
  const evaluation = await evaluateSlos(opts.db, opts.now)
  // Without the master key no webhook secret can be opened: alerts still open and resolve, deliveries wait.
  const delivery = opts.masterKey ? await deliverDueWebhooks(opts.db, { masterKey: opts.masterKey, now: opts.now, logger: opts.logger, fetch: opts.fetch }) : null
  if (evaluation.opened || evaluation.resolved) opts.logger.info({ ...evaluation, delivery }, 'slo alerts changed')
  return { evaluation, delivery }
}

/** The Node runtime's timer (the Worker runs `runAlerting` from its cron trigger instead). */
export function scheduleAlerting(opts: { db: Db; masterKey: CryptoKey | null; logger: Logger; clock?: () => Date; intervalMs?: number; fetch?: typeof fetch }): { stop(): void } {
  let running = false
  const timer = setInterval(async () => {
    if (running) return
    running = true
    try {
      await runAlerting({ ...opts, now: opts.clock?.() ?? new Date() })
    } catch (err) {
      opts.logger.warn({ err: String(err) }, 'slo evaluation or webhook delivery failed')
    } finally {
      running = false
    }
  }, opts.intervalMs ?? ALERTING_INTERVAL_MS)
  ;(timer as { unref?: () => void }).unref?.()
  return { stop: () => clearInterval(timer) }
}
