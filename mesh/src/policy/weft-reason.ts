/**
 * The `Weft-Reason` codes of responses the proxy makes itself (DESIGN.md, "Proxies": no mystery 503s). The
 * first group comes from the decisions these evaluators take, and `simulate` reports the same code the proxy
 * would answer with; the second group only the proxy's runtime can produce (edge-proxy/src/core/, whose
 * `proxy-reasons.ts` maps every code to its HTTP status). One list, so clients and the SDK switch on one type.
 */
export type WeftReason =
  /** The destination is not in the caller's snapshot: it does not exist or this service may not call it. */
  | 'unknown-service'
  /** Route policies target the destination and none matches (Gateway API: 404). */
  | 'route-not-found'
  /** The chosen backend has no endpoint to send to (also: every weight is 0). */
  | 'no-healthy-upstream'
  /** AuthorizationPolicy said DENY. */
  | 'authz-denied'
  /** A token bucket was empty. */
  | 'rate-limited'
  /** A FaultPolicy abort was rolled. */
  | 'fault-abort'
  // --- produced only by the proxy at run time -----------------------------------------------------------
  /** The Route rule's `timeout` (or the last `perTryTimeout`) passed before the upstream answered. */
  | 'timeout'
  /** BackendPolicy `connectionLimits` (maxRequests, maxPendingRequests) are full: the request was not sent. */
  | 'circuit-open'
  /** The upstream accepted the connection and then closed or reset it before answering. */
  | 'upstream-reset'
  /** No connection to the upstream endpoint could be made. */
  | 'connect-failure'
  /** The caller presented a `Weft-Identity` token that does not verify (the detail names the ERR_SVID_* code). */
  | 'identity-invalid'
  /** This proxy could not obtain its own identity token for the callee. */
  | 'identity-unavailable'
  /** The path cannot be normalised safely (bad percent-encoding, an encoded "/" or "\"). */
  | 'invalid-path'
  /** The proxy has not received its first snapshot yet: it cannot route or authorize anything. */
  | 'no-snapshot'
  /** A Route rule's RequestRedirect answered the request (a 3xx, not an error). */
  | 'route-redirect'
  /** A FilterChain filter could not run (load failure or trap) and its failurePolicy is `closed`. */
  | 'filter-failure'
  /** A FilterChain filter answered the request itself (proxy_send_local_response). */
  | 'filter-response'
  /** A bug in the proxy: logged with the error; the request was not forwarded. */
  | 'proxy-error'
  // --- the sidecar's listener limits (Envoy's edge hardening defaults) ---------------------------------
  /** The request's headers are larger than the listener allows (total size or count). */
  | 'header-too-large'
  /** The request body is (or was declared) longer than the listener allows. */
  | 'body-too-large'
  /** The request (headers, or headers and body) did not arrive within the listener's timeout. */
  | 'request-timeout'
  /** The request could not be parsed as HTTP/1.1. */
  | 'malformed-request'
  /** A CONNECT request: the sidecar's listeners proxy HTTP requests by service name, they open no tunnels. */
  | 'tunnel-unsupported'

/** A request the proxy answers itself instead of forwarding, and why in words. */
export type Refusal = { readonly reason: WeftReason; readonly detail: string }
