// Writes the core's Response to the listener's exchange (http1-server.ts). An upstream body nothing touched goes
// on as the upstream client produced it (response-body.ts, node-body.ts), skipping two conversions per response
// (Node stream → Web stream → reader loop → socket writes); any other body is read from its Web stream with backpressure. A
// body that arrives whole in its first chunk (the proxy's own problem+json answers, small buffered bodies) is
// sent with a Content-Length instead of chunked framing, in one write with the head.
import type { Readable } from 'node:stream'
import { drainOrClose } from './drain-or-close'
import type { ServerExchange } from './http1-server'
import { MadeResponse } from './made-response'
import { takeNodeStream } from './node-body'
import { ResponseBody } from './response-body'
import { UpstreamResponse } from './upstream-response'

// Hop-by-hop: about the upstream connection, not this one (the writer frames the body itself, RFC 9110 §7.6.1).
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'trailer', 'upgrade'])

/**
 * Status, and the headers to write: hop-by-hop fields dropped, Set-Cookie kept as separate lines. An
 * upstream's `Connection` is about its own connection; the proxy's own `Connection: close` (a refusal whose
 * request body is left unread) is kept, and the writer then closes this one after the answer.
 */
function writeHeadOf(response: Response, outgoing: ServerExchange, contentLength: number | null, fromUpstream: boolean): void {
  const headers: Record<string, string | string[]> = {}
  response.headers.forEach((value, name) => {
    if (name === 'set-cookie') return
    if (!HOP_BY_HOP.has(name) || (name === 'connection' && !fromUpstream && value === 'close')) headers[name] = value
  })
  const cookies = response.headers.getSetCookie()
  if (cookies.length > 0) headers['set-cookie'] = cookies
  if (contentLength !== null) headers['content-length'] = String(contentLength)
  outgoing.writeHead(response.status, response.statusText || undefined, headers)
}

/** Writes one chunk, waiting for 'drain' when the socket's buffer is full; throws once the client has gone. */
async function send(outgoing: ServerExchange, chunk: Uint8Array): Promise<void> {
  if (!outgoing.write(chunk)) await drainOrClose(outgoing)
  if (outgoing.destroyed) throw new Error('the client closed the connection')
}

/**
 * A Node stream into the answer with backpressure: a failing body cuts the response off; a client that goes
 * away ends the stream (and with it the upstream exchange).
 */
function pipeBody(readable: Readable, outgoing: ServerExchange): void {
  const onDrain = () => readable.resume()
  readable.on('data', (chunk: Buffer) => {
    if (!outgoing.write(chunk)) readable.pause()
  })
  readable.once('end', () => outgoing.end())
  readable.once('error', () => outgoing.destroy())
  outgoing.on('drain', onDrain)
  outgoing.once('close', () => {
    outgoing.off('drain', onDrain)
    if (!readable.readableEnded) readable.destroy()
  })
}

/**
 * Sends `response` on `outgoing`. `method` is the request's: a HEAD answer carries no body. Resolves once the
 * body has been handed to the socket; a body stream that fails midway cuts the response off (the client sees a
 * truncated message, not a well-formed wrong one), as does the client going away (the stream is cancelled).
 */
export async function writeResponse(response: Response, outgoing: ServerExchange, method: string): Promise<void> {
  // An upstream answer the core passed on untouched: the client's headers and Node stream, as they came.
  const untouched = response instanceof UpstreamResponse ? response.takeUntouched() : null
  if (untouched !== null) {
    const headers: Record<string, string | string[]> = {}
    for (const name in untouched.headers) {
      const value = untouched.headers[name]
      if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value
    }
    outgoing.writeHead(response.status, undefined, headers)
    const body = untouched.body
    if (body === null || method === 'HEAD') {
      if (body instanceof ResponseBody) body.discard()
      else body?.resume()
      outgoing.end()
    } else if (body instanceof ResponseBody) body.pipeTo(outgoing)
    else pipeBody(body, outgoing)
    return
  }
  // An answer the proxy made itself, untouched since: its fields and bytes as they are.
  const made = response instanceof MadeResponse ? response.takeUntouched() : null
  if (made !== null) {
    const bytes = method === 'HEAD' ? null : made.bytes
    outgoing.writeHead(response.status, undefined, bytes === null ? made.fields : { ...made.fields, 'content-length': String(bytes.byteLength) })
    if (bytes === null) outgoing.end()
    else outgoing.end(bytes)
    return
  }
  const body = response.body
  if (body === null || method === 'HEAD') {
    if (body !== null) await body.cancel().catch(() => {})
    writeHeadOf(response, outgoing, null, false)
    outgoing.end()
    return
  }
  const readable = takeNodeStream(body)
  if (readable !== null) {
    writeHeadOf(response, outgoing, null, true)
    pipeBody(readable, outgoing)
    return
  }
  const reader = body.getReader()
  try {
    const first = await reader.read()
    if (first.done) {
      writeHeadOf(response, outgoing, response.headers.has('content-length') ? null : 0, false)
      outgoing.end()
      return
    }
    const second = await reader.read()
    if (second.done) {
      // Whole in one chunk: a declared length is kept (the core may answer HEAD-like or ranged bodies).
      writeHeadOf(response, outgoing, response.headers.has('content-length') ? null : first.value.byteLength, false)
      outgoing.end(first.value)
      return
    }
    writeHeadOf(response, outgoing, null, false)
    await send(outgoing, first.value)
    await send(outgoing, second.value)
    for (;;) {
      const next = await reader.read()
      if (next.done) break
      await send(outgoing, next.value)
    }
    outgoing.end()
  } catch {
    reader.cancel().catch(() => {})
    outgoing.destroy()
  }
}
