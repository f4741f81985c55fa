import { eq, sql } from 'drizzle-orm'
import type { Queryable } from '../db/client'
import { proxies, proxyRevisions } from '../db/schema'

export type ProxyReport = {
  tenantId: string
  serviceId: string
  workloadId: string
  proxyId: string
  appliedRevision: number
  runtime: string
  labels: Record<string, string>
  missingFilters: string[]
  now: Date
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const LABEL = /^[A-Za-z0-9][-A-Za-z0-9_./]{0,62}=[-A-Za-z0-9_.]{0,63}$/
const SHA256 = /^[0-9a-f]{64}$/
// A FilterChain holds a few filters; a longer list is a malformed header, not a report.
const MAX_MISSING_FILTERS = 32

/** Reads the acknowledgement headers a proxy sends with each config poll; anything malformed is ignored. */
export function parseProxyHeaders(
  h: (name: string) => string | undefined,
): { proxyId: string; appliedRevision: number; runtime: string; labels: Record<string, string>; missingFilters: string[] } | null {
  const proxyId = h('weft-proxy-id')
  if (!proxyId || !UUID.test(proxyId)) return null
  const applied = Number(h('weft-applied-revision') ?? '0')
  const runtime = h('weft-proxy-runtime') ?? 'unknown'
  const labels: Record<string, string> = {}
  for (const pair of (h('weft-proxy-labels') ?? '').split(',')) {
    const p = pair.trim()
    if (LABEL.test(p)) {
      const i = p.indexOf('=')
      labels[p.slice(0, i)] = p.slice(i + 1)
    }
  }
  // `Weft-Missing-Filters`: the digests of FilterChain modules the proxy could not load from its bundle.
  const missingFilters = [...new Set((h('weft-missing-filters') ?? '').split(',').map((d) => d.trim().toLowerCase()))].filter((d) => SHA256.test(d)).sort().slice(0, MAX_MISSING_FILTERS)
  return {
    proxyId: proxyId.toLowerCase(),
    appliedRevision: Number.isSafeInteger(applied) && applied >= 0 ? applied : 0,
    runtime: /^(node|workers)$/.test(runtime) ? runtime : 'unknown',
    labels,
    missingFilters,
  }
}

/**
 * Records what a proxy says it has applied. One upsert per poll (a proxy polls at most every wait period),
 * plus a row the first time it reports each revision, for convergence times.
 */
export async function recordProxyReport(db: Queryable, r: ProxyReport): Promise<void> {
  const [existing] = await db
    .select({ tenantId: proxies.tenantId, appliedRevision: proxies.appliedRevision })
    .from(proxies)
    .where(eq(proxies.id, r.proxyId))
  // A proxy id is bound to the tenant that first used it: another tenant cannot overwrite it.
  if (existing && existing.tenantId !== r.tenantId) return
  const advanced = !existing || r.appliedRevision > existing.appliedRevision
  await db
    .insert(proxies)
    .values({
      id: r.proxyId,
      tenantId: r.tenantId,
      serviceId: r.serviceId,
      workloadId: r.workloadId,
      labels: r.labels,
      runtime: r.runtime,
      missingFilters: r.missingFilters,
      appliedRevision: r.appliedRevision,
      appliedAt: r.now,
      firstSeenAt: r.now,
      lastSeenAt: r.now,
    })
    .onConflictDoUpdate({
      target: proxies.id,
      set: {
        lastSeenAt: r.now,
        labels: r.labels,
        runtime: r.runtime,
        missingFilters: r.missingFilters,
        workloadId: r.workloadId,
        appliedRevision: sql`greatest(${proxies.appliedRevision}, ${r.appliedRevision})`,
        appliedAt: advanced ? r.now : sql`${proxies.appliedAt}`,
      },
      setWhere: eq(proxies.tenantId, r.tenantId),
    })
  if (advanced && r.appliedRevision > 0) {
    await db
      .insert(proxyRevisions)
      .values({ proxyId: r.proxyId, tenantId: r.tenantId, revision: r.appliedRevision, appliedAt: r.now })
      .onConflictDoNothing()
  }
}

