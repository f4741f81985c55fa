import { describe, expect, it } from 'vitest'
import { CoalescedWrite } from './coalesced-write'

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms))

function harness(minGapMs: number) {
  let state = 0
  const written: number[] = []
  const errors: unknown[] = []
  let fail = false
  let release: (() => void) | null = null
  const w = new CoalescedWrite({
    now: Date.now,
    minGapMs,
    onError: (e) => errors.push(e),
    async write() {
      const value = state // what the state is when the write runs
      if (release === null) {
        await new Promise<void>((r) => (release = r))
      }
      if (fail) throw new Error('disk full')
      written.push(value)
    },
  })
  return {
    w,
    written,
    errors,
    change: () => {
      state++
      w.request()
    },
    failNext: (f: boolean) => (fail = f),
    // Writes block until released, so that a test sees what happens while one runs.
    releaseAll: () => {
      const r = release
      release = () => {}
      r?.()
    },
  }
}

describe('CoalescedWrite', () => {
  it('never writes inside the caller tick, and a burst of changes becomes one write of the latest state', async () => {
    const h = harness(0)
    h.releaseAll()
    for (let i = 0; i < 50; i++) h.change()
    expect(h.w.writes).toBe(0)
    await tick(5)
    expect(h.written).toEqual([50])
    expect(h.w.writes).toBe(1)
  })

  it('changes while a write runs become exactly one more write, after it', async () => {
    const h = harness(0)
    h.change()
    await tick(5) // the first write is running and held
    expect(h.w.writes).toBe(1)
    for (let i = 0; i < 10; i++) h.change()
    expect(h.w.writes).toBe(1)
    h.releaseAll()
    await tick(5)
    expect(h.written).toEqual([1, 11])
  })

  it('spaces writes by minGapMs, and flush() writes what is pending at once', async () => {
    const h = harness(10_000)
    h.releaseAll()
    h.change()
    await tick(5)
    h.change()
    h.change()
    await tick(20)
    expect(h.written).toEqual([1]) // the second waits for the gap
    await h.w.flush()
    expect(h.written).toEqual([1, 3])
    await h.w.flush() // nothing pending: no write
    expect(h.w.writes).toBe(2)
  })

  it('a failed write is reported and the next change writes again', async () => {
    const h = harness(0)
    h.releaseAll()
    h.failNext(true)
    h.change()
    await tick(5)
    expect(h.errors).toHaveLength(1)
    h.failNext(false)
    h.change()
    await tick(5)
    expect(h.written).toEqual([2])
  })
})
