// The Node sidecar's transport: a fetch-shaped call (Request in, Response out) over undici's `Dispatcher.request`
// instead of undici's `fetch`. A proxy needs none of fetch's spec machinery (CORS and redirect modes, response
// tainting, decompression, the Request/Response clones it makes per call), and that machinery was about a
// quarter of a hop's CPU in bench/proxy.bench.ts. What the core relies on is kept: the body streams both ways
// with backpressure, the request's AbortSignal ends the exchange, redirects are returned as they are, and
// content-encoded bodies pass through untouched (fetch would decode them behind the headers' back).
import type { Dispatcher } from 'undici'
import type { UpstreamCall } from '../core/index'
import { takeNodeStream } from './node-body'
import { UpstreamResponse } from './upstream-response'

/** Statuses whose responses carry no body (Fetch's "null body status"), and HEAD's answers. */
const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304])

/** What is sent: a Request, or the core's parts of one (`sendUpstream`), whose byte body goes out with its length. */
export type DispatchRequest = Pick<UpstreamCall, 'method' | 'headers' | 'signal'> & { readonly body: UpstreamCall['body'] }

/**
 * Sends `request` to `url` (absolute; its origin picks the connection pool of `dispatcher`) and resolves with
 * the response once its headers arrive. Errors are undici's own (`code` ECONNREFUSED, UND_ERR_SOCKET, …), which
 * classifyUpstreamError reads; an abort rejects with the signal's reason.
 */
export async function dispatchFetch(url: string, request: DispatchRequest, dispatcher: Dispatcher): Promise<Response> {
  const { origin, path } = splitUrl(url)
  const headers: string[] = []
  // `expect` is the one field undici refuses to send (it answers 100-continue itself, as Node's server did).
  request.headers.forEach((value, name) => {
    if (name !== 'expect') headers.push(name, value)
  })
  const method = request.method
  const answer = await dispatcher.request({
    origin,
    path,
    method: method as Dispatcher.HttpMethod,
    headers,
    // No body read for GET/HEAD. The listener's own Node stream when the core passed its body on untouched;
    // otherwise the Web stream, which is async-iterable: undici writes it chunk by chunk and waits for 'drain'.
    body: method === 'GET' || method === 'HEAD' ? null : bodyOf(request.body),
    signal: request.signal,
  })
  // Lazy: no Headers, Web stream or Response is built unless the core reads them (upstream-response.ts).
  if (method === 'HEAD' || NULL_BODY_STATUS.has(answer.statusCode)) {
    answer.body.resume()
    return new UpstreamResponse(answer.statusCode, answer.headers, null) as unknown as Response
  }
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

function bodyOf(body: DispatchRequest['body']): never {
  if (body instanceof ReadableStream) return (takeNodeStream(body) ?? body) as never
  return body as never
}
