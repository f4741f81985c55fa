import { spiffeIdOf } from '../../../mesh/src/identity'
import type { AuthorizationPolicySpec, BackendPolicySpec, FaultPolicySpec, FilterChainSpec, RateLimitPolicySpec, RouteSpec } from '../../../mesh/src/policy/schemas'
import { canonicalJson } from '../../../mesh/src/snapshot/canonical-json'
import { SNAPSHOT_SCHEMA, type OutboundService, type Snapshot, type SnapshotFilter } from '../../../mesh/src/snapshot/types'
import { NotFound } from '../errors'
import { sha256Hex } from '../sha256-hex'
import { snapshotDigest } from './snapshot-digest'

export { sha256Hex }
import { policiesOf, type TenantModel } from './tenant-model'

/** Every service's outbound view of the tenant is the same; build it once per model. */
export function compileOutbound(model: TenantModel): Record<string, OutboundService> {
  const out: Record<string, OutboundService> = {}
  for (const s of model.services) {
    out[s.name] = {
      name: s.name,
      spiffeId: spiffeIdOf(model.trustDomain, s.name),
      protocol: s.protocol,
      port: s.port,
      labels: s.labels,
      endpoints: model.endpointsByService.get(s.id) ?? [],
      routes: policiesOf<RouteSpec>(model, s.name, 'Route'),
      backendPolicy: policiesOf<BackendPolicySpec>(model, s.name, 'BackendPolicy')[0] ?? null,
    }
  }
  return out
}

/**
 * The services a service's proxy needs, when it declared its dependencies: itself, those, and — followed
 * transitively — every service a route or backend policy of theirs sends or mirrors traffic to (a Route of
 * `payments` that splits to `payments-v2` makes its callers need `payments-v2`'s endpoints). Null when it
 * declared none: it may call any service, so it gets the tenant's whole (shared) outbound section.
 */
export function outboundScope(model: TenantModel, serviceName: string): string[] | null {
  const s = model.services.find((x) => x.name === serviceName)
  if (!s || s.dependencies === null) return null
  const known = new Set(model.services.map((x) => x.name))
  const scope = new Set<string>()
  const pending = [s.name, ...s.dependencies]
  while (pending.length > 0) {
    const name = pending.pop()!
    if (scope.has(name) || !known.has(name)) continue
    scope.add(name)
    for (const route of policiesOf<RouteSpec>(model, name, 'Route')) pending.push(...servicesReferencedBy(route.spec))
  }
  return [...scope].sort()
}

/** Every service a Route names: in backendRefs and in mirror filters (of rules and of backendRefs). */
function servicesReferencedBy(spec: unknown): string[] {
  // Walk the JSON rather than the Route's shape: any `service` inside a backendRef-like object counts, so a
  // field added to the schema later cannot silently leave a referenced service out of a scoped snapshot.
  const found: string[] = []
  const walk = (v: unknown) => {
    if (Array.isArray(v)) for (const x of v) walk(x)
    else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (k === 'service' && typeof x === 'string') found.push(x)
        else walk(x)
      }
    }
  }
  walk(spec)
  return found
}

function filterChainOf(model: TenantModel, service: string): Snapshot['inbound']['filterChain'] {
  const chain = policiesOf<FilterChainSpec>(model, service, 'FilterChain')[0]
  if (!chain) return null
  const resolved: SnapshotFilter[] = []
  for (const f of chain.spec.filters) {
    // Validated on write; a filter version deleted since then drops out rather than break the snapshot.
    const sha256 = f.sha256 ?? model.filterIndex.get(`${f.filter}@${f.version}`)
    const version = f.version ?? (f.sha256 ? model.filterIndex.get(`${f.filter}#${f.sha256}`) : undefined)
    if (!sha256 || !version) continue
    resolved.push({ filter: f.filter, version, sha256, config: f.config ?? null, failurePolicy: f.failurePolicy })
  }
  return { policy: chain.name, filters: resolved }
}

