/**
 * A request body that can be sent more than once (retries, mirrors) when it is small, or streamed once when
 * it is not. Only called when a retry or mirror might need it: otherwise the body streams through untouched.
 *
 * - no body: replayable, nothing to copy;
 * - Content-Length within the cap: read whole, replayable;
 * - Content-Length over the cap: streamed, not replayable, nothing read;
 * - unknown length: read up to the cap; if it ends there, replayable; if not, the bytes read so far are
 *   sent first and the rest streams behind them, not replayable.
 */
export type RequestBody =
  | { readonly replayable: true; readonly bytes: Uint8Array<ArrayBuffer> | null }
  | { readonly replayable: false; readonly stream: ReadableStream<Uint8Array> }

export async function replayableBody(request: Request, maxBytes: number): Promise<RequestBody> {
  const declared = request.headers.get('content-length')
  const length = declared !== null && /^\d+$/.test(declared) ? Number(declared) : null
  if (length !== null && length <= maxBytes) {
    // Read whole without asking for `body` first: on the Node listener's request view that getter makes a Web
    // stream arrayBuffer() does not need (≈ 15 µs of a POST's hop). Empty is sent as no body, the same bytes.
    const bytes = new Uint8Array(await request.arrayBuffer())
    return { replayable: true, bytes: bytes.byteLength === 0 ? null : bytes }
  }
  const body = request.body
  if (body === null) return { replayable: true, bytes: null }
  if (length !== null) return { replayable: false, stream: body }
  const reader = body.getReader()
  const chunks: Uint8Array[] = []
  let total = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return { replayable: true, bytes: concat(chunks, total) }
    chunks.push(value)
    total += value.byteLength
    if (total > maxBytes) return { replayable: false, stream: prefixed(chunks, reader) }
  }
}

/** A body sent once as it streams (no retry or mirror needs it again). */
export function streamedBody(stream: ReadableStream<Uint8Array> | null): RequestBody {
  return stream === null ? { replayable: true, bytes: null } : { replayable: false, stream }
}

function concat(chunks: readonly Uint8Array[], total: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(total)
  let at = 0
  for (const c of chunks) {
    out.set(c, at)
    at += c.byteLength
  }
  return out
}

function prefixed(head: Uint8Array[], reader: ReadableStreamDefaultReader<Uint8Array>): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = head.shift()
      if (next !== undefined) {
        controller.enqueue(next)
        return
      }
      const { done, value } = await reader.read()
      if (done) controller.close()
      else controller.enqueue(value)
    },
    cancel(reason) {
      return reader.cancel(reason)
    },
  })
}
