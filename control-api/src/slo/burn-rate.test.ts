import { describe, expect, it } from 'vitest'
import { budgetRemaining, burnRate, burnThreshold, BURN_RULES, evaluateRules, firingSeverities, windowCounts, type Counts } from './burn-rate'

const MIN = 60_000
const now = 1_700_000_040_000 - (1_700_000_040_000 % MIN)

/** `minutes` minutes ending now, each with `total` requests of which `bad` failed. */
function steady(minutes: number, total: number, bad: number, into = new Map<number, Counts>()): Map<number, Counts> {
  for (let i = 0; i < minutes; i++) into.set(now - i * MIN, { total, bad })
  return into
}

describe('burn rates (hand-computed)', () => {
  it('thresholds are the workbook numbers for 30 days and scale with the window', () => {
    expect(BURN_RULES.map((r) => burnThreshold(r, 30))).toEqual([14.4, 6, 3])
    // 14 days: 2 % of a 14-day budget in one hour is a burn rate of 0.02 × 336 = 6.72.
    expect(burnThreshold(BURN_RULES[0]!, 14)).toBeCloseTo(6.72, 10)
  })

  it('burn rate is the error ratio over the allowed error ratio', () => {
    // 99.9 % allows 0.1 %; 1 % errors burn ten times too fast.
    expect(burnRate({ total: 1000, bad: 10 }, 99.9)).toBeCloseTo(10, 10)
    expect(burnRate({ total: 0, bad: 0 }, 99.9)).toBe(0)
    expect(burnRate({ total: 200, bad: 1 }, 99)).toBeCloseTo(0.5, 10)
  })

  it('window sums include the current minute and stop at the window edge', () => {
    const m = steady(10, 5, 1)
    expect(windowCounts(m, now, 5)).toEqual({ total: 25, bad: 5 })
    m.set(now - 5 * MIN, { total: 1000, bad: 1000 }) // just outside a 5-minute window
    expect(windowCounts(m, now, 5)).toEqual({ total: 25, bad: 5 })
    expect(windowCounts(m, now, 6)).toEqual({ total: 1025, bad: 1005 })
  })

  it('pages when both windows burn fast; the short window alone or the long alone does not', () => {
    // 99.9 % over 30 days. 2 % errors for an hour: burn 20 ≥ 14.4 in the 1h and 5m windows → page.
    const fast = evaluateRules(steady(60, 100, 2), now, 99.9, 30)
    expect(fast[0]).toMatchObject({ severity: 'page', longBurn: 20, shortBurn: 20, threshold: 14.4, firing: true })
    expect(firingSeverities(fast)).toEqual(new Set(['page']))

    // A short spike, 5 % errors for the last 5 minutes: the 5m window burns at 50, but the hour holds
    // 25 bad of 6000 (burn 4.17), under 14.4: no page for a blip.
    const spike = steady(60, 100, 0)
    for (let i = 0; i < 5; i++) spike.set(now - i * MIN, { total: 100, bad: 5 })
    const s = evaluateRules(spike, now, 99.9, 30)
    expect(s[0]).toMatchObject({ shortBurn: 50, firing: false })
    expect(s[0]!.longBurn).toBeCloseTo(4.167, 3)

    // The problem stopped 10 minutes ago: the long window still burns, the short one does not → resolved.
    const over = steady(60, 100, 3)
    for (let i = 0; i < 10; i++) over.set(now - i * MIN, { total: 100, bad: 0 })
    const o = evaluateRules(over, now, 99.9, 30)
    expect(o[0]).toMatchObject({ shortBurn: 0, firing: false })
    expect(o[0]!.longBurn).toBeGreaterThan(14.4)
  })

  it('a slow burn opens a ticket, not a page', () => {
    // 0.5 % errors for a day at 99.9 %: burn 5 — under 14.4 and 6, over 3.
    const r = evaluateRules(steady(1440, 100, 0.5), now, 99.9, 30)
    expect(r.map((x) => x.firing)).toEqual([false, false, true])
    expect(firingSeverities(r)).toEqual(new Set(['ticket']))
  })

  it('never fires on a trickle of requests', () => {
    const r = evaluateRules(steady(60, 1, 1), now, 99.9, 30)
    expect(r[0]).toMatchObject({ shortRequests: 5, firing: false })
  })

  it('budget remaining over the whole window', () => {
    expect(budgetRemaining({ total: 100_000, bad: 50 }, 99.9)).toBeCloseTo(0.5, 10)
    expect(budgetRemaining({ total: 100_000, bad: 200 }, 99.9)).toBeCloseTo(-1, 10)
    expect(budgetRemaining({ total: 0, bad: 0 }, 99.9)).toBe(1)
  })
})
