/**
 * Multi-window, multi-burn-rate alerting (Google SRE Workbook, "Alerting on SLOs", table 5-8): an alert fires
 * when the error budget burns fast over a long window AND is still burning over a short one (so it resolves
 * soon after the problem stops). Thresholds are stated as a fraction of the whole budget spent within the long
 * window, which makes them right for any SLO window: for 30 days they are the workbook's 14.4, 6 and 3.
 */

export type Severity = 'page' | 'ticket'

export type BurnRule = {
  readonly severity: Severity
  readonly longMinutes: number
  readonly shortMinutes: number
  /** The share of the window's error budget that burning at the threshold spends within `longMinutes`. */
  readonly budgetFraction: number
}

export const BURN_RULES: readonly BurnRule[] = [
  { severity: 'page', longMinutes: 60, shortMinutes: 5, budgetFraction: 0.02 },
  { severity: 'page', longMinutes: 360, shortMinutes: 30, budgetFraction: 0.05 },
  { severity: 'ticket', longMinutes: 1440, shortMinutes: 120, budgetFraction: 0.1 },
]

/** The longest window any rule reads: how much per-minute history an evaluation needs. */
export const LONGEST_WINDOW_MINUTES = Math.max(...BURN_RULES.map((r) => r.longMinutes))

/**
 * Fewer requests than this in a rule's short window never fire it: one failed request out of three is a
 * 33 % error rate, and paging someone for it is noise, not signal.
 */
export const MIN_REQUESTS_SHORT_WINDOW = 10

export type Counts = { total: number; bad: number }

/** The burn rate a threshold stands for: spending `budgetFraction` of a `windowDays` budget in `longMinutes`. */
export function burnThreshold(rule: BurnRule, windowDays: number): number {
  return (rule.budgetFraction * windowDays * 1440) / rule.longMinutes
}

/** How many times faster than "exactly on budget" errors happen: error ratio over the allowed error ratio. */
export function burnRate(counts: Counts, targetPercent: number): number {
  if (counts.total <= 0) return 0
  const allowed = 1 - targetPercent / 100
  return counts.bad / counts.total / allowed
}

/**
 * Sums per-minute counts over the `minutes` minutes ending with the one starting at `nowMinuteMs`, which is
 * included although still filling: proxies push every few seconds, so it holds real data. `perMinute` maps a
 * minute's start (ms since the epoch) to its counts.
 */
export function windowCounts(perMinute: ReadonlyMap<number, Counts>, nowMinuteMs: number, minutes: number): Counts {
  const from = nowMinuteMs - (minutes - 1) * 60_000
  let total = 0
  let bad = 0
  for (const [t, c] of perMinute) {
    if (t >= from && t <= nowMinuteMs) {
      total += c.total
      bad += c.bad
    }
  }
  return { total, bad }
}

export type RuleEvaluation = {
  severity: Severity
  longMinutes: number
  shortMinutes: number
  threshold: number
  longBurn: number
  shortBurn: number
  shortRequests: number
  firing: boolean
}

export function evaluateRules(perMinute: ReadonlyMap<number, Counts>, nowMinuteMs: number, targetPercent: number, windowDays: number): RuleEvaluation[] {
  return BURN_RULES.map((rule) => {
    const long = windowCounts(perMinute, nowMinuteMs, rule.longMinutes)
    const short = windowCounts(perMinute, nowMinuteMs, rule.shortMinutes)
    const threshold = burnThreshold(rule, windowDays)
    const longBurn = burnRate(long, targetPercent)
    const shortBurn = burnRate(short, targetPercent)
    const firing = short.total >= MIN_REQUESTS_SHORT_WINDOW && longBurn >= threshold && shortBurn >= threshold
    const round = (x: number) => Math.round(x * 1000) / 1000
    return { severity: rule.severity, longMinutes: rule.longMinutes, shortMinutes: rule.shortMinutes, threshold: round(threshold), longBurn: round(longBurn), shortBurn: round(shortBurn), shortRequests: short.total, firing }
  })
}

/**
 * Severities with at least one firing rule. A page inhibits the ticket (as Alertmanager's inhibit rules are
 * usually set up): whoever is paged does not need a ticket for the same burn as well.
 */
export function firingSeverities(rules: readonly RuleEvaluation[]): Set<Severity> {
  const firing = new Set(rules.filter((r) => r.firing).map((r) => r.severity))
  if (firing.has('page')) firing.delete('ticket')
  return firing
}

/** The share of the window's error budget left (1 = untouched, 0 = spent, negative = overspent). */
export function budgetRemaining(window: Counts, targetPercent: number): number {
  if (window.total <= 0) return 1
  // Targets are below 100 % (the schema caps them), so some errors are always allowed.
  return 1 - window.bad / (window.total * (1 - targetPercent / 100))
}