export function compileSnapshot(model: TenantModel, serviceName: string, issuer: string, outbound: Record<string, OutboundService>): Snapshot {
  const s = model.services.find((x) => x.name === serviceName)
  if (!s) throw new NotFound(`no service "${serviceName}"`)
  return {
    schema: SNAPSHOT_SCHEMA,
    revision: model.revision,
    tenant: { slug: model.slug, trustDomain: model.trustDomain },
    issuer,
    service: { name: s.name, spiffeId: spiffeIdOf(model.trustDomain, s.name), protocol: s.protocol, port: s.port, labels: s.labels, dependencies: s.dependencies },
    inbound: {
      authorization: policiesOf<AuthorizationPolicySpec>(model, s.name, 'AuthorizationPolicy'),
      rateLimits: policiesOf<RateLimitPolicySpec>(model, s.name, 'RateLimitPolicy'),
      faults: policiesOf<FaultPolicySpec>(model, s.name, 'FaultPolicy'),
      filterChain: filterChainOf(model, s.name),
    },
    outbound: scoped(outbound, outboundScope(model, s.name)),
    jwks: { keys: model.jwks },
    revokedWorkloads: model.revokedWorkloads,
    tracing: model.tracing,
  }
}

function scoped(outbound: Record<string, OutboundService>, scope: string[] | null): Record<string, OutboundService> {
  if (scope === null) return outbound
  const out: Record<string, OutboundService> = {}
  for (const name of scope) if (Object.hasOwn(outbound, name)) out[name] = outbound[name]!
  return out
}

export type CompiledSnapshot = {
  snapshot: Snapshot
  /** Built on each read from the service's own part and the tenant's shared outbound JSON (not kept per service). */
  readonly body: string
  etag: string
  revision: number
}

const OUTBOUND_MARK = '\u0000OUTBOUND\u0000'

/**
 * The bytes proxies receive and their ETag. The outbound section is most of a snapshot and the same for every
 * service of the tenant, so it is serialised and hashed once per revision (`shared`); per service only the
 * small rest is. The ETag hashes both hashes: equal snapshots have equal tags on every instance.
 */
export async function serialise(
  snapshot: Snapshot,
  shared?: { outboundJson: string; outboundHash: string } | { pieces: Map<string, string> },
): Promise<CompiledSnapshot> {
  if (!shared) {
    const body = canonicalJson(snapshot)
    return { snapshot, body, etag: `"${snapshotDigest(body).slice(0, 32)}"`, revision: snapshot.revision }
  }
  if ('pieces' in shared) {
    // A scoped snapshot (declared dependencies): its outbound services are each serialised once per revision,
    // however many scoped snapshots name them, and joined here in canonicalJson's key order, so the body is
    // byte for byte canonicalJson(snapshot) and the ETag is the one the plain path would give.
    const names = Object.keys(snapshot.outbound).sort()
    const parts = names.map((n) => {
      let piece = shared.pieces.get(n)
      if (piece === undefined) shared.pieces.set(n, (piece = canonicalJson(snapshot.outbound[n])))
      return `${JSON.stringify(n)}:${piece}`
    })
    const [before, after] = canonicalJson({ ...snapshot, outbound: OUTBOUND_MARK }).split(JSON.stringify(OUTBOUND_MARK)) as [string, string]
    const body = `${before}{${parts.join(',')}}${after}`
    return { snapshot, body, etag: `"${snapshotDigest(body).slice(0, 32)}"`, revision: snapshot.revision }
  }
  const [before, after] = canonicalJson({ ...snapshot, outbound: OUTBOUND_MARK }).split(JSON.stringify(OUTBOUND_MARK)) as [string, string]
  const etag = `"${snapshotDigest(`${snapshotDigest(before + after)}:${shared.outboundHash}`).slice(0, 32)}"`
  return {
    snapshot,
    get body() {
      // A rope: V8 joins the parts when the response is written, so no per-service copy is kept in the cache.
      return before + shared.outboundJson + after
    },
    etag,
    revision: snapshot.revision,
  }
}
