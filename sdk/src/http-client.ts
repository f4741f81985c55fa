import type { ApiResponse } from './api-promise.js'
import { errorFromResponse, IdempotencyInProgress, WeftConnectionError, WeftError, WeftTimeoutError } from './errors.js'
import { randomUuid } from './random-uuid.js'

/** Any `fetch`: the global one, undici's, a Worker service binding's, or an in-process app's (`app.fetch`). */
export type FetchLike = (request: Request) => Response | Promise<Response>

/** A bearer credential, or a function that returns the current one (a workload JWT that is refreshed). */
export type Credential = string | (() => string | Promise<string>)

export type RetryOptions = {
  /** Attempts after the first one. */
  maxRetries?: number
  /** First backoff step; each retry doubles it, with full jitter. */
  baseDelayMs?: number
  /** Backoff never waits longer than this (a `Retry-After` is honoured as sent, up to `maxRetryAfterMs`). */
  maxDelayMs?: number
  /** A `Retry-After` longer than this is not waited out: the error is thrown, carrying `retryAfterMs`. */
  maxRetryAfterMs?: number
}

export type RetryEvent = {
  /** 1 for the first retry. */
  attempt: number
  delayMs: number
  method: string
  url: string
  error: WeftError
}

/** Per-call options; every SDK method takes them last. */
export type RequestOptions = {
  signal?: AbortSignal
  /** Per attempt: a retry gets a fresh timeout. */
  timeoutMs?: number
  /** `false` turns retries off for this call. */
  retry?: RetryOptions | false
  headers?: Record<string, string>
  /** The `Idempotency-Key` of a POST; a random UUID by default, the same for every retry of the call. */
  idempotencyKey?: string
}

export type ClientConfig = {
  baseUrl: string
  apiKey: Credential | undefined
  fetch: FetchLike
  timeoutMs: number
  retry: Required<RetryOptions> | false
  headers: Record<string, string>
  onRetry: ((event: RetryEvent) => void) | undefined
}

export type HttpRequest = {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
  /** Already encoded: build it with `path\`…\``. */
  path: string
  query?: Record<string, string | number | boolean | null | undefined>
  json?: unknown
  body?: Uint8Array | ArrayBuffer | Blob
  contentType?: string
  ifMatch?: string | number
  ifNoneMatch?: string
  /** How to read a 2xx body. */
  accept?: 'json' | 'bytes'
  /** Statuses other than 2xx that are answers, not errors (304 to a long poll). */
  answers?: readonly number[]
  /** Public routes (JWKS): no Authorization header, so a stale key cannot turn them into a 401. */
  anonymous?: boolean
  /**
   * Whether a request whose answer was lost (connection error, timeout) may be sent again. By default: GET, PUT
   * and DELETE without If-Match, and POST, whose Idempotency-Key makes the API answer a resend with the first
   * answer instead of acting twice.
   */
  resendable?: boolean
  /** A floor under the timeout, for calls the server holds on purpose (long polls). */
  minTimeoutMs?: number
  options?: RequestOptions
}

// Methods whose repetition changes nothing (RFC 9110 §9.2.2): safe to resend after a lost answer.
const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS'])

function resendable(req: HttpRequest): boolean {
  if (req.resendable !== undefined) return req.resendable
  // The API keeps a POST's answer under its Idempotency-Key, so a resend gets the first answer back.
  if (req.method === 'POST') return true
  // A conditional write is not, although PUT and DELETE are idempotent: had the first attempt landed, the
  // resend would fail its own If-Match and report a 412 for a write that succeeded.
  return IDEMPOTENT.has(req.method) && req.ifMatch === undefined
}
// 429 and 503 say the request was not acted on, so any method may be resent, after Retry-After.
const RETRY_STATUSES = new Set([429, 503])

/** Encodes every interpolated value as one path segment: `path\`/v1/services/${name}\``. */
export function path(strings: TemplateStringsArray, ...values: (string | number)[]): string {
  return strings.reduce((out, s, i) => out + s + (i < values.length ? encodeURIComponent(String(values[i])) : ''), '')
}

/** The transport under every resource: auth, JSON, timeouts, retries with backoff, problem+json errors. */
export class HttpClient {
  constructor(readonly config: ClientConfig) {}

  async send<T>(req: HttpRequest): Promise<ApiResponse<T>> {
    const opts = req.options ?? {}
    const retry = opts.retry === false ? NO_RETRY : { ...(this.config.retry || NO_RETRY), ...opts.retry }
    const url = this.#url(req)
    // One key for the call, not one per attempt: that is what lets a server tell a retry from a second create.
    const idempotencyKey = req.method === 'POST' ? (opts.idempotencyKey ?? randomUuid()) : undefined

    for (let attempt = 0; ; attempt++) {
      let error: WeftError
      let delayMs: number | undefined
      try {
        const res = await this.#attempt(req, url, idempotencyKey)
        if (res.ok || req.answers?.includes(res.status)) return await this.#read<T>(req, res)
        const problem = await errorFromResponse(res)
        // An Idempotency-Key whose first request is still running: the same request again will get its answer.
        if (!RETRY_STATUSES.has(res.status) && !(problem instanceof IdempotencyInProgress)) throw problem
        error = problem
        delayMs = problem.retryAfterMs
        if (delayMs !== undefined && delayMs > retry.maxRetryAfterMs) throw problem
      } catch (err) {
        // A lost answer may have been acted on: only requests that are safe to repeat are resent.
        const lost = err instanceof WeftConnectionError || err instanceof WeftTimeoutError
        if (!lost || !resendable(req)) throw err
        error = err
      }
      if (attempt >= retry.maxRetries) throw error
      delayMs ??= backoff(attempt, retry)
      this.config.onRetry?.({ attempt: attempt + 1, delayMs, method: req.method, url, error })
      await sleep(delayMs, opts.signal)
    }
  }

