// One keep-alive connection of the sidecar's HTTP/1.1 client (http1-agent.ts): it writes a request's head and
// body, reads the response with Node's llhttp binding (`_http_common`, the parser node:http itself uses), hands
// the body on as it arrives (response-body.ts) and goes back to its pool only after a complete exchange the
// server agreed to keep.
import { connect, type Socket } from 'node:net'
import { Readable } from 'node:stream'
import type { CancelSignal } from '../core/cancel-signal'
import { UpstreamConnectError, UpstreamResetError } from '../core/upstream-errors'
import { drainOrClose } from './drain-or-close'
import type { Http1Request, Http1Response, OriginPool, ResponseHeaders } from './http1-agent'
import { HTTPParser, type Parser } from './llhttp-binding'
import { ResponseBody, type BodyOwner } from './response-body'
import { writeMessage } from './socket-write'

/** One request and its response on a connection. */
type Exchange = {
  readonly request: Http1Request
  resolve: ((r: Http1Response) => void) | null
  reject: ((e: unknown) => void) | null
  body: ResponseBody | null
  /** The request was fully written (only then may the connection carry another). */
  sent: boolean
  /** The response ended and the server agreed to keep the connection. */
  done: boolean
  keepAlive: boolean
  informational: boolean
  /** The listener on the request's signal. */
  onAbort: (() => void) | null
  /** Stops reading a request body still being sent, when the exchange ends early. */
  stopBody: (() => void) | null
  /** Some of the response has arrived (a byte is enough). */
  heard: boolean
}

// RFC 9110 §9.2.2: a request a client may send again by itself when the connection failed before any answer.
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE'])
/** Requests already sent again once after a reused connection failed under them: never twice. */
const resent = new WeakSet<Http1Request>()

/** A body written with its head, whole (none, or bytes), not streamed: what can be sent again. */
const heldWhole = (body: Http1Request['body']): body is Uint8Array | null => body === null || body instanceof Uint8Array

const NO_HEADERS: string[] = []
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024)

export class Connection implements BodyOwner {
  readonly socket: Socket
  readonly #pool: OriginPool
  readonly #parser: Parser
  #exchange: Exchange | null = null
  #connected = false
  #idleSince = 0
  /** From the server's `Keep-Alive: timeout=` (minus a second for the race), when shorter than the agent's. */
  #idleLimit: number
  #lastHint = ''
  /** Header fields and URL llhttp handed over before the head was complete (a head split across reads). */
  #partial: string[] = NO_HEADERS
  /** Exchanges started on this connection, the current one included. */
  #uses = 0

