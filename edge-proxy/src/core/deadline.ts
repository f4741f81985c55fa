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

const ONCE = { once: true }

// Whether deadlines share one timer per duration (below). Only where every request runs in one context: on
// Workers a timer belongs to the request that set it (it is cancelled when that request ends, and may not touch
// another request's I/O), so each deadline keeps a timer of its own there. The Node entry turns it on.
let shareTimers = false

/** Deadlines made after this share one timer per duration (`true`), or each set its own (the default). */
export function shareDeadlineTimers(on: boolean): void {
  shareTimers = on
}

/** The deadlines of one duration, in the order they expire (the order they were made), and the one timer for them. */
type DeadlineList = { head: Deadline | null; tail: Deadline | null; timer: ReturnType<typeof setTimeout> | undefined; firing: boolean }

/** A Cancellation that aborts itself when its time passes or its parent aborts: itself the signal it gives. */
export class Deadline extends Cancellation {
  // Shared timers (shareDeadlineTimers): deadlines of one duration expire in the order they are made, so one
  // linked list per duration with one timer for its earliest entry does instead of a Timeout per deadline (Node's
  // setTimeout makes an object, inserts it in a list and unenrolls it on clear; with an overall and a per-try
  // deadline per request, A/B on the bench mesh: outbound hop 85–87 → 79–81 µs of CPU).
  static readonly #lists = new Map<number, DeadlineList>()

  readonly #which: 'overall' | 'per-try'
  readonly #ms: number
  #list: DeadlineList | null = null
  #timer: ReturnType<typeof setTimeout> | undefined
  #prev: Deadline | null = null
  #next: Deadline | null = null
  #expiresAt = 0
  /** The parent and the listener this deadline put on it, until cleared. */
  #parent: CancelSignal | null = null
  #onParentAbort: (() => void) | null = null

  /**
   * `ms` of 0 or Infinity never fires on its own. `parent` aborts this deadline too (the client going away,
   * the overall deadline over a per-try one), with its reason.
   */
  constructor(which: 'overall' | 'per-try', ms: number, parent: CancelSignal | null = null) {
    super()
    this.#which = which
    this.#ms = ms
    if (parent !== null) {
      if (parent.aborted) {
        super.abort(parent.reason)
        return
      }
      const onAbort = () => this.abort(parent.reason)
      parent.addEventListener('abort', onAbort, ONCE)
      this.#parent = parent
      this.#onParentAbort = onAbort
    }
    if (ms > 0 && Number.isFinite(ms)) {
      if (shareTimers) Deadline.#enlist(this, ms)
      else this.#timer = setTimeout(() => this.abort(new TimeoutReason(which, ms)), ms)
    }
  }

  override abort(reason: unknown): void {
    this.clear()
    super.abort(reason)
  }

  /** Stops the timer and detaches from the parent; the signal stays as it is. */
  clear(): void {
    if (this.#list !== null) Deadline.#delist(this)
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer)
      this.#timer = undefined
    }
    const parent = this.#parent
    if (parent !== null) {
      parent.removeEventListener('abort', this.#onParentAbort!)
      this.#parent = this.#onParentAbort = null
    }
  }

  static #enlist(d: Deadline, ms: number): void {
    let list = Deadline.#lists.get(ms)
    if (list === undefined) Deadline.#lists.set(ms, (list = { head: null, tail: null, timer: undefined, firing: false }))
    d.#expiresAt = performance.now() + ms
    d.#list = list
    d.#prev = list.tail
    if (list.tail !== null) list.tail.#next = d
    else list.head = d
    list.tail = d
    // A timer already set fires no later than this entry's expiry (entries expire in order); else one is set
    // (not while the list is firing: it sets one for its earliest entry when done).
    if (list.timer === undefined && !list.firing) Deadline.#arm(list, d.#expiresAt)
  }

  static #delist(d: Deadline): void {
    const list = d.#list!
    if (d.#prev !== null) d.#prev.#next = d.#next
    else list.head = d.#next
    if (d.#next !== null) d.#next.#prev = d.#prev
    else list.tail = d.#prev
    d.#list = d.#prev = d.#next = null
    // The timer stays set when the list empties: it fires once for nothing rather than being cleared and set
    // again for the next request. Unreferenced (below), it keeps no process alive.
  }

  static #arm(list: DeadlineList, at: number): void {
    const timer = setTimeout(() => Deadline.#fire(list), Math.max(0, at - performance.now()))
    // Node: a deadline never keeps the process alive by itself (the exchange it bounds does).
    ;(timer as { unref?: () => void }).unref?.()
    list.timer = timer
  }

  static #fire(list: DeadlineList): void {
    list.timer = undefined
    list.firing = true
    try {
      // Timers may fire a little before their time by this clock: an entry due within a millisecond is due.
      const now = performance.now() + 1
      // Aborting unlinks the entry (and may make new ones, at the tail).
      for (let d = list.head; d !== null && d.#expiresAt <= now; d = list.head) d.abort(new TimeoutReason(d.#which, d.#ms))
    } finally {
      // Also when a listener threw: the entries after it keep their timer.
      list.firing = false
      if (list.head !== null) Deadline.#arm(list, list.head.#expiresAt)
    }
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
