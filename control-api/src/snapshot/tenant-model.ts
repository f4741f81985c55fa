import { and, eq, gt, isNotNull, ne } from 'drizzle-orm'
import type { Compiled, SnapshotEndpoint, SnapshotTracing } from '../../../mesh/src/snapshot/types'
import type { Db } from '../db/client'
import { endpoints, filters, policies, services, tenants, workloads } from '../db/schema'
import { NotFound } from '../errors'
import { MAX_TOKEN_TTL_SECONDS, publishedKeys, VERIFIER_SKEW_SECONDS } from '../identity/signing-keys'
import { unsealTracingHeaders } from '../tracing/tracing-headers'

export type PolicyRow = { kind: string; name: string; targetService: string; createdAt: string; spec: unknown }

/**
 * Everything about one tenant that snapshots are made of, read in one consistent (repeatable-read)
 * transaction so the revision and the data it describes agree. Loaded once per tenant revision; every
 * service's snapshot is then cut from it without further queries.
 */
export type TenantModel = {
  tenantId: string
  slug: string
  trustDomain: string
  revision: number
  services: { id: string; name: string; protocol: 'http' | 'grpc'; port: number; labels: Record<string, string>; dependencies: string[] | null }[]
  endpointsByService: Map<string, SnapshotEndpoint[]>
  policiesByTarget: Map<string, PolicyRow[]>
  /** `${filter}@${version}` → sha256, and `${filter}#${sha256}` → version. */
  filterIndex: Map<string, string>
  jwks: Record<string, unknown>[]
  revokedWorkloads: string[]
  tracing: SnapshotTracing | null
}

const byName = <T extends { name: string }>(a: T, b: T) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)

/** `masterKey` unseals the tenant's collector headers; without it (no WEFT_MASTER_KEY) they are left out. */
export async function loadTenantModel(db: Db, tenantId: string, now: Date, masterKey: CryptoKey | null = null): Promise<TenantModel> {
  return db.transaction(
    async (tx) => {
      const [tenant] = await tx.select().from(tenants).where(eq(tenants.id, tenantId))
      if (!tenant) throw new NotFound('tenant not found')
      // One after another: a transaction is one connection, and node-postgres does not pipeline queries.
      const svcRows = await tx.select().from(services).where(eq(services.tenantId, tenantId))
      const epRows = await tx
        .select()
        .from(endpoints)
        .where(and(eq(endpoints.tenantId, tenantId), gt(endpoints.expiresAt, now), eq(endpoints.expired, false), ne(endpoints.health, 'unhealthy')))
      const policyRows = await tx.select().from(policies).where(eq(policies.tenantId, tenantId))
      const filterRows = await tx.select({ name: filters.name, version: filters.version, sha256: filters.sha256 }).from(filters).where(eq(filters.tenantId, tenantId))
      const jwks = await publishedKeys(tx, tenantId, now)
      // A revoked workload's tokens live at most MAX_TOKEN_TTL after revocation; after that the list can drop it.
      const revoked = await tx
        .select({ id: workloads.id })
        .from(workloads)
        .where(
          and(
            eq(workloads.tenantId, tenantId),
            isNotNull(workloads.revokedAt),
            gt(workloads.revokedAt, new Date(now.getTime() - (MAX_TOKEN_TTL_SECONDS + VERIFIER_SKEW_SECONDS) * 1000)),
          ),
        )
      const endpointsByService = new Map<string, SnapshotEndpoint[]>()
      for (const e of epRows.sort((a, b) => (a.id < b.id ? -1 : 1))) {
        const list = endpointsByService.get(e.serviceId) ?? []
        list.push({ id: e.id, address: e.address, port: e.port, zone: e.zone, labels: e.labels, weight: e.weight, health: e.health as 'healthy' | 'draining' })
        endpointsByService.set(e.serviceId, list)
      }
      const policiesByTarget = new Map<string, PolicyRow[]>()
      for (const p of policyRows.sort(byName)) {
        const list = policiesByTarget.get(p.targetService) ?? []
        list.push({ kind: p.kind, name: p.name, targetService: p.targetService, createdAt: p.createdAt.toISOString(), spec: p.spec })
        policiesByTarget.set(p.targetService, list)
      }
      const filterIndex = new Map<string, string>()
      for (const f of filterRows.sort((a, b) => (a.version < b.version ? -1 : 1))) {
        filterIndex.set(`${f.name}@${f.version}`, f.sha256)
        if (!filterIndex.has(`${f.name}#${f.sha256}`)) filterIndex.set(`${f.name}#${f.sha256}`, f.version)
      }
      return {
        tenantId,
        slug: tenant.slug,
        trustDomain: tenant.trustDomain,
        revision: tenant.revision,
        services: svcRows
          .map((s) => ({ id: s.id, name: s.name, protocol: s.protocol as 'http' | 'grpc', port: s.port, labels: s.labels, dependencies: s.dependencies ?? null }))
          .sort(byName),
        endpointsByService,
        policiesByTarget,
        filterIndex,
        jwks: [...jwks].sort((a, b) => (String(a.kid) < String(b.kid) ? -1 : 1)) as Record<string, unknown>[],
        revokedWorkloads: revoked.map((r) => r.id).sort(),
        tracing: tenant.tracing
          ? {
              endpoint: tenant.tracing.endpoint,
              sampleRate: tenant.tracing.sampleRate,
              headers: tenant.tracing.sealedHeaders && masterKey ? await unsealTracingHeaders(masterKey, tenantId, tenant.tracing.sealedHeaders) : {},
            }
          : null,
      }
    },
    { isolationLevel: 'repeatable read', accessMode: 'read only' },
  )
}

/** Policies of one kind targeting a service, oldest first (Gateway API: the oldest wins a conflict). */
export function policiesOf<S>(model: TenantModel, service: string, kind: string): Compiled<S>[] {
  return (model.policiesByTarget.get(service) ?? [])
    .filter((p) => p.kind === kind)
    .sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.name < b.name ? -1 : 1))
    .map((p) => ({ name: p.name, createdAt: p.createdAt, spec: p.spec as S }))
}
