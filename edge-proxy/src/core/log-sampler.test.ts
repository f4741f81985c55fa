import { describe, expect, it } from 'vitest'
import { LogSampler } from './log-sampler'

describe('LogSampler', () => {
  it('lets the first line of a kind through, then one per interval with the count left out since', () => {
    let now = 0
    const s = new LogSampler(1000, () => now, { debug() {}, info() {}, warn() {}, error() {} })
    expect(s.take('a')).toBe(0)
    expect(s.take('a')).toBeUndefined()
    now = 999
    expect(s.take('a')).toBeUndefined()
    // Another kind has its own interval.
    expect(s.take('b')).toBe(0)
    now = 1000
    expect(s.take('a')).toBe(2)
    expect(s.take('a')).toBeUndefined()
    now = 5000
    expect(s.take('a')).toBe(1)
    expect(s.take('b')).toBe(0)
    expect(s.take('a')).toBeUndefined()
  })
})
