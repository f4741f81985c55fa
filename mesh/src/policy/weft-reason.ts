/**
 * The `Weft-Reason` codes of responses the proxy makes itself (DESIGN.md, "Proxies": no mystery 503s), for
 * the decisions these evaluators take. `simulate` reports the same code the proxy would answer with.
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

/** A request the proxy answers itself instead of forwarding, and why in words. */
export type Refusal = { readonly reason: WeftReason; readonly detail: string }
