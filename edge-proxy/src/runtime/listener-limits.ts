// The hardening limits of the sidecar's inbound and outbound listeners, after Envoy's "Configuring Envoy as an
// edge proxy" guide: header size and count, request/headers/idle timeouts, body size, connection count. Each
// refusal the proxy can still answer is problem+json with a `Weft-Reason`, like every other proxy-made answer.
import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { WeftReason } from '../../../mesh/src/policy/index'
import { problemResponse, type ProxyLogger } from '../core/index'
import { declaredOverLimit, withBodyLimit } from './body-limit'
import { Http1Server, type ServerExchange } from './http1-server'
import { incomingRequest, RequestTargetError } from './node-request'
import { writeResponse } from './node-response'

export type ListenerLimits = {
  /** Request line plus headers, in bytes (Envoy `max_request_headers_kb`: 60 KiB). */
  maxHeaderBytes: number
  /** Header fields per request (Envoy `max_headers_count`: 100). */
  maxHeaders: number
  /** Request body bytes; counted as the body streams. */
  maxBodyBytes: number
  /** Until the request headers are complete (slowloris); also how long a new connection may stay silent. */
  headersTimeoutMs: number
  /** Until the whole request, body included, has arrived (Envoy `request_timeout`). 0: none. */
  requestTimeoutMs: number
  /**
   * A keep-alive connection with no request in progress is closed after this (Envoy `idle_timeout`); so is one
   * whose answer the client has taken none of for as long (Envoy's `stream_idle_timeout` covers that case).
   */
  idleTimeoutMs: number
  /** Open connections per listener; more are closed on accept (Envoy's overload manager). 0: unlimited. */
  maxConnections: number
}

export const DEFAULT_LISTENER_LIMITS: Readonly<ListenerLimits> = Object.freeze({
  maxHeaderBytes: 60 * 1024,
  maxHeaders: 100,
  maxBodyBytes: 10 * 1024 * 1024,
  headersTimeoutMs: 10_000,
  // The edge guide's 5 minutes for both: Envoy's 1 h downstream idle is long for a sidecar whose callers are
  // other sidecars' pools (they close idle connections after 30 s, before this side does: no reset races).
  requestTimeoutMs: 300_000,
  idleTimeoutMs: 300_000,
  maxConnections: 10_000,
})

/** Why a listener refused, as counted in `weft_listener_refusals_total`. */
export type ListenerRefusal = 'header-too-large' | 'body-too-large' | 'request-timeout' | 'malformed-request' | 'tunnel-unsupported' | 'connection-limit'

export type LimitedServerOptions = {
  /** `inbound` or `outbound`: names the listener in logs and metrics. */
  name: string
  limits: ListenerLimits
  logger: ProxyLogger
  onRefusal?: (listener: string, refusal: ListenerRefusal) => void
}

/** Every limit a positive integer (0 allowed where it means "off"), headers within the request timeout. */
export function checkListenerLimits(limits: ListenerLimits): ListenerLimits {
  const positive = ['maxHeaderBytes', 'maxHeaders', 'maxBodyBytes', 'headersTimeoutMs', 'idleTimeoutMs'] as const
  for (const k of positive) if (!Number.isSafeInteger(limits[k]) || limits[k] < 1) throw new RangeError(`listener limit ${k} must be a positive integer (got ${limits[k]})`)
  for (const k of ['requestTimeoutMs', 'maxConnections'] as const) {
    if (!Number.isSafeInteger(limits[k]) || limits[k] < 0) throw new RangeError(`listener limit ${k} must be a non-negative integer (got ${limits[k]})`)
  }
  // A headers timeout past the request timeout would never fire.
  if (limits.requestTimeoutMs > 0 && limits.headersTimeoutMs > limits.requestTimeoutMs) {
    throw new RangeError(`the headers timeout (${limits.headersTimeoutMs}ms) must not exceed the request timeout (${limits.requestTimeoutMs}ms)`)
  }
  return limits
}

/**
 * The timeouts are checked on one timer per listener, not one per socket (node:http does the same, every 30 s
 * by default: a 10 s headers timeout could in fact last 40 s). A tenth of the shortest timeout, between 100 ms
 * and 1 s, keeps the overshoot small.
 */
export function connectionsCheckingInterval(limits: Pick<ListenerLimits, 'headersTimeoutMs' | 'requestTimeoutMs'> & Partial<Pick<ListenerLimits, 'idleTimeoutMs'>>): number {
  let shortest = limits.requestTimeoutMs > 0 ? Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) : limits.headersTimeoutMs
  if (limits.idleTimeoutMs !== undefined) shortest = Math.min(shortest, limits.idleTimeoutMs)
  return Math.min(1_000, Math.max(100, Math.floor(shortest / 10)))
}

/** The answer to a request the parser gave up on, as raw HTTP/1.1 (there is no exchange to answer it on). */
async function rawProblem(reason: WeftReason, detail: string): Promise<string> {
  const response = problemResponse(reason, { detail, headers: { connection: 'close' } })
  const body = await response.text()
  const lines = [`HTTP/1.1 ${response.status} ${STATUS_CODES[response.status] ?? ''}`]
  response.headers.forEach((value, name) => lines.push(`${name}: ${value}`))
  lines.push(`content-length: ${Buffer.byteLength(body)}`)
  return `${lines.join('\r\n')}\r\n\r\n${body}`
}

/**
 * Writes the problem and closes: end(), not destroy(), since a reset could discard the answer before the client
 * reads it; the timer stops a client that never closes its side from holding the socket.
 */
function answerRaw(socket: Socket, reason: WeftReason, detail: string): void {
  void rawProblem(reason, detail).then((raw) => {
    if (!socket.writable) return
    socket.end(raw)
    setTimeout(() => socket.destroy(), 1_000).unref()
  })
}

