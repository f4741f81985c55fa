import type { UpstreamTarget } from './proxy-deps'
import { isPlainPathAndQuery } from './url-parts'

/** No connection could be made (refused, unreachable, DNS, connect timeout). Safe to retry: nothing was sent. */
export class UpstreamConnectError extends Error {
  static code = 'ERR_WEFT_UPSTREAM_CONNECT'
  code = UpstreamConnectError.code
  constructor(message?: string, options?: { cause?: unknown }) {
    super(message ?? 'connect failure', options)
    this.name = 'UpstreamConnectError'
  }
}

/** The connection closed or reset before a response arrived. */
export class UpstreamResetError extends Error {
  static code = 'ERR_WEFT_UPSTREAM_RESET'
  code = UpstreamResetError.code
  constructor(message?: string, options?: { cause?: unknown }) {
    super(message ?? 'upstream reset', options)
    this.name = 'UpstreamResetError'
  }
}

export type UpstreamFailure = 'connect-failure' | 'reset'

// Node's socket errors (libuv) and undici's connect timeout: all "never connected".
const CONNECT_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL', 'ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT'])

/**
 * Reads the runtime's error without importing it: a typed Weft error first, then `code` on the error or along
 * its `cause` chain (undici's fetch throws `TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } })`).
 * Anything unknown counts as a reset: a request may have reached the upstream, which is the cautious reading.
 */
export function classifyUpstreamError(err: unknown): UpstreamFailure {
  let e: unknown = err
  for (let depth = 0; depth < 5 && typeof e === 'object' && e !== null; depth++) {
    if (e instanceof UpstreamConnectError) return 'connect-failure'
    if (e instanceof UpstreamResetError) return 'reset'
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string' && CONNECT_CODES.has(code)) return 'connect-failure'
    // AggregateError from happy-eyeballs connects carries the per-address errors.
    const errors = (e as { errors?: unknown }).errors
    if (Array.isArray(errors) && errors.length > 0 && errors.every((x) => classifyUpstreamError(x) === 'connect-failure')) return 'connect-failure'
    e = (e as { cause?: unknown }).cause
  }
  return 'reset'
}

/** `http://address:port/path?query` for a transport that fetches the endpoint directly. */
export function upstreamUrl(request: Pick<Request, 'url'>, target: Pick<UpstreamTarget, 'address' | 'port'>): string {
  const host = target.address.includes(':') && !target.address.startsWith('[') ? `[${target.address}]` : target.address
  return `http://${host}:${target.port}${pathAndQueryOf(request.url)}`
}

/** `url.pathname + url.search`, without a URL parse per request when the core built the URL itself. */
function pathAndQueryOf(absolute: string): string {
  const slash = absolute.indexOf('/', absolute.indexOf('//') + 2)
  if (slash > 0) {
    const rest = absolute.slice(slash)
    if (isPlainPathAndQuery(rest)) return rest
  }
  const url = new URL(absolute)
  return `${url.pathname}${url.search}`
}

/** An error and its causes in one line, e.g. "fetch failed: connect ECONNREFUSED 127.0.0.1:1 (ECONNREFUSED)". */
export function errorText(err: unknown): string {
  const parts: string[] = []
  let e: unknown = err
  for (let depth = 0; depth < 5 && e !== undefined && e !== null; depth++) {
    if (typeof e !== 'object') {
      parts.push(String(e))
      break
    }
    const { message, code } = e as { message?: unknown; code?: unknown }
    const text = typeof message === 'string' && message !== '' ? message : String(e)
    parts.push(typeof code === 'string' && !text.includes(code) ? `${text} (${code})` : text)
    e = (e as { cause?: unknown }).cause
  }
  return parts.join(': ')
}
