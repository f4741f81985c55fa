// The sidecar's HTTP/1.1 client towards upstream sidecars and its own app: keep-alive connections over node:net
// (http1-connection.ts), one pool per origin, responses read by Node's own llhttp parser (the binding node:http
// itself uses, reached through `_http_common`).
//
// Why not undici, which the data plane used before: a minimal node:http server forwarding through undici's
// pool cost 85–116 µs of CPU per request on the bench machine, the same server forwarding through a client
// like this one 51–56 µs (measured side by side, CPU of the proxy process under `wrk -t1 -c16`). undici
// builds a request object, a handler chain, a body stream and a header record per exchange, and parses with
// llhttp compiled to WASM, calling into JS per token; a proxy that writes a head it has already serialised and
// mostly passes the response on needs none of that (and undici is not loaded at all now). What the core relies
// on is kept: bodies stream both ways with backpressure, an abort ends the exchange, a connection is reused
// only after a complete exchange the server agreed to keep, and the server's `Keep-Alive: timeout=` hint is
// honoured (a connection is retired a second before it).
import type { Readable } from 'node:stream'
import type { CancelSignal } from '../core/cancel-signal'
import { Connection } from './http1-connection'
import type { ResponseBody } from './response-body'

/** Header values as the core's UpstreamResponse takes them: lower-case names, repeated fields as arrays. */
export type ResponseHeaders = Record<string, string | string[]>

export type Http1Response = {
  readonly statusCode: number
  readonly headers: ResponseHeaders
  /** null when the response has no body (an answer to HEAD, 204, 304). */
  readonly body: ResponseBody | null
}

/** What goes up: the serialised head (request line, headers, framing, blank line) and the body after it. */
export type Http1Request = {
  readonly method: string
  readonly head: string
  /** Already framed by the head: Content-Length bytes, or chunked when `chunked`. */
  readonly body: Uint8Array | Readable | ReadableStream<Uint8Array> | null
  readonly chunked: boolean
  readonly signal?: CancelSignal
}

export type Http1AgentOptions = {
  /** Idle connections close after this long (or a second before the server's Keep-Alive hint, if sooner). */
  readonly idleMs: number
  /** Connections per origin; requests beyond wait for one to come free. Default 256. */
  readonly maxConnectionsPerOrigin?: number
  /** Largest response head accepted, bytes. Default 16 KiB (Node's and undici's). */
  readonly maxHeaderBytes?: number
  /** A connect that takes longer fails as a connect failure. Default 10 s (undici's). */
  readonly connectTimeoutMs?: number
}

/** The agent was closed; nothing more is sent through it. */
export class AgentClosedError extends Error {
  static code = 'ERR_WEFT_AGENT_CLOSED'
  code = AgentClosedError.code
  constructor() {
    super('the upstream connection pool is closed')
    this.name = 'AgentClosedError'
  }
}

/** Keep-alive connection pools, one per origin (`http://host:port`). */
export class Http1Agent {
  readonly #pools = new Map<string, OriginPool>()
  readonly #idleMs: number
  readonly #max: number
  readonly #maxHeaderBytes: number
  readonly #connectTimeoutMs: number
  #sweep: NodeJS.Timeout | undefined
  #closed = false

  constructor(options: Http1AgentOptions) {
    const { idleMs } = options
    if (!Number.isSafeInteger(idleMs) || idleMs < 1) throw new RangeError(`the upstream idle timeout must be a positive integer of milliseconds (got ${idleMs})`)
    this.#idleMs = idleMs
    this.#max = options.maxConnectionsPerOrigin ?? 256
    this.#maxHeaderBytes = options.maxHeaderBytes ?? 16 * 1024
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 10_000
  }

