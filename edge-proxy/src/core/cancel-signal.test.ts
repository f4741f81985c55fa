import { describe, expect, it } from 'vitest'
import { Cancellation, toAbortSignal } from './cancel-signal'
import { abortedPromise, Deadline, sleep, TimeoutReason } from './deadline'

describe('Cancellation', () => {
  it('runs each listener once, in order, with the reason set; removed listeners and late aborts do nothing', () => {
    const c = new Cancellation()
    const seen: string[] = []
    const a = () => seen.push(`a:${String(c.reason)}`)
    const b = () => seen.push('b')
    const removed = () => seen.push('removed')
    c.addEventListener('abort', a)
    c.addEventListener('abort', removed)
    c.addEventListener('abort', b, { once: true })
    c.removeEventListener('abort', removed)
    expect(c.aborted).toBe(false)
    c.abort('first')
    c.abort('second')
    expect(c.aborted).toBe(true)
    expect(c.reason).toBe('first')
    expect(seen).toEqual(['a:first', 'b'])
    c.addEventListener('abort', () => seen.push('late'))
    expect(seen).toEqual(['a:first', 'b'])
    // One listener (kept without an array), removed, then another alone.
    const single = new Cancellation()
    const only = () => seen.push('only')
    single.addEventListener('abort', only)
    single.removeEventListener('abort', only)
    single.removeEventListener('abort', only)
    single.addEventListener('abort', () => seen.push('kept'))
    single.abort()
    expect(seen).toEqual(['a:first', 'b', 'kept'])
  })

  it('defaults the reason to an AbortError, as AbortController does', () => {
    const c = new Cancellation()
    c.abort()
    expect(c.reason).toBeInstanceOf(DOMException)
    expect((c.reason as DOMException).name).toBe('AbortError')
  })

  it('toAbortSignal gives a real AbortSignal that follows it (already aborted or later), and passes real ones through', () => {
    const real = new AbortController().signal
    expect(toAbortSignal(real)).toBe(real)
    const later = new Cancellation()
    const signal = toAbortSignal(later)
    expect(signal).toBeInstanceOf(AbortSignal)
    expect(signal.aborted).toBe(false)
    later.abort('gone')
    expect([signal.aborted, signal.reason]).toEqual([true, 'gone'])
    const done = new Cancellation()
    done.abort('before')
    expect(toAbortSignal(done).reason).toBe('before')
  })

  it('drives Deadline, sleep and abortedPromise: a timeout aborts with its TimeoutReason, a parent passes its own', async () => {
    const parent = new Cancellation()
    const d = new Deadline('overall', 20, parent)
    const raced = abortedPromise(d.signal)
    await expect(raced.promise).rejects.toBeInstanceOf(TimeoutReason)
    expect((d.signal.reason as TimeoutReason).which).toBe('overall')
    const child = new Deadline('per-try', 10_000, parent)
    const slept = sleep(10_000, child.signal)
    parent.abort('client gone')
    expect(await slept).toBe(false)
    expect(child.signal.reason).toBe('client gone')
    child.clear()
  })
})
