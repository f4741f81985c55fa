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
  const body = request.body
  if (body === null) return { replayable: true, bytes: null }
  const declared = request.headers.get('content-length')
  if (declared !== null && /^\d+$/.test(declared)) {
    if (Number(declared) > maxBytes) return { replayable: false, stream: body }
    return { replayable: true, bytes: new Uint8Array(await request.arrayBuffer()) }
  }
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
