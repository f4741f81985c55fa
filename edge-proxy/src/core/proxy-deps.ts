import type { ForeignFunction } from '../wasm/index'
import type { Jwks } from '../../../mesh/src/identity/index'
import type { RateLimitStore } from '../../../mesh/src/policy/index'
import type { Snapshot } from '../../../mesh/src/snapshot/types'
import type { CancelSignal } from './cancel-signal'
import type { AccessLogEntry, AccessLogMode, TraceExporter, TracingOptions } from './tracing'

/** Where an outbound attempt goes: one endpoint of one service. */
export type UpstreamTarget = {
  readonly address: string
  readonly port: number
  /** The service the endpoint belongs to (for Workers: which service binding, if any). */
  readonly service: string
  /** The callee's SPIFFE ID: what a future mTLS transport must see in the peer certificate. */
  readonly spiffeId: string
  readonly endpointId: string
}

/** One outbound attempt as its parts (see `ProxyCoreDeps.sendUpstream`); a byte body is the whole body. */
export type UpstreamCall = {
  readonly url: string
  readonly method: string
  readonly headers: Headers
  readonly body: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array> | null
  /** Ends the exchange; an AbortSignal or the core's lighter Cancellation (see cancel-signal.ts). */
  readonly signal: CancelSignal
}

/** JSON logging, pino's call shape: fields first, message second. */
export type ProxyLogger = {
  debug(obj: object, msg?: string): void
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}

export type ProxyCoreDeps = {
  /** The current snapshot, or null before the first one arrived. Called per request: keep it cheap. */
  snapshot(): Snapshot | null
  /**
   * The runtime's transport to a peer (undici on Node, fetch or a service binding on Workers): the seam where
   * mTLS goes. `request.url` is the logical URL, `http://<service or rewritten host>/<path>`; connect to
   * `target.address:target.port` (`upstreamUrl(request, target)` builds that URL for a plain fetch). The
   * request carries an AbortSignal for its timeouts and `redirect: 'manual'`. Throw `UpstreamConnectError`
   * or `UpstreamResetError` (upstream-errors.ts) when the failure is known; other errors are classified by
   * their `code`/`cause.code` (ECONNREFUSED and friends are connect failures, the rest resets).
   */
  upstream(request: Request, target: UpstreamTarget): Promise<Response>
  /**
   * Optional, preferred to `upstream` for routed attempts: the same exchange given as its parts, for a transport
   * that needs no Request object (the Node sidecar's undici dispatcher, where building a Request per attempt was
   * about a tenth of a hop's CPU). The contract is `upstream`'s: `call.url` is the logical URL, the signal ends
   * the exchange, redirects are returned as they are; and more strictly, the promise rejects with the signal's
   * reason as soon as it aborts, at any stage (waiting for a connection, connecting, awaiting the head), so the
   * core does not race it against its deadline as it does `upstream`.
   */
  sendUpstream?(call: UpstreamCall, target: UpstreamTarget): Promise<Response>
  /** Forwards an admitted inbound request to the local application. */
  app(request: Request): Promise<Response>
  /**
   * Optional, as `sendUpstream` is for `upstream`: the same call to the application as its parts, so a runtime
   * that can send them directly (the Node sidecar, over undici's dispatcher) skips building a Request per hop.
   * `call.url` is the logical URL (`http://<service>/path?query`).
   */
  sendApp?(call: UpstreamCall): Promise<Response>
  /** This proxy's own JWT-SVIDs, minted per callee audience and cached by the control-plane client. */
  identity: { tokenFor(audience: string): Promise<string> }
  logger: ProxyLogger
  /** Milliseconds since the epoch. Default Date.now. */
  now?: () => number
  /** [0, 1), like Math.random (the default): every weighted or random choice draws from it. */
  random?: () => number
  /** Token buckets for RateLimitPolicy; default a local TokenBucketStore. The seam for Durable Objects. */
  rateLimits?: RateLimitStore
  /** This proxy's zone, for BackendPolicy locality preference; null or absent when unknown. */
  zone?: string | null
  /**
   * Fetches the tenant JWKS when a caller's token names a kid the snapshot does not have yet (keys are
   * published before they sign, so this is rare; rate-limited by JwksCache). Absent: the snapshot's JWKS only.
   */
  fetchJwks?: () => Promise<Jwks>
  /**
   * Keeps work alive after the response is returned (a mirrored copy). Workers pass `ctx.waitUntil`, without
   * which the runtime may cancel it; Node needs nothing.
   */
  waitUntil?: (work: Promise<unknown>) => void
  limits?: Partial<ProxyLimits>
  /**
   * Compiled filter modules by sha256, for the service's FilterChain: the Node sidecar fetches the bytes
   * from the registry and compiles them; a Worker returns the modules bundled at deploy time (workerd may
   * not compile WASM at run time). Absent: a FilterChain cannot run, and its filters fail per failurePolicy.
   */
  filterModules?: (sha256: string) => Promise<WebAssembly.Module>
  /**
   * What a filter may call with `proxy_call_foreign_function`, by name (e.g. `weft.verify_jwt`). The seam is just
   * this record: a function takes the argument bytes and returns the result bytes, synchronously; a name not
   * here answers NOT_FOUND. Absent: none.
   */
  filterForeignFunctions?: Record<string, ForeignFunction>
  /**
   * Sends finished spans to the tenant's collector (the snapshot's `tracing`). Absent: no spans are recorded,
   * though `traceparent` still propagates. The Node sidecar wires OpenTelemetry's OTLP/HTTP exporter.
   */
  traceExporter?: TraceExporter
  /** Receives one line per request handled, or per request `accessLogMode` picks (the runtimes write them as JSON). Absent: none. */
  accessLog?: (entry: AccessLogEntry) => void
  /** Which requests reach `accessLog`: `all` (the default here) or `errors` (see core/tracing.ts; the runtimes' default). */
  accessLogMode?: AccessLogMode
  /** Export queue bounds and batching; see core/tracing.ts for the defaults. */
  tracing?: Pick<TracingOptions, 'maxQueue' | 'maxBatch' | 'intervalMs'>
}

export type ProxyLimits = {
  /** Bodies up to this size are buffered so that a retry or a mirror can resend them; larger ones stream. */
  maxReplayBodyBytes: number
  /** The overall timeout of a Route rule that sets none, and of pass-through traffic, in ms; 0 for none. */
  defaultTimeoutMs: number
  /** Retries within this window count against the retry budget. */
  retryBudgetWindowMs: number
}

// 64 KiB covers typical JSON API bodies, and at a few hundred concurrent retryable requests stays a few MB.
export const DEFAULT_MAX_REPLAY_BODY_BYTES = 64 * 1024
// Envoy's default route timeout: a hung upstream must not hold a request (and its slot) forever.
export const DEFAULT_TIMEOUT_MS = 15_000
// Linkerd's and Finagle's retry budget TTL: long enough to smooth bursts, short enough to follow load.
export const DEFAULT_RETRY_BUDGET_WINDOW_MS = 10_000

export const DEFAULT_LIMITS: ProxyLimits = Object.freeze({
  maxReplayBodyBytes: DEFAULT_MAX_REPLAY_BODY_BYTES,
  defaultTimeoutMs: DEFAULT_TIMEOUT_MS,
  retryBudgetWindowMs: DEFAULT_RETRY_BUDGET_WINDOW_MS,
})
