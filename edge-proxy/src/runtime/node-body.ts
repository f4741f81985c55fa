// Upstream response bodies on the Node sidecar: a Web ReadableStream for the core (which may read, wrap or
// replace it), and, when nothing did, a shortcut for the listener: the Node stream undici produced is piped
// straight into the ServerResponse. That skips two conversions per response (Node stream → Web stream → the
// adaptor's reader loop → Node writes) and the adaptor's wait of a timer tick for a body's first chunk.
import type { ServerResponse } from 'node:http'
import { pipeline, type Readable } from 'node:stream'

type Source = { readonly readable: Readable; pulled: boolean }

/** The Node streams behind the Web streams made here, until one is read or piped. */
const sources = new WeakMap<ReadableStream<Uint8Array>, Source>()

/**
 * A Web stream over `readable` that touches it only when first read (highWaterMark 0: nothing is pulled ahead),
 * so that writeDirect can still take the Node stream itself. Backpressure: the Node stream is paused after each
 * chunk and resumed on the next pull. Cancelling destroys it (undici then closes the exchange).
 */
export function lazyWebStream(readable: Readable): ReadableStream<Uint8Array> {
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
        readable.destroy(reason instanceof Error ? reason : undefined)
      },
    },
    { highWaterMark: 0 },
  )
  sources.set(stream, source)
  return stream
}

// Hop-by-hop: about the upstream connection, not this one (Node frames the body itself, RFC 9110 §7.6.1).
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'trailer', 'upgrade'])

/**
 * Writes `response` to `outgoing` by piping its Node stream when its body is an untouched lazyWebStream; false
 * (and nothing written) otherwise, for the general writer. A failing upstream body cuts the response off.
 */
export function writeDirect(response: Response, outgoing: ServerResponse): boolean {
  const body = response.body
  if (body === null || body.locked) return false
  const source = sources.get(body)
  if (source === undefined || source.pulled) return false
  source.pulled = true
  const headers: Record<string, string | string[]> = {}
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie' && !HOP_BY_HOP.has(name)) headers[name] = value
  })
  const cookies = response.headers.getSetCookie()
  if (cookies.length > 0) headers['set-cookie'] = cookies
  outgoing.writeHead(response.status, headers)
  pipeline(source.readable, outgoing, (err) => {
    if (err) outgoing.destroy()
  })
  return true
}
