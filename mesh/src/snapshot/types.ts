import type { AuthorizationPolicySpec, BackendPolicySpec, FaultPolicySpec, FilterRef, RateLimitPolicySpec, RouteSpec } from '../policy/schemas'

// The compiled configuration one proxy receives: everything it needs to enforce the mesh for its service,
// and nothing of other tenants. The control API builds it (control-api/src/snapshot/compile-snapshot.ts);
// the proxies and `simulate` read it through the evaluators in mesh/src/policy/.

export const SNAPSHOT_SCHEMA = 'weft.snapshot/v1'

/** A policy as the evaluators see it: name, creation time (Gateway API's tie-breaker) and spec. */
export type Compiled<S> = { name: string; createdAt: string; spec: S }

export type SnapshotEndpoint = {
  id: string
  address: string
  port: number
  zone: string | null
  labels: Record<string, string>
  weight: number
  health: 'healthy' | 'draining'
}

export type SnapshotFilter = Required<Pick<FilterRef, 'filter' | 'failurePolicy'>> & { version: string; sha256: string; config: unknown }

export type OutboundService = {
  name: string
  spiffeId: string
  protocol: 'http' | 'grpc'
  port: number
  labels: Record<string, string>
  /** TTL-live endpoints that are healthy or draining; unhealthy and expired ones are left out. */
  endpoints: SnapshotEndpoint[]
  routes: Compiled<RouteSpec>[]
  backendPolicy: Compiled<BackendPolicySpec> | null
}

export type Snapshot = {
  schema: typeof SNAPSHOT_SCHEMA
  revision: number
  tenant: { slug: string; trustDomain: string }
  /** The `iss` of every JWT-SVID of this tenant. */
  issuer: string
  service: {
    name: string
    spiffeId: string
    protocol: 'http' | 'grpc'
    port: number
    labels: Record<string, string>
    /** The services it declared it calls; null when it may call any. `outbound` is cut to these (see below). */
    dependencies: string[] | null
  }
  inbound: {
    authorization: Compiled<AuthorizationPolicySpec>[]
    rateLimits: Compiled<RateLimitPolicySpec>[]
    faults: Compiled<FaultPolicySpec>[]
    filterChain: { policy: string; filters: SnapshotFilter[] } | null
  }
  /**
   * Every service this one may call, by name: its own (for loopback calls), its declared dependencies (all of
   * the tenant's services when it declared none) and every service their routes send or mirror traffic to.
   */
  outbound: Record<string, OutboundService>
  jwks: { keys: Record<string, unknown>[] }
  /** Workload ids (the `wid` claim) whose tokens must be refused although still unexpired. */
  revokedWorkloads: string[]
  /** Where the proxy exports spans; null (or absent, from older control APIs) when the tenant has tracing off. */
  tracing?: SnapshotTracing | null
}

/** The tenant's collector (`PUT /v1/tracing`): OTLP/HTTP traces URL, headers it wants, share of new traces sampled. */
export type SnapshotTracing = {
  /** The full OTLP/HTTP traces URL, e.g. `https://collector.example.com/v1/traces`. */
  endpoint: string
  /** Sent with every export (e.g. the collector's API key). */
  headers: Record<string, string>
  /** 0..1: the share of traces a proxy starts that are sampled; an incoming `traceparent`'s flag wins. */
  sampleRate: number
}
