// The sidecar's HTTP/1.1 listener: node:net and Node's own llhttp binding (`_http_common`, the parser node:http
// itself uses), in place of node:http's server, as the upstream client (http1-agent.ts) already is.
//
// Why: measured side by side (CPU of the sidecar per request under `wrk -t1 -c16`, the bench mesh), the switch
// took an outbound hop from 136–145 to 117–119 µs and an inbound one from 121–129 to 99–101 µs. node:http builds
// an IncomingMessage and a ServerResponse (two streams) per request, validates and re-serialises every header
// the proxy passes on, and re-arms a timer per socket on every read and write. A proxy needs a head, a body
// stream when there is a body, and a writer that frames what it is given.
//
// What node:http did and this does too: keep-alive (HTTP/1.1 unless `Connection: close`, HTTP/1.0 only when
// asked), pipelined requests answered in order, request bodies streamed with backpressure, responses framed by
// Content-Length or chunked (close-delimited for an HTTP/1.0 client), no body for HEAD/204/304, a `Date` on
// answers without one, the header-size limit (llhttp's), headers and request timeouts checked on a timer (not a
// timer per socket), idle keep-alive connections closed. Upgrades are not honoured: such a request is served as
// a plain one and its connection closed after the answer (node:http does the same without an 'upgrade' listener).
// What it does differently: a client that half-closes after its request still gets the whole answer.
import { EventEmitter } from 'node:events'
import { STATUS_CODES } from 'node:http'
import { Server, type Socket } from 'node:net'
import { Readable } from 'node:stream'
import { Cancellation, type CancelSignal } from '../core/cancel-signal'
import { HTTPParser, methods, type Parser } from './llhttp-binding'
import { bytesSent, bytesWaiting, writeMessage } from './socket-write'

export type Http1ServerOptions = {
  /** Request line plus headers, bytes (llhttp answers HPE_HEADER_OVERFLOW past it). */
  readonly maxHeaderBytes: number
  /** From a request's first byte until its headers are complete; also how long a new connection may stay silent. */
  readonly headersTimeoutMs: number
  /** From a request's first byte until all of it has arrived. 0: none. */
  readonly requestTimeoutMs: number
  /**
   * A keep-alive connection with nothing in progress is closed after this; so is one whose answer waits to be
   * written while the client takes none of it (a client that stopped reading holds the answer's buffers).
   */
  readonly idleTimeoutMs: number
  /** How often the timeouts above are checked. */
  readonly checkIntervalMs: number
  /** A request whose head has arrived, in order per connection: the next one is handed over once this is answered. */
  readonly onRequest: (exchange: ServerExchange) => void
  /**
   * A request that cannot be read (`code`: llhttp's `HPE_…`, or `ERR_HTTP_REQUEST_TIMEOUT`) before anything of
   * its answer went out: the callee answers on the socket as it sees fit and closes it. The exchanges of the
   * connection are closed by then.
   */
  readonly onClientError: (socket: Socket, code: string) => void
}

/** A client went away, or a timeout or a parse error ended its connection, while its request was still open. */
export class ClientAbortedError extends Error {
  readonly code = 'ECONNRESET'
  constructor(message: string) {
    super(message)
    this.name = 'ClientAbortedError'
  }
}

// Responses that never have a body, whatever their headers say (RFC 9110 §6.4.1).
const bodiless = (status: number) => status === 204 || status === 304 || status < 200
// Pipelined requests held per connection before the socket stops being read.
const MAX_QUEUED = 16

let dateAt = 0
let dateValue = ''
/** The `Date` field value, made at most once a second (as node:http does). */
function httpDate(): string {
  const now = Date.now()
  if (now - dateAt >= 1_000) {
    dateAt = now - (now % 1_000)
    dateValue = new Date(dateAt).toUTCString()
  }
  return dateValue
}

