import type { FetchLike } from '../index.js'
import type { Io } from './output.js'

// Small enough that the bar moves for modules of a few hundred kilobytes, large enough not to slow big ones.
const CHUNK_BYTES = 64 * 1024
const BAR_WIDTH = 30

/**
 * A fetch that streams a request body in chunks and reports how much has gone: a bar on a terminal, a line at
 * start and end otherwise (logs and CI). Plugged into the SDK with `weft.withOptions({ fetch })`.
 */
export function uploadProgress(io: Io, label: string, enabled: boolean, inner: FetchLike = (r) => fetch(r)): FetchLike {
  return async function progressFetch(request: Request): Promise<Response> {
    if (!enabled || request.body === null) return inner(request)
    const bytes = new Uint8Array(await request.arrayBuffer())
    const total = bytes.length
    const report = io.isTTY && io.status ? (sent: number) => io.status!(bar(label, sent, total)) : undefined
    if (!report) io.err(`uploading ${label} (${formatBytes(total)})\n`)
    let sent = 0
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= total) {
          controller.close()
          return
        }
        const chunk = bytes.subarray(sent, sent + CHUNK_BYTES)
        sent += chunk.length
        report?.(sent)
        controller.enqueue(chunk)
      },
    })
    // `duplex: 'half'` is what fetch requires of a streamed request body.
    const init: RequestInit & { duplex: 'half' } = { method: request.method, headers: request.headers, body, signal: request.signal, duplex: 'half' }
    try {
      const res = await inner(new Request(request.url, init))
      if (report) io.err('\n')
      else io.err(`uploaded ${label}: ${formatBytes(sent)} sent, answer ${res.status}\n`)
      return res
    } catch (err) {
      if (report) io.err('\n')
      throw err
    }
  }
}

function bar(label: string, sent: number, total: number): string {
  const ratio = total === 0 ? 1 : sent / total
  const filled = Math.round(ratio * BAR_WIDTH)
  return `uploading ${label} [${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${Math.round(ratio * 100)}% ${formatBytes(sent)}/${formatBytes(total)}`
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`
  return `${(n / 1024 / 1024).toFixed(1)} MiB`
}
