import { ControlClientStopped, ControlRequestFailed, ControlUnreachable, IdentityRefused } from './control-errors'

/** `fetch` as both runtimes have it; injected so that the Worker can pass a service binding's fetch. */
export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>

export type ControlRequest = {
  method: 'GET' | 'POST' | 'DELETE'
  /** Path and query, starting with `/`. */
  path: string
  /** The bearer secret: a join token or a workload JWT. */
  bearer: string
  json?: unknown
  headers?: Record<string, string>
  /** Aborting it (the client stopping) ends the request with `ControlClientStopped`. */
  signal?: AbortSignal
  /** The whole exchange, body included, must finish within this. */
  timeoutMs: number
}

/** A 2xx or 304 answer, body read. */
export type ControlResponse = { status: number; headers: Headers; text: string }

export type ControlHttp = (req: ControlRequest) => Promise<ControlResponse>

// undici says only "fetch failed" and keeps the reason (ECONNREFUSED, …) in `cause`.
function describe(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } }
  const cause = e?.cause?.code ?? e?.cause?.message
  return [e?.message ?? String(err), cause].filter(Boolean).join(': ')
}

/** Seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (!value) return undefined
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}

async function failureOf(res: Response, text: string, req: ControlRequest, now: number): Promise<ControlRequestFailed> {
  let problemType: string | undefined
  let detail: string | undefined
  try {
    const p = JSON.parse(text) as { type?: unknown; detail?: unknown; title?: unknown }
    if (typeof p.type === 'string') problemType = p.type
    if (typeof p.detail === 'string' && p.detail) detail = p.detail
    else if (typeof p.title === 'string') detail = p.title
  } catch {
    detail = text.slice(0, 200) || undefined
  }
  const init = { status: res.status, problemType, detail, retryAfterMs: parseRetryAfter(res.headers.get('retry-after'), now) }
  const what = `${req.method} ${req.path.split('?')[0]}`
  const message = `${what}: ${res.status}${detail ? ` ${detail}` : ''}`
  return res.status === 401 ? new IdentityRefused(message, init) : new ControlRequestFailed(message, init)
}

/**
 * The one place the client talks HTTP: bearer auth, JSON bodies, a deadline over the whole exchange, and
 * errors mapped to the classes in control-errors.ts. 2xx and 304 resolve; everything else throws.
 */
export function createControlHttp(options: { baseUrl: string; fetch: FetchLike; now: () => number }): ControlHttp {
  const base = options.baseUrl.replace(/\/+$/, '')
  return async function controlRequest(req) {
    if (req.signal?.aborted) throw new ControlClientStopped()
    const ctl = new AbortController()
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      ctl.abort()
    }, req.timeoutMs)
    const onStop = () => ctl.abort()
    req.signal?.addEventListener('abort', onStop, { once: true })
    const headers: Record<string, string> = { accept: 'application/json', ...req.headers, authorization: `Bearer ${req.bearer}` }
    if (req.json !== undefined) headers['content-type'] = 'application/json'
    try {
      let res: Response
      let text: string
      try {
        res = await options.fetch(base + req.path, {
          method: req.method,
          headers,
          body: req.json === undefined ? undefined : JSON.stringify(req.json),
          signal: ctl.signal,
        })
        text = await res.text()
      } catch (err) {
        if (req.signal?.aborted) throw new ControlClientStopped()
        const what = `${req.method} ${base}${req.path.split('?')[0]}`
        if (timedOut) throw new ControlUnreachable(`${what}: no answer within ${req.timeoutMs} ms`, { cause: err })
        throw new ControlUnreachable(`${what}: ${describe(err)}`, { cause: err })
      }
      if ((res.status >= 200 && res.status < 300) || res.status === 304) return { status: res.status, headers: res.headers, text }
      throw await failureOf(res, text, req, options.now())
    } finally {
      clearTimeout(timer)
      req.signal?.removeEventListener('abort', onStop)
    }
  }
}
