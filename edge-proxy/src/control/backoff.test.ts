import { describe, expect, it } from 'vitest'
import { audienceTokenMarginMs, Backoff, backoffDelayMs, DEFAULT_BACKOFF, refreshDelayMs } from './backoff'

const fixed = (r: number) => () => r

describe('backoffDelayMs', () => {
  it('doubles from the initial step up to the cap, half fixed and half jitter', () => {
    const o = { initialMs: 500, maxMs: 30_000 }
    expect([0, 1, 2, 3, 4, 5, 6, 7, 20].map((a) => backoffDelayMs(a, o, fixed(0)))).toEqual([250, 500, 1000, 2000, 4000, 8000, 15_000, 15_000, 15_000])
    expect([0, 1, 2, 3, 4, 5, 6, 7, 20].map((a) => backoffDelayMs(a, o, fixed(0.999999)))).toEqual([500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000])
  })

  it('never exceeds the cap and never goes below half a step, whatever the random source says', () => {
    for (let attempt = 0; attempt < 50; attempt++) {
      const d = backoffDelayMs(attempt, DEFAULT_BACKOFF, Math.random)
      expect(d).toBeLessThanOrEqual(DEFAULT_BACKOFF.maxMs)
      expect(d).toBeGreaterThanOrEqual(DEFAULT_BACKOFF.initialMs / 2)
    }
  })

  it('Backoff counts attempts and starts over after reset', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000 }, fixed(0))
    expect([b.next(), b.next(), b.next()]).toEqual([50, 100, 200])
    b.reset()
    expect(b.next()).toBe(50)
  })
})

describe('refreshDelayMs', () => {
  it.each([
    // lifetime, random, expected: 2/3 of the lifetime ± 10 % of it
    [900_000, 0.5, 600_000],
    [900_000, 0, 510_000],
    [900_000, 1, 690_000],
    [60_000, 0.5, 40_000],
    [60_000, 0, 34_000],
    [60_000, 1, 46_000],
    [3_600_000, 0.5, 2_400_000],
  ])('a token living %i ms with random %d refreshes after %i ms', (lifetime, r, expected) => {
    expect(refreshDelayMs(lifetime, fixed(r))).toBe(expected)
  })

  it('always leaves at least a fifth of the lifetime to retry in, and never schedules below a second', () => {
    for (const lifetime of [60_000, 900_000, 3_600_000]) {
      for (let i = 0; i < 200; i++) {
        const d = refreshDelayMs(lifetime, Math.random)
        expect(d).toBeGreaterThanOrEqual(lifetime * 0.56)
        expect(lifetime - d).toBeGreaterThanOrEqual(lifetime * 0.23)
      }
    }
    expect(refreshDelayMs(100, fixed(0.5))).toBe(1000)
  })

  it('spreads proxies that got their tokens at the same moment', () => {
    const delays = new Set(Array.from({ length: 100 }, () => refreshDelayMs(900_000, Math.random)))
    expect(delays.size).toBeGreaterThan(90)
  })
})

describe('audienceTokenMarginMs', () => {
  it('is 10 % of the lifetime, at most 60 s', () => {
    expect(audienceTokenMarginMs(60_000)).toBe(6_000)
    expect(audienceTokenMarginMs(300_000)).toBe(30_000)
    expect(audienceTokenMarginMs(900_000)).toBe(60_000)
    expect(audienceTokenMarginMs(3_600_000)).toBe(60_000)
  })
})
