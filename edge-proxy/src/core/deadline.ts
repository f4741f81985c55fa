/**
 * Timeouts as cancel signals (cancel-signal.ts), on `setTimeout` only (present in Node and workerd).
 * A Deadline aborts with a `TimeoutReason` naming which limit passed, so the caller can say which one.
 */
import { Cancellation, type CancelSignal } from './cancel-signal'

export class TimeoutReason extends Error {
  readonly which: 'overall' | 'per-try'
  readonly ms: number
  constructor(which: 'overall' | 'per-try', ms: number) {
    super(`${which} timeout of ${ms}ms`)
    this.name = 'TimeoutReason'
    this.which = which
    this.ms = ms
  }
}

export class Deadline {
  readonly controller = new Cancellation()
  #timer: ReturnType<typeof setTimeout> | undefined
  #unlink: (() => void) | undefined

  /**
   * `ms` of 0 or Infinity never fires on its own. `parents` abort this deadline too (the client going away,
   * the overall deadline over a per-try one), with their reason.
   */
  constructor(which: 'overall' | 'per-try', ms: number, parents: readonly (CancelSignal | null | undefined)[] = []) {
    const unlinks: (() => void)[] = []
    for (const parent of parents) {
      if (parent === null || parent === undefined) continue
      if (parent.aborted) {
        this.controller.abort(parent.reason)
        break
      }
      const onAbort = () => this.abort(parent.reason)
      parent.addEventListener('abort', onAbort, { once: true })
      unlinks.push(() => parent.removeEventListener('abort', onAbort))
    }
    this.#unlink = () => unlinks.forEach((u) => u())
    if (!this.controller.signal.aborted && ms > 0 && Number.isFinite(ms)) {
      this.#timer = setTimeout(() => this.abort(new TimeoutReason(which, ms)), ms)
    }
  }

  get signal(): CancelSignal {
    return this.controller.signal
  }

  abort(reason: unknown): void {
    this.clear()
    if (!this.controller.signal.aborted) this.controller.abort(reason)
  }

  /** Stops the timer and detaches from the parents; the signal stays as it is. */
  clear(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#unlink?.()
    this.#unlink = undefined
  }
}

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
export function sleep(ms: number, signal?: CancelSignal | null): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false)
  if (!(ms > 0)) return Promise.resolve(true)
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer)
      resolve(false)
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve(true)
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** Rejects with the signal's reason when it aborts: a race partner for a promise that may ignore signals. */
export function abortedPromise(signal: CancelSignal): { promise: Promise<never>; dispose: () => void } {
  let onAbort: () => void = () => {}
  const promise = new Promise<never>((_, reject) => {
    if (signal.aborted) {
      reject(signal.reason)
      return
    }
    onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
  })
  // An unobserved rejection is not an error here: it only ever loses a race.
  promise.catch(() => {})
  return { promise, dispose: () => signal.removeEventListener('abort', onAbort) }
}
