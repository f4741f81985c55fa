// The request body size limit of the sidecar's listeners. Bodies stream (the proxy never buffers them unless a
// rule retries or mirrors), so the limit is enforced twice: up front from Content-Length, and by counting
// bytes as they flow. Web-standard on purpose (Request, streams, AbortSignal): only the wiring is Node's.
import { problemResponse, toAbortSignal } from '../core/index'

/** Thrown into the body stream when it passes the limit. */
export class BodyTooLargeError extends Error {
  readonly code = 'ERR_WEFT_BODY_TOO_LARGE'
  constructor(readonly limit: number) {
    super(`the request body exceeds ${limit} bytes`)
    this.name = 'BodyTooLargeError'
  }
}

/** The 413 the listener answers; `Connection: close` because the rest of the body is never read. */
export function bodyTooLarge(limit: number, method: string, known: number | null): Response {
  return problemResponse('body-too-large', {
    detail: known !== null ? `Content-Length ${known} exceeds this listener's limit of ${limit} bytes` : `the request body passed this listener's limit of ${limit} bytes`,
    headers: { connection: 'close' },
    method,
  })
}

type Init = RequestInit & { duplex?: 'half' }

/** The declared length when a Content-Length value is over `maxBytes`, else null. */
export function declaredOverLimit(contentLength: string | null | undefined, maxBytes: number): number | null {
  if (contentLength === null || contentLength === undefined || !/^\d+$/.test(contentLength)) return null
  const n = Number(contentLength)
  return n > maxBytes ? n : null
}

/**
 * Wraps a handler so that no request body longer than `maxBytes` reaches it. A declared Content-Length over
 * the limit is answered 413 before anything is read. Otherwise the body is counted as it streams; on the first
 * byte past the limit the request's signal aborts *before* the stream errors, so the core sees a caller that
 * went away (no upstream is blamed, no outlier counted) and the answer becomes the 413. If the response had
 * already started by then, it is cut off (Envoy resets the stream in that case too).
 */
export function withBodyLimit(handler: (request: Request) => Promise<Response>, maxBytes: number, onRefused?: () => void): (request: Request) => Promise<Response> {
  return async (request) => {
    const declared = declaredOverLimit(request.headers.get('content-length'), maxBytes)
    if (declared !== null) {
      onRefused?.()
      return bodyTooLarge(maxBytes, request.method, declared)
    }
    // A body framed by a Content-Length within the limit needs no counting: the HTTP/1.1 parser in front of
    // this (Node's llhttp) reads exactly that many bytes and refuses Content-Length with Transfer-Encoding.
    // Only chunked bodies pay for the counting stream.
    // GET and HEAD first, without reading `request.body`: on the Node listener's request view (node-request.ts)
    // that getter makes a Web stream, allocated per request for nothing.
    const length = request.headers.get('content-length')
    if (request.method === 'GET' || request.method === 'HEAD' || (length !== null && /^\d+$/.test(length)) || request.body === null) return handler(request)

    const refused = new AbortController()
    let seen = 0
    const counted = request.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          seen += chunk.byteLength
          if (seen > maxBytes) {
            const err = new BodyTooLargeError(maxBytes)
            refused.abort(err)
            controller.error(err)
            return
          }
          controller.enqueue(chunk)
        },
      }),
    )
    const init: Init = {
      method: request.method,
      headers: request.headers,
      body: counted,
      duplex: 'half',
      redirect: 'manual',
      signal: AbortSignal.any([toAbortSignal(request.signal), refused.signal]),
    }
    let response: Response
    try {
      response = await handler(new Request(request.url, init))
    } catch (err) {
      if (!refused.signal.aborted) throw err
      response = new Response(null)
    }
    if (!refused.signal.aborted) return response
    await response.body?.cancel().catch(() => {})
    onRefused?.()
    return bodyTooLarge(maxBytes, request.method, null)
  }
}