/** What the parser's error means for the caller. */
function clientErrorAnswer(code: string | undefined, limits: ListenerLimits): { refusal: Exclude<ListenerRefusal, 'connection-limit' | 'tunnel-unsupported'>; detail: string } {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return { refusal: 'header-too-large', detail: `the request line and headers exceed this listener's limit of ${limits.maxHeaderBytes} bytes` }
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return {
        refusal: 'request-timeout',
        detail: `the request did not arrive in time (headers within ${limits.headersTimeoutMs}ms${limits.requestTimeoutMs > 0 ? `, the whole request within ${limits.requestTimeoutMs}ms` : ''})`,
      }
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return { refusal: 'body-too-large', detail: 'the chunk extensions of the request body are too large' }
    default:
      return { refusal: 'malformed-request', detail: `the request is not valid HTTP/1.1 (${code ?? 'parse error'})` }
  }
}

/**
 * An HTTP/1.1 server (http1-server.ts) for one of the sidecar's listeners: `handler` behind the limits. Header
 * size and the timeouts are the server's (its parser and timer), answered here as problem+json; header count
 * and body size are checked per request; the connection limit closes sockets on accept (no answer is possible
 * then: the request has not been read), counted and logged.
 */
export function createLimitedServer(handler: (request: Request) => Promise<Response>, options: LimitedServerOptions): Http1Server {
  const limits = checkListenerLimits(options.limits)
  const { name, logger } = options
  const refused = (refusal: ListenerRefusal) => options.onRefusal?.(name, refusal)
  const limited = withBodyLimit(handler, limits.maxBodyBytes, () => refused('body-too-large'))
  // The handler never throws to the server: a request target that is no URL and a handler that failed both
  // become problem+json (a bare 400/500 would be a mystery answer).
  const serve = async (exchange: ServerExchange): Promise<void> => {
    let response: Response
    try {
      response = await limited(incomingRequest(exchange))
    } catch (err) {
      if (err instanceof RequestTargetError) {
        refused('malformed-request')
        response = problemResponse('malformed-request', { detail: `the request target cannot be used: ${err.message}`, headers: { connection: 'close' }, method: exchange.method })
      } else {
        logger.error({ listener: name, err: String(err), stack: (err as Error)?.stack }, 'request handler failed')
        response = problemResponse('proxy-error', { detail: 'the proxy failed while handling this request; see its log', method: exchange.method })
      }
    }
    await writeResponse(response, exchange, exchange.method)
  }

  /** What the request's head alone disqualifies it for, before any handler runs. */
  const refusalOf = (exchange: ServerExchange): { refusal: Exclude<ListenerRefusal, 'connection-limit'>; detail: string } | null => {
    // Without an answer a tunnelling client (HTTPS_PROXY pointing here) would see a bare reset; tell it
    // instead that mesh calls are plain http://<service>/ through the proxy.
    if (exchange.method === 'CONNECT') {
      return { refusal: 'tunnel-unsupported', detail: `CONNECT ${exchange.target}: this listener opens no tunnels; call http://<service>/… through it (the sidecar adds identity, the mesh needs no TLS from the app)` }
    }
    const count = exchange.rawHeaders.length / 2
    if (count > limits.maxHeaders) return { refusal: 'header-too-large', detail: `the request has ${count} header fields; this listener allows ${limits.maxHeaders}` }
    if (exchange.httpMinor === 1 && exchange.host === undefined) return { refusal: 'malformed-request', detail: 'an HTTP/1.1 request without a Host header' }
    // Two Host fields could name two authorities to two readers (RFC 9112 §3.2: answered 400).
    if (exchange.hosts > 1) return { refusal: 'malformed-request', detail: `the request has ${exchange.hosts} Host header fields` }
    return null
  }

  const onRequest = (exchange: ServerExchange) => {
    const early = refusalOf(exchange)
    if (early === null) {
      // `Expect: 100-continue`: a client that waits for leave to send gets none for a request refused anyway,
      // so it never uploads a body that is declared too large.
      if (exchange.expect?.toLowerCase() === '100-continue' && declaredOverLimit(exchange.contentLength, limits.maxBodyBytes) === null) exchange.writeContinue()
      void serve(exchange)
      return
    }
    refused(early.refusal)
    void writeResponse(problemResponse(early.refusal, { detail: early.detail, headers: { connection: 'close' }, method: exchange.method }), exchange, exchange.method)
  }

  const server = new Http1Server({
    maxHeaderBytes: limits.maxHeaderBytes,
    headersTimeoutMs: limits.headersTimeoutMs,
    requestTimeoutMs: limits.requestTimeoutMs,
    idleTimeoutMs: limits.idleTimeoutMs,
    checkIntervalMs: connectionsCheckingInterval(limits),
    onRequest,
    onClientError(socket: Socket, code: string) {
      const { refusal, detail } = clientErrorAnswer(code, limits)
      refused(refusal)
      logger.debug({ listener: name, refusal, code, remote: socket.remoteAddress }, 'request refused by a listener limit')
      answerRaw(socket, refusal, detail)
    },
  })
  if (limits.maxConnections > 0) server.maxConnections = limits.maxConnections

  // net.Server reports connections it closed for maxConnections; logged at most once a second.
  let lastDropLog = 0
  let dropsSinceLog = 0
  server.on('drop', () => {
    refused('connection-limit')
    dropsSinceLog++
    const now = Date.now()
    if (now - lastDropLog >= 1_000) {
      logger.warn({ listener: name, maxConnections: limits.maxConnections, dropped: dropsSinceLog }, 'connection limit reached: new connections are being closed')
      lastDropLog = now
      dropsSinceLog = 0
    }
  })
  return server
}
