import type { ProxyLogger } from './proxy-deps'

/**
 * At most one diagnostic line per kind per interval for conditions that can repeat on every request (a caller's
 * refused identity, a local app that does not answer): the first at once, then one per interval saying how many
 * were left out since, as Envoy's periodic logging does. A line per request was disk for whoever sends the bad
 * requests, and CPU (a synchronous write per line on the Node sidecar). Every request still has its access line
 * with its reason, and its counter in /metrics.
 */
export class LogSampler {
  readonly #intervalMs: number
  readonly #now: () => number
  readonly #logger: ProxyLogger
  // Keys are a fixed set of kinds (error codes, failure classes), never request data: the map stays small.
  readonly #kinds = new Map<string, { at: number; left: number }>()

  constructor(intervalMs: number, now: () => number, logger: ProxyLogger) {
    this.#intervalMs = intervalMs
    this.#now = now
    this.#logger = logger
  }

  /** `msg` at `level`, unless a line of `kind` went out within the interval; with `suppressed` when some were left out. */
  log(level: 'info' | 'warn', kind: string, fields: Record<string, unknown>, msg: string): void {
    const left = this.take(kind)
    if (left !== undefined) this.#logger[level](left > 0 ? { ...fields, suppressed: left } : fields, msg)
  }

  /** `undefined`: leave this line out. Otherwise log it, with the number left out since the last one of its kind. */
  take(kind: string): number | undefined {
    const now = this.#now()
    const seen = this.#kinds.get(kind)
    if (seen === undefined) {
      this.#kinds.set(kind, { at: now, left: 0 })
      return 0
    }
    if (now - seen.at < this.#intervalMs) {
      seen.left++
      return undefined
    }
    const left = seen.left
    seen.at = now
    seen.left = 0
    return left
  }
}
