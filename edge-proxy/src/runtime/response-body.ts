// An upstream response body on the Node sidecar as it arrives from the connection (http1-connection.ts), for one
// consumer. The listener's writer takes it straight into the answer (`pipeTo`); anything else (a filter
// or retry that reads the body, `arrayBuffer()`) gets a Node Readable made on demand. Not a Readable itself:
// a stream per response, its pipe() and the ticks between its events were about 12 µs of a hop's CPU, for a
// body that is usually one chunk arriving with the head.
import { Readable } from 'node:stream'

/** What the body asks of the connection it comes from; ignored once that exchange has moved on. */
export type BodyOwner = {
  pauseBody(body: ResponseBody): void
  resumeBody(body: ResponseBody): void
  /** The consumer went away before the end: the exchange cannot finish, the connection is closed. */
  abandonBody(body: ResponseBody): void
}

/** The part of the listener's exchange (http1-server.ts; or any Node writable) that `pipeTo` writes into. */
export type BodySink = {
  write(chunk: Uint8Array): boolean
  end(): void
  destroy(err?: Error): void
  once(event: 'drain' | 'close', listener: () => void): unknown
  readonly destroyed: boolean
}

// Chunks that arrive before a consumer attaches are held; past this many bytes the connection is paused.
const HOLD_BYTES = 64 * 1024

export class ResponseBody {
  readonly #owner: BodyOwner
  #held: Buffer[] | null = null
  #heldBytes = 0
  #ended = false
  #error: Error | null = null
  #sink: BodySink | null = null
  #readable: Readable | null = null
  /** A consumer attached (pipeTo, toReadable, discard); there is only ever one. */
  #taken = false

  constructor(owner: BodyOwner) {
    this.#owner = owner
  }

  // ——— the connection's side ———

  push(chunk: Buffer): void {
    if (this.#sink !== null) {
      if (!this.#sink.write(chunk)) this.#owner.pauseBody(this)
    } else if (this.#readable !== null) {
      if (!this.#readable.push(chunk)) this.#owner.pauseBody(this)
    } else if (!this.#taken) {
      ;(this.#held ??= []).push(chunk)
      this.#heldBytes += chunk.byteLength
      if (this.#heldBytes > HOLD_BYTES) this.#owner.pauseBody(this)
    }
  }

  end(): void {
    this.#ended = true
    if (this.#sink !== null) this.#sink.end()
    else if (this.#readable !== null) this.#readable.push(null)
  }

  fail(err: Error): void {
    if (this.#ended || this.#error !== null) return
    this.#error = err
    if (this.#sink !== null) this.#sink.destroy(err)
    else if (this.#readable !== null) this.#readable.destroy(err)
  }

  // ——— the consumer's side ———

  /**
   * Writes the body into `sink` with backpressure and ends it; a failing upstream destroys the sink (the client
   * sees a cut-off message), a sink that closes first abandons the exchange.
   */
  pipeTo(sink: BodySink): void {
    this.#take()
    const held = this.#held
    this.#held = null
    if (this.#error !== null) return sink.destroy(this.#error)
    let full = false
    if (held !== null) for (const chunk of held) full = !sink.write(chunk) || full
    if (this.#ended) return sink.end()
    this.#sink = sink
    sink.once('close', () => {
      if (!this.#ended) this.#owner.abandonBody(this)
    })
    const drained = () => {
      if (sink.destroyed) return
      this.#owner.resumeBody(this)
      // 'drain' is once per full buffer: listen again for the next.
      sink.once('drain', drained)
    }
    sink.once('drain', drained)
    if (full) this.#owner.pauseBody(this)
    else this.#owner.resumeBody(this)
  }

  /** The body as a Node stream (for Web-stream and byte readers). */
  toReadable(): Readable {
    if (this.#readable !== null) return this.#readable
    this.#take()
    const readable = new Readable({
      read: () => this.#owner.resumeBody(this),
      destroy: (err, callback) => {
        if (!this.#ended) this.#owner.abandonBody(this)
        callback(err)
      },
    })
    for (const chunk of this.#held ?? []) readable.push(chunk)
    this.#held = null
    if (this.#error !== null) readable.destroy(this.#error)
    else if (this.#ended) readable.push(null)
    this.#readable = readable
    return readable
  }

  /** Reads the rest and drops it (a body nobody will send on: HEAD, 205). */
  discard(): void {
    this.#take()
    this.#held = null
    this.#owner.resumeBody(this)
  }

  /** Stops the exchange (the reader is gone). */
  destroy(): void {
    this.#take()
    this.#held = null
    if (!this.#ended) this.#owner.abandonBody(this)
  }

  #take(): void {
    if (this.#taken) throw new Error('an upstream response body has one reader')
    this.#taken = true
  }
}
