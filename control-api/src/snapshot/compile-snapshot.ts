import { spiffeIdOf } from '../../../mesh/src/identity'
import type { AuthorizationPolicySpec, BackendPolicySpec, FaultPolicySpec, FilterChainSpec, RateLimitPolicySpec, RouteSpec } from '../../../mesh/src/policy/schemas'
import { canonicalJson } from '../../../mesh/src/snapshot/canonical-json'
import { SNAPSHOT_SCHEMA, type OutboundService, type Snapshot, type SnapshotFilter } from '../../../mesh/src/snapshot/types'
import { NotFound } from '../errors'
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
    service: { name: s.name, spiffeId: spiffeIdOf(model.trustDomain, s.name), protocol: s.protocol, port: s.port, labels: s.labels },
    inbound: {
      authorization: policiesOf<AuthorizationPolicySpec>(model, s.name, 'AuthorizationPolicy'),
      rateLimits: policiesOf<RateLimitPolicySpec>(model, s.name, 'RateLimitPolicy'),
      faults: policiesOf<FaultPolicySpec>(model, s.name, 'FaultPolicy'),
      filterChain: filterChainOf(model, s.name),
    },
    outbound,
    jwks: { keys: model.jwks },
    revokedWorkloads: model.revokedWorkloads,
  }
}

export type CompiledSnapshot = { snapshot: Snapshot; body: string; etag: string; revision: number }

async function sha256Hex(s: string): Promise<string> {
  const d = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(s))
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, '0')).join('')
}

/** The bytes proxies receive, and their ETag: a content hash, so equal snapshots have equal tags on every instance. */
export async function serialise(snapshot: Snapshot, outboundJson?: string): Promise<CompiledSnapshot> {
  // The outbound section dominates the size and is shared by all services: splice in its cached JSON.
  const body = outboundJson
    ? canonicalJson({ ...snapshot, outbound: '\u0000OUTBOUND\u0000' }).replace('"\\u0000OUTBOUND\\u0000"', outboundJson)
    : canonicalJson(snapshot)
  return { snapshot, body, etag: `"${(await sha256Hex(body)).slice(0, 32)}"`, revision: snapshot.revision }
}
