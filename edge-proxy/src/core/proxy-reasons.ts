import type { WeftReason } from '../../../mesh/src/policy/index'

/** The status and title of every response the proxy makes itself, by `Weft-Reason`. */
export type ReasonInfo = { readonly status: number; readonly title: string }

/**
 * Typed as a Record over the whole union, so a code added to mesh's `WeftReason` without a status here fails
 * to compile. `fault-abort` carries the FaultPolicy's own status; 503 is only its fallback.
 */
export const PROXY_REASONS: Readonly<Record<WeftReason, ReasonInfo>> = Object.freeze({
  // 503 rather than 404: a service created a moment ago reaches this proxy with the next snapshot, so
  // the caller may retry; Weft-Reason tells the two apart from an application's 404.
  'unknown-service': { status: 503, title: 'The destination service is unknown to this proxy' },
  'route-not-found': { status: 404, title: 'No route matches the request' },
  'no-healthy-upstream': { status: 503, title: 'No healthy upstream endpoint' },
  'authz-denied': { status: 403, title: 'Denied by an AuthorizationPolicy' },
  'rate-limited': { status: 429, title: 'Rate limited' },
  'fault-abort': { status: 503, title: 'Aborted by a FaultPolicy' },
  timeout: { status: 504, title: 'The upstream did not answer in time' },
  'circuit-open': { status: 503, title: 'The circuit breaker is open' },
  'upstream-reset': { status: 502, title: 'The upstream reset the connection' },
  'connect-failure': { status: 503, title: 'The upstream could not be reached' },
  'identity-invalid': { status: 401, title: 'The caller identity is invalid' },
  'identity-unavailable': { status: 503, title: 'This proxy has no identity for the callee' },
  'invalid-path': { status: 400, title: 'The request path is not acceptable' },
  'no-snapshot': { status: 503, title: 'The proxy has no configuration yet' },
  'route-redirect': { status: 302, title: 'Redirected by a Route rule' },
  'filter-failure': { status: 503, title: 'A filter of the FilterChain failed' },
  // A filter's own local response keeps the filter's status; this is only the fallback.
  'filter-response': { status: 403, title: 'Answered by a filter of the FilterChain' },
  'proxy-error': { status: 500, title: 'Internal proxy error' },
  'header-too-large': { status: 431, title: 'Request header fields too large' },
  'body-too-large': { status: 413, title: 'The request body is too large' },
  'request-timeout': { status: 408, title: 'The request did not arrive in time' },
  'malformed-request': { status: 400, title: 'The request is not valid HTTP' },
  'tunnel-unsupported': { status: 405, title: 'CONNECT tunnels are not supported' },
})
