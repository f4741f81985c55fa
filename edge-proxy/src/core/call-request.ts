// The Request a fetch-shaped dependency (`upstream`, `app`: what the Worker runtime provides) takes for an
// UpstreamCall. Only built on that path: the Node sidecar's `sendUpstream`/`sendApp` take the call's parts as
// they are, and a real AbortSignal (an AbortController per request) is made here, not for every request.
import { toAbortSignal } from './cancel-signal'
import { HeaderFields } from './header-fields'
import type { UpstreamCall } from './proxy-deps'

type Init = RequestInit & { duplex?: 'half' }

export function requestOf(call: UpstreamCall): Request {
  const headers = call.headers instanceof HeaderFields ? call.headers.toHeaders() : call.headers
  const init: Init = { method: call.method, headers, redirect: 'manual', signal: toAbortSignal(call.signal) }
  if (call.body !== null) init.body = call.body
  // A streamed body needs half duplex (fetch's rule); bytes do not.
  if (call.body instanceof ReadableStream) init.duplex = 'half'
  return new Request(call.url, init)
}
