// The Node sidecar's transport: a fetch-shaped call (Request in, Response out) over the sidecar's own HTTP/1.1
// client (http1-agent.ts), not undici's `fetch`. A proxy needs none of fetch's spec machinery (CORS and
// redirect modes, response tainting, decompression, the Request/Response clones it makes per call). What the
// core relies on is kept: the body streams both ways with backpressure, the request's signal ends the exchange,
// redirects are returned as they are, and content-encoded bodies pass through untouched.
import { HeaderFields, type UpstreamCall } from '../core/index'
import type { Http1Agent } from './http1-agent'
import { RequestBody } from './http1-server'
import { takeNodeStream } from './node-body'
import { UpstreamResponse } from './upstream-response'

/** What is sent: a Request, or the core's parts of one (`sendUpstream`), whose byte body goes out with its length. */
export type DispatchRequest = Pick<UpstreamCall, 'method' | 'headers' | 'signal'> & { readonly body: UpstreamCall['body'] }

/** Methods whose requests carry a body by definition: with none, they say so with `Content-Length: 0`. */
const PAYLOAD_METHODS = new Set(['POST', 'PUT', 'PATCH'])

/**
 * Sends `request` to `url` (absolute, `http://host:port/path?query`; its origin picks the connection pool) and
 * resolves with the response once its head arrives. Connect failures reject with the socket's error (`code`
 * ECONNREFUSED, …) or an UpstreamConnectError, a connection lost before the head with an UpstreamResetError
 * (classifyUpstreamError reads both); an abort rejects with the signal's reason.
 */
export async function dispatchFetch(url: string, request: DispatchRequest, agent: Http1Agent): Promise<Response> {
  const { origin, path } = splitUrl(url)
  const method = request.method
  const bodyIn = method === 'GET' || method === 'HEAD' ? null : request.body
  let body = bodyIn instanceof ReadableStream ? (takeNodeStream(bodyIn) ?? bodyIn) : bodyIn
  // A request body that had all arrived before the core got the request goes up with the head, in one write.
  if (body instanceof RequestBody) body = body.takeWhole() ?? body
  let head = `${method} ${path} HTTP/1.1\r\n`
  let host = false
  let length: string | null = null
  const line = (name: string, value: string) => {
    // Framing is this hop's own (below); `expect` was answered by the listener already (Node sends 100 Continue).
    if (name === 'content-length') length = value
    else if (name !== 'transfer-encoding' && name !== 'expect') {
      if (name === 'host') host = true
      head += `${name}: ${value}\r\n`
    }
  }
  // The core's HeaderFields go out line by line as they came; a Fetch Headers sorted and joined.
  const headers = request.headers
  if (headers instanceof HeaderFields) headers.forEachLine(line)
  else headers.forEach((value, name) => line(name, value))
  if (!host) head += `host: ${origin.slice(origin.indexOf('//') + 2)}\r\n`
  let chunked = false
  if (body === null) {
    if (PAYLOAD_METHODS.has(method)) head += 'content-length: 0\r\n'
  } else if (body instanceof Uint8Array) head += `content-length: ${body.byteLength}\r\n`
  else if (length !== null) head += `content-length: ${length}\r\n`
  else {
    head += 'transfer-encoding: chunked\r\n'
    chunked = true
  }
  const answer = await agent.send(origin, { method, head: `${head}\r\n`, body, chunked, signal: request.signal })
  // 205 Reset Content may come with an empty body, but a Response with that status must have none.
  if (answer.statusCode === 205 && answer.body !== null) {
    answer.body.discard()
    return new UpstreamResponse(205, answer.headers, null) as unknown as Response
  }
  // Lazy: no Headers, Web stream or Response is built unless the core reads them (upstream-response.ts).
  return new UpstreamResponse(answer.statusCode, answer.headers, answer.body) as unknown as Response
}

/** `http://host:port/path?q` → origin and path, without a URL object per request (the core built the string). */
function splitUrl(url: string): { origin: string; path: string } {
  const schemeEnd = url.indexOf('://')
  const slash = schemeEnd < 0 ? -1 : url.indexOf('/', schemeEnd + 3)
  if (slash < 0) {
    const u = new URL(url)
    return { origin: u.origin, path: `${u.pathname}${u.search}` }
  }
  return { origin: url.slice(0, slash), path: url.slice(slash) }
}