/**
 * One request on a connection and the writer of its answer. The request side is its head (method, target,
 * header lines as received) and `body`, a Node stream when the request has one; the answer side is the part
 * of a ServerResponse the sidecar's writer uses (node-response.ts): writeHead, write with backpressure ('drain'),
 * end, destroy, and 'close' once the exchange is over either way.
 */
export class ServerExchange extends EventEmitter {
  readonly method: string
  /** The request target as sent: origin-form (`/x?y`) or, on the outbound listener, absolute-form. */
  readonly target: string
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  readonly httpMinor: number
  /** Names and values alternating, as received (repeated fields kept in order). */
  readonly rawHeaders: string[]
  /** The first Host field; `hosts` counts them (more than one is a malformed request, RFC 9112 §3.2). */
  readonly host: string | undefined
  readonly hosts: number
  readonly contentLength: string | undefined
  readonly expect: string | undefined
  /** The request body as it arrives; null when the request declares none. */
  readonly body: RequestBody | null
  /** Why the exchange ended before its answer was complete (the client went, a limit cut it off). */
  errored: Error | null = null
  /** The whole request has arrived. */
  requestComplete = false
  readonly #conn: ServerConnection
  readonly #keepAliveAsked: boolean
  #cancel: Cancellation | null = null
  #head: string | null = null
  #headersSent = false
  #chunked = false
  #noBody = false
  #finished = false
  #closed = false

