// Bodies on the Node sidecar: a Web ReadableStream for the core (which may read, wrap or replace it) over a Node
// stream (the listener's request, the upstream client's response), and, when nothing did, the Node stream itself for the
// next Node consumer: the request body goes into the upstream client and the upstream body into the ServerResponse as the
// Node streams they are (dispatch-fetch.ts, node-response.ts).
import type { Readable } from 'node:stream'
import { RequestBody } from './http1-server'

type Source = { readonly readable: Readable; pulled: boolean }

/** The Node streams behind the Web streams made here, until one is read or piped. */
const sources = new WeakMap<ReadableStream<Uint8Array>, Source>()

/**
 * A Web stream over `readable` that touches it only when first read (highWaterMark 0: nothing is pulled ahead),
 * so that takeNodeStream can still hand the Node stream itself to a Node consumer. Backpressure: the Node
 * stream is paused after each chunk and resumed on the next pull. Cancelling destroys it (an upstream body:
 * the client then closes the connection), or with `onCancel: 'pause'` only stops reading it (a request body: its
 * socket must live on to carry the answer, e.g. a 413 with `Connection: close`).
 */
export function lazyWebStream(readable: Readable, options: { onCancel?: 'destroy' | 'pause' } = {}): ReadableStream<Uint8Array> {
  const pauseOnCancel = options.onCancel === 'pause'
  const source: Source = { readable, pulled: false }
  let controller!: ReadableStreamDefaultController<Uint8Array>
  const stream = new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c
      },
      pull() {
        if (!source.pulled) {
          source.pulled = true
          readable.on('data', (chunk: Buffer) => {
            controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength))
            readable.pause()
          })
          readable.once('end', () => controller.close())
          readable.once('error', (err) => controller.error(err))
        }
        readable.resume()
      },
      cancel(reason) {
        source.pulled = true
        if (!pauseOnCancel) {
          readable.destroy(reason instanceof Error ? reason : undefined)
          return
        }
        readable.removeAllListeners('data')
        readable.pause()
      },
    },
    { highWaterMark: 0 },
  )
  sources.set(stream, source)
  return stream
}

/**
 * The Node stream behind an untouched lazyWebStream, now owned by the caller (the Web stream must not be read
 * after this); null when `stream` is not one or has been read, piped or cancelled. Lets a body go from one
 * Node stream to another (the listener's request into the upstream client) without passing through Web streams.
 */
export function takeNodeStream(stream: ReadableStream<Uint8Array>): Readable | null {
  if (stream.locked) return null
  const source = sources.get(stream)
  if (source === undefined || source.pulled) return null
  source.pulled = true
  return source.readable
}

/**
 * Fetch's body readers (arrayBuffer, text, json) over a `body` getter, reading the Node stream directly when no
 * Web stream was asked for (a Web ReadableStream costs 10–17 µs to make on Node 20, and one made only to be
 * unwrapped again was ≈ 15 µs of a POST's hop) or the one made is untouched: the sidecar's request view and
 * upstream responses (node-request.ts, upstream-response.ts).
 */
export abstract class NodeBackedBody {
  abstract get body(): ReadableStream<Uint8Array> | null

  /**
   * The Node stream behind a body nothing has asked for yet, now the caller's: from then on `body` reads as a
   * used one (usedBody()). null when `body` was already made, or there is none.
   */
  protected abstract takeUnread(): Readable | null

  async arrayBuffer(): Promise<ArrayBuffer> {
    const unread = this.takeUnread()
    if (unread !== null) return collect(unread)
    const body = this.body
    if (body === null) return new ArrayBuffer(0)
    return collect(takeNodeStream(body) ?? (body as unknown as AsyncIterable<Uint8Array>))
  }

  async text(): Promise<string> {
    return new TextDecoder().decode(await this.arrayBuffer())
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text())
  }
}

/** Fetch Response's fixed members over NodeBackedBody: what UpstreamResponse and MadeResponse share. */
export abstract class NodeBackedResponse extends NodeBackedBody {
  readonly status: number
  readonly statusText = ''
  readonly type = 'default'
  readonly redirected = false
  readonly url = ''

  constructor(status: number) {
    super()
    this.status = status
  }

  get ok(): boolean {
    return this.status >= 200 && this.status < 300
  }
}

let used: ReadableStream<Uint8Array> | undefined

/** One locked, empty stream for every body read by arrayBuffer() without a Web stream: as after Fetch's, reading it again fails. */
export function usedBody(): ReadableStream<Uint8Array> {
  if (used === undefined) {
    used = new ReadableStream<Uint8Array>()
    used.getReader()
  }
  return used
}

/**
 * The bytes' own ArrayBuffer when they span all of it (a Buffer.concat or read() of several chunks), else a copy of
 * just them (a small Buffer is a slice of Node's shared pool).
 */
export function ownArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? (bytes.buffer as ArrayBuffer) : (bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer)
}

/** Every chunk of `source`, joined into one buffer. */
async function collect(source: AsyncIterable<Uint8Array>): Promise<ArrayBuffer> {
  // A listener's request body that had all arrived before the core asked: no read loop (an await per chunk).
  const whole = source instanceof RequestBody ? source.takeWhole() : null
  if (whole !== null) return ownArrayBuffer(whole)
  const chunks: Uint8Array[] = []
  let length = 0
  for await (const chunk of source) {
    chunks.push(chunk)
    length += chunk.byteLength
  }
  const out = new Uint8Array(length)
  let at = 0
  for (const c of chunks) {
    out.set(c, at)
    at += c.byteLength
  }
  return out.buffer
}
