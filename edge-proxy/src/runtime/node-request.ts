// The sidecar's listeners hand the core a Request-shaped view of a request their HTTP/1.1 server read
// (http1-server.ts), made for a proxy's hot
// path: nothing is built until the core asks for it. `url` and `method` are plain strings; `headers` is one
// HeaderFields (core/header-fields.ts: Fetch's Headers API over the lines the parser read), made on first use; `signal` is the exchange's Cancellation (core/cancel-signal.ts), made when first
// read; `body` is null for GET/HEAD and otherwise a lazy Web stream (node-body.ts) whose Node stream
// dispatchFetch can still pipe as it is. A full `Request` would cost an AbortController, a stream and a Headers
// copy per request whether or not the core reads them (about a tenth of a hop's CPU with @hono/node-server's
// adaptor, used before, which built one as soon as `signal` or `body` was touched; the core touches `signal` on
// every outbound call).
import type { Readable } from 'node:stream'
import { HeaderFields } from '../core/index'
import type { ServerExchange } from './http1-server'
import { lazyWebStream, NodeBackedBody, usedBody } from './node-body'

/** The request target cannot become a URL (bad absolute form, no Host, a backslash in the path). 400 malformed-request. */
export class RequestTargetError extends Error {
  readonly code = 'ERR_WEFT_REQUEST_TARGET'
  constructor(message: string) {
    super(message)
    this.name = 'RequestTargetError'
  }
}

// A host (name or IPv4, optional port) that needs no URL parse to be trusted in `http://${host}${path}`.
const PLAIN_HOST = /^[a-z0-9._-]+(?::\d{1,5})?$/i
// An origin-form target of characters that a URL parser would keep as they are.
const PLAIN_PATH = /^\/[!#$&-;=?-[\]_a-z~]*$/i
// The same for an absolute-form target (`GET http://payments/charge` to the outbound listener): returned as
// sent, like a plain origin-form target. Lower-case and without a port only: anything a parser would change
// (`HTTP://Payments:80/x`) or refuse (`:99999`) goes through the URL parser below.
const PLAIN_ABSOLUTE = /^http:\/\/[a-z0-9._-]+\/[!#$&-;=?-[\]_a-z~]*$/

/**
 * The absolute URL of a request with `target` and the (first) `host` field, as the core reads it; throws
 * RequestTargetError when there is none.
 */
export function requestUrl(target: string, host: string | undefined): string {
  if (target.charCodeAt(0) !== 0x2f) {
    // Absolute form: the outbound listener is an HTTP proxy (`GET http://payments/charge`).
    if (PLAIN_ABSOLUTE.test(target)) return target
    if (!/^https?:\/\//i.test(target)) throw new RequestTargetError(`the request target ${JSON.stringify(target.slice(0, 100))} is neither a path nor an http URL`)
    const pathStart = target.indexOf('/', target.indexOf('//') + 2)
    if (pathStart > 0) refuseBackslash(target.slice(pathStart))
    try {
      return new URL(target).href
    } catch {
      throw new RequestTargetError(`the absolute URL ${JSON.stringify(target.slice(0, 100))} is not valid`)
    }
  }
  if (host === undefined || host === '') throw new RequestTargetError('the request has no Host header')
  if (PLAIN_HOST.test(host) && PLAIN_PATH.test(target)) return `http://${host}${target}`
  refuseBackslash(target)
  let url: URL
  try {
    url = new URL(`http://${host}${target}`)
  } catch {
    throw new RequestTargetError(`the Host header ${JSON.stringify(host.slice(0, 100))} is not a valid authority`)
  }
  // `Host: a/b` or `a@b` would move the path or the authority; the parsed host must be the one sent.
  const bare = host.toLowerCase().replace(/:\d+$/, '')
  if (url.hostname !== bare && url.host !== host.toLowerCase()) throw new RequestTargetError(`the Host header ${JSON.stringify(host.slice(0, 100))} is not a valid authority`)
  return url.href
}

/** A backslash before the query: URL parsers read it as "/", an app behind might not; policies must see one path. */
function refuseBackslash(pathAndQuery: string): void {
  const backslash = pathAndQuery.indexOf('\\')
  if (backslash < 0) return
  const query = pathAndQuery.indexOf('?')
  if (query < 0 || backslash < query) throw new RequestTargetError('the request path contains a backslash')
}

/**
 * The Request-shaped view the listener gives the core. Only the members the core and the body limit use exist;
 * anything that needs a real Request (the Worker runtime has those) builds one from these.
 */
export class NodeRequest extends NodeBackedBody {
  readonly method: string
  readonly url: string
  readonly #exchange: ServerExchange
  #headers: Headers | undefined
  #body: ReadableStream<Uint8Array> | null | undefined

  constructor(exchange: ServerExchange) {
    super()
    this.#exchange = exchange
    this.method = exchange.method
    this.url = requestUrl(exchange.target, exchange.host)
  }

  get headers(): Headers {
    return (this.#headers ??= HeaderFields.fromParsedLines(this.#exchange.rawHeaders))
  }

  /**
   * Aborts when the client goes away before the response has been written in full (as Fetch's request signal):
   * the exchange's own (http1-server.ts). A Cancellation, not an AbortSignal (cancel-signal.ts: the core takes
   * either; an AbortController per request was measurable); typed as the AbortSignal a Request has,
   * `toAbortSignal` makes one where the type is checked.
   */
  get signal(): AbortSignal {
    return this.#exchange.signal as unknown as AbortSignal
  }

  get body(): ReadableStream<Uint8Array> | null {
    if (this.#body === undefined) this.#body = this.#bodySource() === null ? null : lazyWebStream(this.#exchange.body!, { onCancel: 'pause' })
    return this.#body
  }

  protected takeUnread(): Readable | null {
    const source = this.#body === undefined ? this.#bodySource() : null
    if (source !== null) this.#body = usedBody()
    return source
  }

  /** The request's body stream; a GET or HEAD has none for the core, whatever it sent (the parser drops it). */
  #bodySource(): Readable | null {
    return this.method === 'GET' || this.method === 'HEAD' ? null : this.#exchange.body
  }
}

/** The view, typed as what the core takes: it reads only url, method, headers, signal, body and arrayBuffer(). */
export function incomingRequest(exchange: ServerExchange): Request {
  return new NodeRequest(exchange) as unknown as Request
}