  constructor(conn: ServerConnection, method: string, target: string, httpMinor: number, rawHeaders: string[], keepAlive: boolean) {
    super()
    this.#conn = conn
    this.method = method
    this.target = target
    this.httpMinor = httpMinor
    this.rawHeaders = rawHeaders
    this.#keepAliveAsked = keepAlive
    let host: string | undefined
    let hosts = 0
    let length: string | undefined
    let expect: string | undefined
    let chunked = false
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!
      // By length first: most header names are none of these four.
      switch (name.length) {
        case 4:
          if (name.toLowerCase() === 'host' && hosts++ === 0) host = rawHeaders[i + 1]
          break
        case 6:
          if (expect === undefined && name.toLowerCase() === 'expect') expect = rawHeaders[i + 1]
          break
        case 14:
          if (length === undefined && name.toLowerCase() === 'content-length') length = rawHeaders[i + 1]
          break
        case 17:
          if (name.toLowerCase() === 'transfer-encoding') chunked = true
          break
      }
    }
    this.host = host
    this.hosts = hosts
    this.contentLength = length
    this.expect = expect
    // llhttp has checked the framing (a length and chunked together is refused); no framing, or a length of
    // zero, is no body.
    this.body = chunked || (length !== undefined && length !== '0') ? new RequestBody(conn) : null
  }

  /**
   * Aborts, with the error that ended it, when the exchange ends before its answer is complete (the client went
   * away, a timeout or a parse error cut the connection): the request's signal (node-request.ts). Made when
   * first asked for.
   */
  get signal(): CancelSignal {
    if (this.#cancel === null) {
      this.#cancel = new Cancellation()
      if (this.errored !== null) this.#cancel.abort(this.errored)
    }
    return this.#cancel
  }

  get headersSent(): boolean {
    return this.#headersSent
  }

  /** end() was called: the whole answer is with the socket. */
  get writableFinished(): boolean {
    return this.#finished
  }

  get destroyed(): boolean {
    return this.#closed && !this.#finished
  }

  /** `100 Continue`, for a client that waits for it before sending the body. */
  writeContinue(): void {
    if (!this.#headersSent && !this.#closed) this.#conn.socket.write('HTTP/1.1 100 Continue\r\n\r\n', 'latin1')
  }

  /**
   * The status line and fields (lower-case names; framing and connection management are this writer's, so
   * transfer-encoding/keep-alive must not be among them; `connection: close` is honoured). Sent with the first
   * write() or end().
   */
  writeHead(status: number, statusText: string | undefined, headers: Record<string, string | string[]>): void {
    if (this.#headersSent || this.#head !== null) throw new Error('the response head was already written')
    const reason = statusText !== undefined && statusText !== '' && !/[\r\n]/.test(statusText) ? statusText : (STATUS_CODES[status] ?? '')
    let head = `HTTP/1.1 ${status} ${reason}\r\n`
    let length = false
    let close = false
    let date = false
    for (const name in headers) {
      const value = headers[name]!
      if (name === 'connection') {
        close = value === 'close'
        continue
      }
      if (name === 'content-length') length = true
      else if (name === 'date') date = true
      if (typeof value === 'string') head += `${name}: ${value}\r\n`
      else for (const v of value) head += `${name}: ${v}\r\n`
    }
    if (!date) head += `date: ${httpDate()}\r\n`
    this.#noBody = this.method === 'HEAD' || bodiless(status)
    this.#chunked = !this.#noBody && !length && this.httpMinor === 1
    // Without a length or chunking (an HTTP/1.0 client), the body ends with the connection.
    const delimited = this.#noBody || length || this.#chunked
    const keep = this.#keepAliveAsked && !close && delimited && this.#conn.keepsAlive()
    if (this.#chunked) head += 'transfer-encoding: chunked\r\n'
    head += keep ? this.#conn.keepAliveFields : 'connection: close\r\n'
    if (!keep) this.#conn.closeAfter(this)
    this.#head = `${head}\r\n`
  }

  /** One body chunk; false when the socket's buffer is full (wait for 'drain'). */
  write(chunk: Uint8Array): boolean {
    if (this.#closed || this.#finished) return false
    const socket = this.#conn.socket
    const head = this.#head
    if (head === null && !this.#headersSent) throw new Error('write() before writeHead()')
    if (this.#noBody || chunk.byteLength === 0) {
      if (head !== null) this.#sendHead(socket, head)
      return socket.writableLength < socket.writableHighWaterMark
    }
    if (head !== null && !this.#chunked) return this.#sendHead(socket, head, chunk)
    socket.cork()
    if (head !== null) this.#sendHead(socket, head)
    const ok = this.#chunk(socket, chunk)
    socket.uncork()
    return ok
  }

  /** The last chunk (if any) and the end of the answer. */
  end(chunk?: Uint8Array): void {
    if (this.#closed || this.#finished) return
    const socket = this.#conn.socket
    const head = this.#head
    if (head === null && !this.#headersSent) throw new Error('end() before writeHead()')
    const data = chunk !== undefined && chunk.byteLength > 0 && !this.#noBody
    if (head !== null && !this.#chunked) this.#sendHead(socket, head, data ? chunk : null)
    else {
      // More than one write: corked into one writev.
      const corked = data || (this.#chunked && head !== null)
      if (corked) socket.cork()
      if (head !== null) this.#sendHead(socket, head)
      if (data) this.#chunk(socket, chunk)
      if (this.#chunked) socket.write('0\r\n\r\n', 'latin1')
      if (corked) socket.uncork()
    }
    this.#finished = true
    this.#close(null)
    this.#conn.answered(this)
  }

  /** Cuts the answer off: the connection is closed (the client sees a truncated message). */
  destroy(err?: Error): void {
    if (this.#closed) return
    this.#conn.socket.destroy(err)
  }

  /** The head, and a body chunk that needs no framing of its own with it; false when the socket's buffer is full. */
  #sendHead(socket: Socket, head: string, body: Uint8Array | null = null): boolean {
    this.#head = null
    this.#headersSent = true
    return writeMessage(socket, head, body)
  }

  #chunk(socket: Socket, chunk: Uint8Array): boolean {
    if (!this.#chunked) return socket.write(chunk)
    socket.write(`${chunk.byteLength.toString(16)}\r\n`, 'latin1')
    socket.write(chunk)
    return socket.write('\r\n', 'latin1')
  }

  /** The connection's side: the exchange is over (answered, or `err` ended it). */
  #close(err: Error | null): void {
    if (this.#closed) return
    this.#closed = true
    if (err !== null) {
      this.errored = err
      if (this.body !== null && !this.requestComplete) this.body.destroy(err)
      this.#cancel?.abort(err)
    }
    this.emit('close')
  }

  /** Called by the connection: the exchange ends without a complete answer. */
  abort(err: Error): void {
    this.#close(err)
  }
}

/**
 * A request body as it arrives, with backpressure on the connection. `takeWhole()` hands over all of it at once
 * when it had all arrived before anything read it: the upstream client then sends it with the request's head in
 * one write, as it does a body the core made.
 */
export class RequestBody extends Readable {
  /** The body's last byte has arrived (pushed, with its end). */
  complete = false
  readonly #conn: ServerConnection

  constructor(conn: ServerConnection) {
    super()
    this.#conn = conn
  }

  override _read(): void {
    this.#conn.bodyRead()
  }

  /** The whole body, now the caller's, when it is complete and untouched; otherwise null (stream it). */
  takeWhole(): Uint8Array<ArrayBuffer> | null {
    // Flowing, paused or read: someone else has it (or part of it) already.
    if (!this.complete || this.readableFlowing !== null || this.readableDidRead || this.destroyed) return null
    // Ended and untouched: read() returns every buffered chunk joined.
    return this.read() as Buffer<ArrayBuffer> | null
  }
}

/** The part of a socket's libuv handle (net.Socket's `_handle`) the parser is given to read. */
type StreamHandle = { isStreamBase?: boolean; _consumed?: boolean; reading: boolean; readStart(): number; readStop(): number }

/** One client connection: its parser, its exchanges in order, and where it is for the timeouts. */
class ServerConnection {
  readonly socket: Socket
  readonly keepAliveFields: string
  readonly #server: Http1Server
  readonly #options: Http1ServerOptions
  readonly #parser: Parser
  /** Exchanges in arrival order; the first is the one being answered. */
  readonly #queue: ServerExchange[] = []
  /** The exchange whose request the parser is reading (its body goes there). */
  #reading: ServerExchange | null = null
  /** Where the parser is: between requests, in a head, or in a body; and since when. */
  #phase: 'between' | 'head' | 'body' = 'between'
  #since: number
  /** No request yet: silence is measured against the headers timeout, not the idle one. */
  #fresh = true
  /** The connection closes once the answer to this exchange is written. */
  #closeAfter: ServerExchange | null = null
  /** The rest of the stream is not HTTP (an upgrade or CONNECT) or cannot be trusted (after an error). */
  #stopped = false
  #bodyFull = false
  #partialHeaders: string[] | null = null
  #partialUrl = ''
  /**
   * A request with a body whose head came in the read being parsed: handed over once its body is complete, or
   * at the end of the read, whichever comes first, so a small body that came with its head goes up with it.
   */
  #held: ServerExchange | null = null
  /** The socket's handle while the parser reads it (null: reads come as 'data'). */
  #handle: StreamHandle | null = null
  /** Bytes the kernel had taken at the last timeout check (socket-write.ts bytesSent), and since when that stood still. */
  #sent = 0
  #sentSince = 0

  constructor(server: Http1Server, socket: Socket, options: Http1ServerOptions) {
    this.#server = server
    this.#options = options
    this.socket = socket
    this.#since = Date.now()
    this.#sentSince = this.#since
    this.keepAliveFields = `connection: keep-alive\r\nkeep-alive: timeout=${Math.floor(options.idleTimeoutMs / 1000)}\r\n`
    socket.setNoDelay(true)
    const parser = new HTTPParser()
    parser.initialize(HTTPParser.REQUEST, {}, options.maxHeaderBytes, HTTPParser.kLenientNone)
    parser[HTTPParser.kOnMessageBegin] = () => {
      this.#phase = 'head'
      this.#since = Date.now()
      this.#fresh = false
    }
    parser[HTTPParser.kOnHeaders] = (headers: string[], url: string) => {
      // A head longer than one read, or with more than 32 fields: llhttp hands it over in parts.
      this.#partialHeaders = this.#partialHeaders === null ? headers.slice() : this.#partialHeaders.concat(headers)
      this.#partialUrl += url
    }
    parser[HTTPParser.kOnHeadersComplete] = (_major: number, minor: number, headers: string[] | undefined, method: number, url: string | undefined, _s: unknown, _t: unknown, upgrade: boolean, keepAlive: boolean) =>
      this.#onHead(minor, headers, method, url, upgrade, keepAlive)
    parser[HTTPParser.kOnBody] = (chunk: Buffer) => {
      const body = this.#reading?.body
      if (body != null && !body.destroyed && !body.push(chunk)) {
        this.#bodyFull = true
        this.#flow()
      }
    }
    parser[HTTPParser.kOnMessageComplete] = () => this.#onMessageEnd()
    this.#parser = parser

    // The parser reads the socket's handle itself, as node:http's server does: each read lands in one buffer the
    // binding keeps and is parsed in C++, with no Buffer, 'data' event or nextTick per read (12–15 µs of a hop's
    // CPU, measured side by side; the client's `onread` does the like for its side). EOF and read errors still
    // reach the socket ('end', 'close'); what is read after the parser lets go (unconsume(), once nothing more
    // is parsed) comes as 'data'.
    const handle = (socket as unknown as { _handle?: StreamHandle | null })._handle
    if (handle?.isStreamBase === true && handle._consumed !== true) {
      handle._consumed = true
      parser[HTTPParser.kOnExecute] = (parsed: number | (Error & { code?: string })) => {
        if (parsed instanceof Error) this.#clientError(parsed.code ?? 'HPE_INVALID')
        else this.#release()
      }
      parser.consume(handle)
      this.#handle = handle
    }
    socket.on('data', (data: Buffer) => {
      if (this.#stopped) return
      const parsed = parser.execute(data)
      if (parsed instanceof Error) this.#clientError(parsed.code ?? 'HPE_INVALID')
      else this.#release()
    })
    socket.on('end', () => {
      // The client sends nothing more (a half-close): what is in progress is still answered, then the
      // connection closes.
      if (!this.#stopped) {
        const finished = parser.finish()
        if (finished instanceof Error) return this.#clientError(finished.code ?? 'HPE_INVALID')
      }
      this.#stop()
      const last = this.#queue.at(-1)
      if (last === undefined) socket.end()
      else this.#closeAfter = last
    })
    // The answer being written waits for room in the socket's buffer.
    socket.on('drain', () => this.#queue[0]?.emit('drain'))
    socket.on('error', () => {}) // 'close' follows; the exchanges learn of it there
    socket.on('close', () => this.#onClose())
    // A socket handed over paused (`pauseOnConnect`) stays so until told: 'end' needs it flowing either way.
    socket.resume()
  }

  /** Whether an answer may leave the connection open (not while the server closes). */
  keepsAlive(): boolean {
    return this.#server.listening && this.#closeAfter === null && !this.#stopped
  }

  closeAfter(exchange: ServerExchange): void {
    this.#closeAfter = exchange
  }

  /** The request body's reader wants more. */
  bodyRead(): void {
    if (this.#bodyFull) {
      this.#bodyFull = false
      this.#flow()
    }
  }

  /** Reads while a body has room and few requests wait; stops otherwise. */
  #flow(): void {
    const stop = this.#bodyFull || this.#queue.length > MAX_QUEUED
    const handle = this.#handle
    if (handle === null) {
      if (stop) this.socket.pause()
      else this.socket.resume()
    } else if (stop === handle.reading) {
      // Read by the parser, the socket's pause() would stop nothing: the handle's reading is switched as
      // node:http does, keeping the `reading` flag net.Socket consults in step.
      handle.reading = !stop
      if (stop) handle.readStop()
      else handle.readStart()
    }
  }

  /** Nothing more on this connection is parsed: reads that still come are dropped by the 'data' listener. */
  #stop(): void {
    this.#stopped = true
    if (this.#handle !== null) {
      this.#handle = null
      this.#parser.unconsume()
      this.socket.resume()
    }
  }

  #onHead(minor: number, headers: string[] | undefined, method: number, url: string | undefined, upgrade: boolean, keepAlive: boolean): number {
    if (headers === undefined) headers = this.#partialHeaders ?? []
    else if (this.#partialHeaders !== null) headers = this.#partialHeaders.concat(headers)
    if (url === undefined || url === '') url = this.#partialUrl
    this.#partialHeaders = null
    this.#partialUrl = ''
    this.#phase = 'body'
    const exchange = new ServerExchange(this, methods[method] ?? 'GET', url, minor, headers, keepAlive && !upgrade)
    if (upgrade) {
      // CONNECT or `Connection: upgrade`: what follows the head is another protocol, never parsed.
      this.#stop()
      this.#closeAfter = exchange
    }
    this.#reading = exchange
    this.#queue.push(exchange)
    if (this.#queue.length === 1) {
      if (exchange.body !== null && !upgrade) this.#held = exchange
      else this.#options.onRequest(exchange)
    } else if (this.#queue.length > MAX_QUEUED) this.#flow()
    return 0
  }

  #onMessageEnd(): void {
    // Trailer fields of a chunked body come like split header fields: not passed on, not left for the next head.
    this.#partialHeaders = null
    this.#partialUrl = ''
    this.#phase = 'between'
    this.#since = Date.now()
    const exchange = this.#reading
    if (exchange === null) return
    this.#reading = null
    exchange.requestComplete = true
    const body = exchange.body
    if (body !== null) {
      body.complete = true
      body.push(null)
    }
    // An ended body never asks for more: if its last chunk filled it, reading would otherwise stay stopped and
    // the next request on the connection never be read.
    if (this.#bodyFull) {
      this.#bodyFull = false
      this.#flow()
    }
    if (this.#held === exchange) return this.#release()
    // Answered already, its body read to the end meanwhile: the next request's turn.
    if (exchange.writableFinished && this.#queue[0] === exchange) this.#next()
  }

  /** The held request goes to the core: its body is complete, or the read it began in has been parsed. */
  #release(): void {
    const held = this.#held
    if (held === null) return
    this.#held = null
    this.#options.onRequest(held)
  }

  /** The first exchange's answer is complete. */
  answered(exchange: ServerExchange): void {
    if (this.socket.destroyed) return
    if (this.#closeAfter === exchange) {
      // After the answer is out: end() then destroy() once flushed (a client that never closes its side
      // cannot hold the socket).
      this.#stop()
      this.socket.end()
      this.socket.once('finish', () => this.socket.destroy())
      return
    }
    if (!exchange.requestComplete) {
      // Answered before the body ended: the rest is read and dropped, then the next request's turn.
      const body = exchange.body
      if (body !== null) {
        body.removeAllListeners('data')
        body.resume()
      }
      return
    }
    this.#next()
  }

  #next(): void {
    this.#queue.shift()
    if (this.#queue.length === MAX_QUEUED) this.#flow()
    const next = this.#queue[0]
    if (next !== undefined) this.#options.onRequest(next)
    else if (this.#phase === 'between') this.#since = Date.now()
  }

  /** Checked on the server's timer: a head or request too slow, a connection idle too long. */
  checkTimeouts(now: number): void {
    const { headersTimeoutMs, requestTimeoutMs, idleTimeoutMs } = this.#options
    if (this.#sendStalled(now, idleTimeoutMs)) return void this.socket.destroy()
    const elapsed = now - this.#since
    if (this.#phase === 'head' && elapsed >= headersTimeoutMs) this.#clientError('ERR_HTTP_REQUEST_TIMEOUT')
    else if (this.#phase === 'body' && requestTimeoutMs > 0 && elapsed >= requestTimeoutMs) this.#clientError('ERR_HTTP_REQUEST_TIMEOUT')
    else if (this.#phase === 'between' && this.#queue.length === 0 && elapsed >= (this.#fresh ? headersTimeoutMs : idleTimeoutMs)) this.socket.destroy()
  }

  /**
   * An answer waiting to be written that has not moved for the idle timeout: the client stopped reading (what
   * Envoy's stream idle timeout ends too). Waiting: bytes in the socket's buffer or libuv's queue. Moving: the
   * bytes the kernel has taken grew since the last check (counted as each write completes, so a client reading
   * slowly still moves it once per buffer it takes).
   */
  #sendStalled(now: number, limitMs: number): boolean {
    const sent = bytesSent(this.socket)
    if (bytesWaiting(this.socket) === 0 || sent !== this.#sent) {
      this.#sent = sent
      this.#sentSince = now
      return false
    }
    return now - this.#sentSince >= limitMs
  }

  /** Closes if nothing is in progress (server shutdown); otherwise after the current answer. */
  closeIfIdle(): void {
    if (this.#queue.length === 0 && this.#phase === 'between') this.socket.destroy()
    else if (this.#closeAfter === null) this.#closeAfter = this.#queue.at(-1) ?? null
  }

  /** The request cannot be read on: answered by the server's owner if nothing of an answer went out, else cut. */
  #clientError(code: string): void {
    if (this.#stopped && this.#queue.length === 0) return
    this.#stop()
    const started = this.#queue[0]?.headersSent === true
    const err = new ClientAbortedError(code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'the request did not arrive in time' : `the request is not valid HTTP/1.1 (${code})`)
    this.#held = null
    for (const exchange of this.#queue.splice(0)) exchange.abort(err)
    this.#reading = null
    if (started || !this.socket.writable) this.socket.destroy()
    else this.#options.onClientError(this.socket, code)
  }

  #onClose(): void {
    this.#stopped = true
    this.#server.forget(this)
    const err = new ClientAbortedError('the client closed the connection before the exchange was complete')
    this.#held = null
    for (const exchange of this.#queue.splice(0)) exchange.abort(err)
    this.#reading = null
  }
}

/**
 * A net.Server speaking HTTP/1.1 through ServerConnection: listen(), close(), address(), getConnections(),
 * maxConnections and its 'drop' event are net.Server's; close() also closes idle connections and lets busy ones
 * finish their answer (then closes them), closeAllConnections() cuts every one.
 */
export class Http1Server extends Server {
  readonly #connections = new Set<ServerConnection>()
  #timer: NodeJS.Timeout | undefined

  constructor(options: Http1ServerOptions) {
    // Half-open: a client that ends its side after the request still reads the answer.
    super({ allowHalfOpen: true })
    this.on('connection', (socket: Socket) => {
      this.#connections.add(new ServerConnection(this, socket, options))
      if (this.#timer === undefined) {
        this.#timer = setInterval(() => {
          const now = Date.now()
          for (const c of this.#connections) c.checkTimeouts(now)
        }, options.checkIntervalMs)
        this.#timer.unref()
      }
    })
  }

  forget(connection: ServerConnection): void {
    this.#connections.delete(connection)
    if (this.#connections.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer)
      this.#timer = undefined
    }
  }

  override close(callback?: (err?: Error) => void): this {
    super.close(callback)
    for (const c of this.#connections) c.closeIfIdle()
    return this
  }

  closeAllConnections(): void {
    for (const c of this.#connections) c.socket.destroy()
  }
}