  /** Sends `request` to `origin` and resolves once the response head has arrived. */
  send(origin: string, request: Http1Request): Promise<Http1Response> {
    if (this.#closed) return Promise.reject(new AgentClosedError())
    let pool = this.#pools.get(origin)
    if (pool === undefined) {
      pool = new OriginPool(origin, this)
      this.#pools.set(origin, pool)
    }
    return pool.send(request)
  }

  /** Closes idle connections now and the others once their exchange ends; resolves when all are closed. */
  async close(): Promise<void> {
    this.#closed = true
    clearInterval(this.#sweep)
    await Promise.all([...this.#pools.values()].map((p) => p.close()))
  }

  /** Open connections (busy and idle) per origin, for tests and the admin view. */
  connections(): Record<string, { busy: number; idle: number }> {
    const out: Record<string, { busy: number; idle: number }> = {}
    for (const [origin, pool] of this.#pools) out[origin] = { busy: pool.open - pool.idle.length, idle: pool.idle.length }
    return out
  }

  get idleMs(): number {
    return this.#idleMs
  }
  get maxConnections(): number {
    return this.#max
  }
  get maxHeaderBytes(): number {
    return this.#maxHeaderBytes
  }
  get connectTimeoutMs(): number {
    return this.#connectTimeoutMs
  }

  /** One timer for the whole agent retires idle connections (cheaper than a timer armed per exchange). */
  idleAdded(): void {
    if (this.#sweep !== undefined || this.#closed) return
    const every = Math.min(1_000, Math.max(25, this.#idleMs >> 2))
    this.#sweep = setInterval(() => {
      const now = Date.now()
      let idle = 0
      for (const pool of this.#pools.values()) idle += pool.retireIdle(now)
      if (idle === 0) {
        clearInterval(this.#sweep)
        this.#sweep = undefined
      }
    }, every)
    this.#sweep.unref()
  }
}

type Waiter = { readonly request: Http1Request; resolve(r: Http1Response): void; reject(e: unknown): void; onAbort?: () => void }

/** The connections to one origin: idle ones, how many are open, and requests waiting for one. */
export class OriginPool {
  readonly agent: Http1Agent
  readonly host: string
  readonly port: number
  /** Most recently used last: reusing the warmest connection lets the others age out. */
  readonly idle: Connection[] = []
  /** Connections made and not yet closed, busy or idle (or still connecting). */
  open = 0
  readonly #waiters: Waiter[] = []
  #closed: (() => void) | null = null

  constructor(origin: string, agent: Http1Agent) {
    const url = new URL(origin)
    if (url.protocol !== 'http:') throw new TypeError(`the sidecar's upstream client speaks plain HTTP/1.1 (got ${origin})`)
    this.agent = agent
    this.host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
    this.port = Number(url.port || 80)
  }

  send(request: Http1Request): Promise<Http1Response> {
    const signal = request.signal
    if (signal?.aborted) return Promise.reject(signal.reason)
    return new Promise<Http1Response>((resolve, reject) => {
      const now = Date.now()
      for (let conn = this.idle.pop(); conn !== undefined; conn = this.idle.pop()) {
        if (conn.usableAt(now)) return conn.start(request, resolve, reject)
        conn.socket.destroy()
      }
      if (this.open < this.agent.maxConnections) return this.#open(request, resolve, reject)
      const waiter: Waiter = { request, resolve, reject }
      if (signal !== undefined) {
        waiter.onAbort = () => {
          const i = this.#waiters.indexOf(waiter)
          if (i >= 0) this.#waiters.splice(i, 1)
          reject(signal.reason)
        }
        signal.addEventListener('abort', waiter.onAbort, { once: true })
      }
      this.#waiters.push(waiter)
    })
  }

  /** A request sent again after a reused connection failed under it: on a new connection, or the next one free. */
  resend(request: Http1Request, resolve: (r: Http1Response) => void, reject: (e: unknown) => void): void {
    if (this.#closed !== null) return reject(new AgentClosedError())
    if (this.open < this.agent.maxConnections) return this.#open(request, resolve, reject)
    this.send(request).then(resolve, reject)
  }

  #open(request: Http1Request, resolve: (r: Http1Response) => void, reject: (e: unknown) => void): void {
    this.open++
    new Connection(this).start(request, resolve, reject)
  }

  /** A connection finished its exchange and may be reused: the next waiter gets it, or it waits idle. */
  release(conn: Connection): void {
    const waiter = this.#nextWaiter()
    if (waiter !== undefined) {
      conn.start(waiter.request, waiter.resolve, waiter.reject)
      return
    }
    if (this.#closed !== null) {
      conn.socket.destroy()
      return
    }
    this.idle.push(conn)
    this.agent.idleAdded()
  }

  /** A connection closed: forget it, and let a waiter open a new one in its place. */
  closed(conn: Connection): void {
    this.open--
    const i = this.idle.indexOf(conn)
    if (i >= 0) this.idle.splice(i, 1)
    const waiter = this.#closed === null ? this.#nextWaiter() : undefined
    if (waiter !== undefined) this.#open(waiter.request, waiter.resolve, waiter.reject)
    if (this.#closed !== null && this.open === 0) this.#closed()
  }

  /** The longest-waiting request, no longer listening for its abort (it is about to be sent). */
  #nextWaiter(): Waiter | undefined {
    const waiter = this.#waiters.shift()
    if (waiter?.onAbort !== undefined) waiter.request.signal!.removeEventListener('abort', waiter.onAbort)
    return waiter
  }

  retireIdle(now: number): number {
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const conn = this.idle[i]!
      if (!conn.usableAt(now)) conn.socket.destroy() // 'close' removes it from the list
    }
    return this.idle.length
  }

  close(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#closed = resolve
      for (const w of this.#waiters.splice(0)) w.reject(new AgentClosedError())
      for (const conn of [...this.idle]) conn.socket.destroy()
      if (this.open === 0) resolve()
    })
  }
}

