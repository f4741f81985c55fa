/**
 * The part of AbortSignal the core uses to end waits and exchanges: `aborted`, `reason`, and 'abort' listeners.
 * A real AbortSignal is one; so is a Cancellation, the core's own, which the deadlines use. On Node an
 * AbortController costs several microseconds to make (it is a transferable EventTarget) and the sidecar made
 * three per proxied request (client gone, overall deadline, per-try deadline) plus listeners on each: about a
 * fifteenth of a hop's CPU in bench/proxy.bench.ts. Transports that need a real AbortSignal (fetch, `new
 * Request`) get one from `toAbortSignal`; undici's dispatcher takes any object with these members.
 */
export type CancelSignal = {
  readonly aborted: boolean
  readonly reason: unknown
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void
  removeEventListener(type: 'abort', listener: () => void): void
}

/**
 * An abortable signal; `signal` is itself, so it reads like an AbortController. Most have one listener (the
 * deadline or exchange below them), kept in a field: an array is made only for a second.
 */
export class Cancellation implements CancelSignal {
  #aborted = false
  #reason: unknown = undefined
  #listeners: (() => void) | (() => void)[] | null = null

  get aborted(): boolean {
    return this.#aborted
  }

  get reason(): unknown {
    return this.#reason
  }

  get signal(): CancelSignal {
    return this
  }

  /** Every listener runs at most once anyway (abort happens once), so `once` needs no handling. */
  addEventListener(type: 'abort', listener: () => void, _options?: { once?: boolean }): void {
    if (type !== 'abort' || this.#aborted) return
    const listeners = this.#listeners
    if (listeners === null) this.#listeners = listener
    else if (typeof listeners === 'function') this.#listeners = [listeners, listener]
    else listeners.push(listener)
  }

  removeEventListener(type: 'abort', listener: () => void): void {
    if (type !== 'abort') return
    const listeners = this.#listeners
    if (listeners === listener) this.#listeners = null
    else if (listeners !== null && typeof listeners !== 'function') {
      const i = listeners.lastIndexOf(listener)
      if (i >= 0) listeners.splice(i, 1)
    }
  }

  /** Aborts once (later calls do nothing); listeners run in the order they were added, each at most once. */
  abort(reason: unknown = new DOMException('This operation was aborted', 'AbortError')): void {
    if (this.#aborted) return
    this.#aborted = true
    this.#reason = reason
    const listeners = this.#listeners
    this.#listeners = null
    if (typeof listeners === 'function') listeners()
    else if (listeners !== null) for (const listener of listeners) listener()
  }
}

/** A real AbortSignal following `signal` (itself when it is one), for APIs that check the type. */
export function toAbortSignal(signal: CancelSignal): AbortSignal {
  if (signal instanceof AbortSignal) return signal
  const controller = new AbortController()
  if (signal.aborted) controller.abort(signal.reason)
  else signal.addEventListener('abort', () => controller.abort(signal.reason), { once: true })
  return controller.signal
}