  async #attempt(req: HttpRequest, url: string, idempotencyKey: string | undefined): Promise<Response> {
    const opts = req.options ?? {}
    const headers = new Headers({ ...this.config.headers, ...opts.headers })
    headers.set('accept', req.accept === 'bytes' ? '*/*' : 'application/json, application/problem+json')
    if (!req.anonymous && this.config.apiKey !== undefined) {
      const key = typeof this.config.apiKey === 'function' ? await this.config.apiKey() : this.config.apiKey
      headers.set('authorization', `Bearer ${key}`)
    }
    let body: BodyInit | undefined
    if (req.json !== undefined) {
      body = JSON.stringify(req.json)
      headers.set('content-type', req.contentType ?? 'application/json')
    } else if (req.body !== undefined) {
      body = req.body as BodyInit
      headers.set('content-type', req.contentType ?? 'application/octet-stream')
    }
    if (idempotencyKey) headers.set('idempotency-key', idempotencyKey)
    if (req.ifMatch !== undefined) headers.set('if-match', typeof req.ifMatch === 'number' ? `"${req.ifMatch}"` : req.ifMatch)
    if (req.ifNoneMatch !== undefined) headers.set('if-none-match', req.ifNoneMatch)

    const timeoutMs = Math.max(opts.timeoutMs ?? this.config.timeoutMs, req.minTimeoutMs ?? 0)
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(new WeftTimeoutError(`no answer from ${req.method} ${url} within ${timeoutMs} ms`)), timeoutMs)
    const forward = () => controller.abort(opts.signal?.reason)
    opts.signal?.addEventListener('abort', forward, { once: true })
    if (opts.signal?.aborted) forward()
    // Raced against the signal as well: not every fetch (an in-process app's, say) listens to it.
    const aborted = new Promise<never>((_, reject) => {
      const fail = () => reject(controller.signal.reason)
      if (controller.signal.aborted) fail()
      else controller.signal.addEventListener('abort', fail, { once: true })
    })
    aborted.catch(() => {})
    try {
      const fetchImpl = this.config.fetch
      const res = await Promise.race([fetchImpl(new Request(url, { method: req.method, headers, body, signal: controller.signal })), aborted])
      // Read the body inside the timeout too: a server that stalls mid-body is as dead as one that never answers.
      const bytes = await Promise.race([res.arrayBuffer(), aborted])
      return new Response(res.status === 204 || res.status === 304 ? null : bytes, { status: res.status, statusText: res.statusText, headers: res.headers })
    } catch (err) {
      if (controller.signal.aborted && controller.signal.reason instanceof WeftTimeoutError) throw controller.signal.reason
      if (opts.signal?.aborted) throw opts.signal.reason
      if (err instanceof WeftError) throw err
      throw new WeftConnectionError(`${req.method} ${url} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
    } finally {
      clearTimeout(timer)
      opts.signal?.removeEventListener('abort', forward)
    }
  }

  async #read<T>(req: HttpRequest, res: Response): Promise<ApiResponse<T>> {
    let data: unknown
    if (req.accept === 'bytes' && res.ok) {
      data = new Uint8Array(await res.arrayBuffer())
    } else {
      const text = await res.text()
      try {
        data = text ? JSON.parse(text) : undefined
      } catch (err) {
        throw new WeftError(`${req.method} ${req.path} answered ${res.status} with a body that is not JSON: ${text.slice(0, 200)}`, { cause: err })
      }
    }
    const revision = res.headers.get('weft-revision')
    return {
      data: data as T,
      status: res.status,
      headers: res.headers,
      etag: res.headers.get('etag'),
      revision: revision === null ? null : Number(revision),
      requestId: res.headers.get('x-request-id'),
    }
  }

  #url(req: HttpRequest): string {
    const params = new URLSearchParams()
    for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined && v !== null) params.set(k, String(v))
    const qs = params.toString()
    return this.config.baseUrl + req.path + (qs ? `?${qs}` : '')
  }
}

/**
 * Retry defaults. Three retries at 250 ms doubling (full jitter, capped at 8 s) ride out a database failover or a
 * control API restart; Retry-After is waited out up to a minute, beyond which failing fast serves callers better.
 */
export const DEFAULT_RETRY: Required<RetryOptions> = { maxRetries: 3, baseDelayMs: 250, maxDelayMs: 8_000, maxRetryAfterMs: 60_000 }
const NO_RETRY: Required<RetryOptions> = { ...DEFAULT_RETRY, maxRetries: 0 }

/** Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"). */
function backoff(attempt: number, retry: Required<RetryOptions>): number {
  return Math.round(Math.random() * Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** attempt))
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal!.reason)
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
