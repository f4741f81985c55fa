// Deadlines share one timer per duration (deadline.ts): each must still fire at its own time, in order, with
// its own reason, and never once cleared (a millisecond early at most: a timer may run that much before its time).
import { describe, expect, it } from 'vitest'
import { Cancellation } from './cancel-signal'
import { afterAll, beforeAll } from 'vitest'
import { Deadline, shareDeadlineTimers, TimeoutReason } from './deadline'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Resolves with when (ms after `start`) and why the deadline fired. */
function fired(d: Deadline, start: number): Promise<{ at: number; reason: unknown }> {
  return new Promise((resolve) => d.signal.addEventListener('abort', () => resolve({ at: performance.now() - start, reason: d.signal.reason })))
}

// Each deadline its own timer (the default, and the Worker's), or one timer per duration (the Node sidecar's).
describe.each([
  ['own timers', false],
  ['shared timers', true],
])('Deadline (%s)', (_name, shared) => {
  beforeAll(() => shareDeadlineTimers(shared))
  afterAll(() => shareDeadlineTimers(false))

  it('fires deadlines of one duration each at its own time, in order, naming its limit', async () => {
    const start = performance.now()
    const a = new Deadline('overall', 60)
    await sleep(25)
    const b = new Deadline('per-try', 60)
    const [fa, fb] = await Promise.all([fired(a, start), fired(b, start)])
    expect(fa.at).toBeGreaterThanOrEqual(58)
    expect(fb.at).toBeGreaterThanOrEqual(fa.at + 20)
    expect(fa.reason).toBeInstanceOf(TimeoutReason)
    expect((fa.reason as TimeoutReason).which).toBe('overall')
    expect((fb.reason as TimeoutReason).which).toBe('per-try')
    expect((fb.reason as TimeoutReason).ms).toBe(60)
  })

  it('never fires one cleared, and clearing the earliest does not hold up the next', async () => {
    const start = performance.now()
    const a = new Deadline('overall', 50)
    const b = new Deadline('overall', 50)
    await sleep(10)
    const c = new Deadline('overall', 50)
    a.clear()
    c.clear()
    const fb = await fired(b, start)
    expect(fb.at).toBeGreaterThanOrEqual(48)
    expect(fb.at).toBeLessThan(500)
    await sleep(80)
    expect(a.signal.aborted).toBe(false)
    expect(c.signal.aborted).toBe(false)
  })

  it('times one made while others of its duration fire, and keeps durations apart', async () => {
    const start = performance.now()
    const first = new Deadline('overall', 40)
    const long = new Deadline('overall', 200)
    let made: Deadline | null = null
    first.signal.addEventListener('abort', () => (made = new Deadline('per-try', 40)))
    const short = new Deadline('overall', 20)
    const fs = await fired(short, start)
    expect(fs.at).toBeGreaterThanOrEqual(18)
    expect(long.signal.aborted).toBe(false)
    await fired(first, start)
    expect(made).not.toBeNull()
    const fm = await fired(made!, start)
    expect(fm.at).toBeGreaterThanOrEqual(78)
    const fl = await fired(long, start)
    expect(fl.at).toBeGreaterThanOrEqual(198)
  })

  it('takes its parent reason when a parent aborts first, and lets go of its parents once cleared', async () => {
    const parent = new Cancellation()
    const d = new Deadline('overall', 10_000, parent)
    const reason = new Error('client gone')
    parent.abort(reason)
    expect(d.signal.aborted).toBe(true)
    expect(d.signal.reason).toBe(reason)

    const other = new Cancellation()
    const cleared = new Deadline('overall', 10_000, other)
    cleared.clear()
    other.abort(new Error('late'))
    expect(cleared.signal.aborted).toBe(false)

    const already = new Cancellation()
    already.abort('before')
    expect(new Deadline('per-try', 10, already).signal.reason).toBe('before')
    // 0 and Infinity never fire by themselves.
    const never = [new Deadline('overall', 0), new Deadline('overall', Number.POSITIVE_INFINITY)]
    await sleep(30)
    expect(never.map((n) => n.signal.aborted)).toEqual([false, false])
  })
})
