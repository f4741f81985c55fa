// Timers only (no node: imports): the control client runs in the Worker too.

export type CoalescedWriteOptions = {
  /** Writes the state as it is when called (not as it was when the write was requested). */
  write: () => Promise<void>
  onError: (err: unknown) => void
  now: () => number
  /** Two writes start at least this far apart; requests meanwhile become one write. */
  minGapMs: number
}

/**
 * A write of some state that changes often, taken off the caller's path and coalesced: `request()` only
 * notes that the state changed; the write runs from a timer (never inside the caller's tick), at most one
 * at a time and at most one per `minGapMs`, and however many requests came in meanwhile, one write follows.
 */
export class CoalescedWrite {
  readonly #o: CoalescedWriteOptions
  #wanted = false
  #running: Promise<void> | null = null
  #timer: ReturnType<typeof setTimeout> | undefined
  #lastStart = Number.NEGATIVE_INFINITY
  writes = 0

  constructor(options: CoalescedWriteOptions) {
    this.#o = options
  }

  request(): void {
    this.#wanted = true
    if (this.#running === null && this.#timer === undefined) this.#arm()
  }

  /** Runs a requested write now (ignoring the gap) and resolves when no write is left running. */
  async flush(): Promise<void> {
    for (;;) {
      clearTimeout(this.#timer)
      this.#timer = undefined
      if (this.#running) await this.#running
      else if (this.#wanted) this.#run()
      else return
    }
  }

  #arm(): void {
    const wait = Math.max(0, this.#lastStart + this.#o.minGapMs - this.#o.now())
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#run()
    }, wait)
    // A pending write must not keep a Node process alive; stop() flushes it.
    ;(this.#timer as { unref?: () => void }).unref?.()
  }

  #run(): void {
    this.#wanted = false
    this.#lastStart = this.#o.now()
    this.writes++
    this.#running = this.#o
      .write()
      .catch((err) => this.#o.onError(err))
      .finally(() => {
        this.#running = null
        if (this.#wanted && this.#timer === undefined) this.#arm()
      })
  }
}