  constructor(pool: OriginPool) {
    this.#pool = pool
    this.#idleLimit = pool.agent.idleMs
    const parser = new HTTPParser()
    parser.initialize(HTTPParser.RESPONSE, {}, pool.agent.maxHeaderBytes, HTTPParser.kLenientNone)
    parser[HTTPParser.kOnHeaders] = (headers: string[]) => {
      this.#partial = this.#partial === NO_HEADERS ? headers.slice() : this.#partial.concat(headers)
    }
    parser[HTTPParser.kOnHeadersComplete] = (_major: number, _minor: number, headers: string[] | undefined, _method: unknown, _url: unknown, status: number, _text: unknown, upgrade: boolean, keepAlive: boolean) =>
      this.#onHead(headers, status, upgrade, keepAlive)
    parser[HTTPParser.kOnBody] = (chunk: Buffer) => this.#exchange?.body?.push(chunk)
    parser[HTTPParser.kOnMessageComplete] = () => this.#onMessageEnd()
    this.#parser = parser

    const onData = (data: Buffer) => {
      if (this.#exchange === null) {
        // Bytes nobody asked for (a server pipelining or answering twice): the connection cannot be trusted.
        socket.destroy()
        return
      }
      this.#exchange.heard = true
      const parsed = parser.execute(data)
      if (parsed instanceof Error) socket.destroy(new UpstreamResetError(`malformed response from ${pool.host}:${pool.port}: ${parsed.message}`, { cause: parsed }))
    }
    // Reads land in one shared buffer handed straight to the parser (`onread`), not through the socket's
    // Readable: no push, no 'data' event, no nextTick per read. Safe to share: llhttp's binding copies what it
    // keeps (body chunks, header strings of an unfinished head) before the next read can reuse it.
    const socket = connect({
      host: pool.host,
      port: pool.port,
      noDelay: true,
      keepAlive: true,
      keepAliveInitialDelay: 60_000,
      // true: keep reading (pausing is pauseBody's socket.pause(), which stops reads for such a socket too).
      onread: {
        buffer: READ_BUFFER,
        callback: (n: number, buf: Uint8Array) => {
          onData((buf as Buffer).subarray(0, n))
          return true
        },
      },
    })
    this.socket = socket
    socket.setTimeout(pool.agent.connectTimeoutMs, () => {
      if (!this.#connected) socket.destroy(new UpstreamConnectError(`connect to ${pool.host}:${pool.port} timed out after ${pool.agent.connectTimeoutMs} ms`))
    })
    socket.once('connect', () => {
      this.#connected = true
      socket.setTimeout(0)
      const exchange = this.#exchange
      if (exchange !== null) this.#write(exchange)
    })
    socket.on('end', () => {
      // A body delimited by the connection's end completes here; anything else still open was cut off.
      if (this.#exchange !== null) parser.finish()
    })
    // Before the connection stands, the error is the socket's own (ECONNREFUSED…: a connect failure to the core).
    socket.on('error', (err) => this.#fail(this.#connected ? asReset(err, pool) : err))
    socket.on('close', () => {
      this.#fail(new UpstreamResetError(`${pool.host}:${pool.port} closed the connection`))
      pool.closed(this)
    })
  }

  /** Idle within its limit, and not closing: a server's FIN may have arrived with its 'close' still to come. */
  usableAt(now: number): boolean {
    const socket = this.socket
    return !socket.destroyed && !socket.readableEnded && socket.writable && now - this.#idleSince < this.#idleLimit
  }

  start(request: Http1Request, resolve: (r: Http1Response) => void, reject: (e: unknown) => void): void {
    const exchange: Exchange = { request, resolve, reject, body: null, sent: false, done: false, keepAlive: false, informational: false, onAbort: null, stopBody: null, heard: false }
    this.#exchange = exchange
    this.#uses++
    // The last exchange may have left it paused (its reader was slow); this one reads from the start.
    this.socket.resume()
    const signal = request.signal
    if (signal !== undefined) {
      if (signal.aborted) return this.#abort(exchange, signal.reason)
      // A bound function, not an arrow: with a closure made here, a sidecar at saturation kept ≈ 0.7–1.6 MB of
      // every young generation alive past each scavenge into the old one, from the first mark-compact on (V8's
      // --trace-gc-nvp: survival 11–26 % against 0.2–0.6 % with this; a mark-compact every ≈ 0.4 s, GC pauses
      // ≈ 2–2.5 µs per request). Why V8 kept start()'s context alive is not established: any closure made in
      // this method did it, one without `this` too; bench/proxy/mesh-up.ts under wrk shows it.
      exchange.onAbort = Connection.#onAbort.bind(null, this, exchange, signal)
      signal.addEventListener('abort', exchange.onAbort, { once: true })
    }
    if (this.#connected) this.#write(exchange)
  }

  #write(exchange: Exchange): void {
    const { head, body, chunked } = exchange.request
    const socket = this.socket
    if (heldWhole(body)) {
      writeMessage(socket, head, body)
      this.#sent(exchange)
    } else if (body instanceof Readable) {
      socket.write(head, 'latin1')
      this.#pipeNode(exchange, body, chunked)
    } else {
      socket.write(head, 'latin1')
      void this.#pipeWeb(exchange, body, chunked)
    }
  }

  #sent(exchange: Exchange): void {
    exchange.sent = true
    if (exchange.done) this.#finish(exchange)
  }

  /** A Node stream (the listener's request) up the connection, one chunk at a time, pausing while the socket is full. */
  #pipeNode(exchange: Exchange, body: Readable, chunked: boolean): void {
    const socket = this.socket
    const onDrain = () => body.resume()
    const onData = (chunk: Buffer) => {
      if (this.#exchange !== exchange) return
      if (!writeChunk(socket, chunk, chunked)) body.pause()
    }
    const cleanup = () => {
      body.off('data', onData)
      body.off('end', onEnd)
      body.off('error', onError)
      socket.off('drain', onDrain)
    }
    const onEnd = () => {
      cleanup()
      exchange.stopBody = null
      if (this.#exchange !== exchange) return
      if (chunked) socket.write('0\r\n\r\n', 'latin1')
      this.#sent(exchange)
    }
    const onError = (err: Error) => {
      cleanup()
      if (this.#exchange === exchange) socket.destroy(err)
    }
    exchange.stopBody = () => {
      cleanup()
      // Whatever the client still sends is read and dropped, so its connection can carry the proxy's answer.
      body.resume()
    }
    if (body.readableEnded) return onEnd()
    body.on('data', onData)
    body.once('end', onEnd)
    body.once('error', onError)
    socket.on('drain', onDrain)
  }

  /** A Web stream (a filter's or the core's body) up the connection, waiting for 'drain' when the socket is full. */
  async #pipeWeb(exchange: Exchange, body: ReadableStream<Uint8Array>, chunked: boolean): Promise<void> {
    const reader = body.getReader()
    const socket = this.socket
    try {
      for (;;) {
        const { done, value } = await reader.read()
        if (this.#exchange !== exchange) throw new Error('exchange ended')
        if (done) break
        if (!writeChunk(socket, value, chunked)) await drainOrClose(socket)
      }
      if (chunked) socket.write('0\r\n\r\n', 'latin1')
      this.#sent(exchange)
    } catch (err) {
      reader.cancel(err).catch(() => {})
      if (this.#exchange === exchange) socket.destroy(err instanceof Error ? err : new Error(String(err)))
    }
  }

  #onHead(headers: string[] | undefined, status: number, upgrade: boolean, keepAlive: boolean): number {
    const exchange = this.#exchange
    if (exchange === null) {
      this.socket.destroy() // a second answer to one request
      return 0
    }
    if (headers === undefined || this.#partial !== NO_HEADERS) {
      headers = headers === undefined ? this.#partial : this.#partial.concat(headers)
      this.#partial = NO_HEADERS
    }
    if (status < 200 && status !== 101) {
      // 100 Continue, 103 Early Hints: the real answer follows on the same connection.
      exchange.informational = true
      return 1
    }
    if (upgrade || status === 101) {
      // Never asked for (the listeners refuse upgrades), so never honoured.
      this.socket.destroy(new UpstreamResetError(`${this.#pool.host}:${this.#pool.port} switched protocols unasked`))
      return 2
    }
    const record: ResponseHeaders = {}
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!.toLowerCase()
      const value = headers[i + 1]!
      const seen = record[name]
      if (seen === undefined) record[name] = value
      else if (typeof seen === 'string') record[name] = [seen, value]
      else seen.push(value)
      if (name === 'keep-alive') this.#keepAliveHint(value)
    }
    exchange.keepAlive = keepAlive
    const noBody = exchange.request.method === 'HEAD' || status === 204 || status === 304
    if (!noBody) exchange.body = new ResponseBody(this)
    const resolve = exchange.resolve!
    exchange.resolve = null
    exchange.reject = null
    resolve({ statusCode: status, headers: record, body: exchange.body })
    // 1 tells llhttp that no body follows whatever the head says (the answer to a HEAD request).
    return noBody ? 1 : 0
  }

  #keepAliveHint(value: string): void {
    // A server sends the same hint on every answer: read once per connection.
    if (value === this.#lastHint) return
    this.#lastHint = value
    const m = /timeout=(\d+)/i.exec(value)
    if (m !== null) this.#idleLimit = Math.min(this.#pool.agent.idleMs, Number(m[1]) * 1000 - 1000)
  }

  #onMessageEnd(): void {
    // Trailer fields of a chunked body arrive like split header fields; they are not passed on (as before with
    // undici's request API), and must not leak into the next response's head.
    this.#partial = NO_HEADERS
    const exchange = this.#exchange
    if (exchange === null) return
    if (exchange.informational) {
      exchange.informational = false
      return
    }
    exchange.done = true
    exchange.body?.end()
    if (exchange.sent) return this.#finish(exchange)
    // The server answered before the request body was all sent (a 413, an early 401): it may never read the
    // rest, so the upload stops here (what the client still sends is read and dropped) and the connection,
    // its request framing unfinished, is closed rather than reused.
    this.#detach(exchange)
    exchange.stopBody?.()
    this.socket.destroy()
  }

  /** Both directions are complete: back to the pool, or closed when the server or the hint said so. */
  #finish(exchange: Exchange): void {
    if (this.#exchange !== exchange) return
    this.#detach(exchange)
    if (!exchange.keepAlive || this.#idleLimit <= 0 || this.socket.destroyed) {
      this.socket.destroy()
      return
    }
    this.#idleSince = Date.now()
    this.#pool.release(this)
  }

  #detach(exchange: Exchange): void {
    this.#exchange = null
    if (exchange.onAbort !== null) exchange.request.signal?.removeEventListener('abort', exchange.onAbort)
  }

  pauseBody(body: ResponseBody): void {
    if (this.#exchange !== null && this.#exchange.body === body) this.socket.pause()
  }

  resumeBody(body: ResponseBody): void {
    if (this.#exchange !== null && this.#exchange.body === body) this.socket.resume()
  }

  /** The reader went away before the body ended (client gone, body cancelled): the exchange cannot finish. */
  abandonBody(body: ResponseBody): void {
    if (this.#exchange !== null && this.#exchange.body === body && !this.#exchange.done) this.socket.destroy()
  }

  static #onAbort(conn: Connection, exchange: Exchange, signal: CancelSignal): void {
    conn.#abort(exchange, signal.reason)
  }

  #abort(exchange: Exchange, reason: unknown): void {
    if (this.#exchange !== exchange) return
    this.#fail(reason)
    this.socket.destroy()
  }

  /** Ends the current exchange with `err`: before the head its promise rejects, after it the body errors. */
  #fail(err: unknown): void {
    const exchange = this.#exchange
    if (exchange === null) return
    this.#detach(exchange)
    exchange.stopBody?.()
    if (exchange.reject !== null) {
      const { resolve, reject, request } = exchange
      exchange.resolve = null
      exchange.reject = null
      // A kept-alive connection the server closed just as this request went out (its idle timeout, a restart)
      // fails the request through no fault of the request: one the client may repeat (idempotent, its body
      // held whole) goes once more on another connection, as browsers and HAProxy do. A fresh connection's
      // failure, an abort, or a second failure is the caller's to see.
      if (this.#uses > 1 && !exchange.heard && err instanceof UpstreamResetError && !resent.has(request) && IDEMPOTENT.has(request.method) && heldWhole(request.body) && !request.signal?.aborted) {
        resent.add(request)
        this.#pool.resend(request, resolve!, reject)
        return
      }
      reject(err)
    } else if (exchange.body !== null && !exchange.done) exchange.body.fail(err instanceof Error ? err : new Error(String(err)))
  }
}

/** One body chunk, framed when chunked; false when the socket's buffer is full. */
function writeChunk(socket: Socket, chunk: Uint8Array, chunked: boolean): boolean {
  if (!chunked) return socket.write(chunk)
  if (chunk.byteLength === 0) return true
  socket.cork()
  socket.write(`${chunk.byteLength.toString(16)}\r\n`, 'latin1')
  socket.write(chunk)
  const ok = socket.write('\r\n', 'latin1')
  socket.uncork()
  return ok
}

function asReset(err: unknown, pool: OriginPool): unknown {
  if (err instanceof UpstreamResetError || err instanceof UpstreamConnectError) return err
  const code = (err as { code?: unknown }).code
  return new UpstreamResetError(`connection to ${pool.host}:${pool.port} failed: ${(err as Error).message ?? String(err)}${typeof code === 'string' ? ` (${code})` : ''}`, { cause: err })
}
