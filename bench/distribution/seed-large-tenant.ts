/**
 * Fills an onboarded tenant with a large mesh in bulk (multi-row INSERTs through drizzle and the real
 * schema), far faster than thousands of API calls. Policies are parsed with the API's own `PolicyInput`
 * schema first, so they are stored exactly as a write through the API would store them (defaults filled).
 */
import { PolicyInput } from '../../mesh/src/policy/schemas'
import type { Db } from '../../control-api/src/db/client'
import { and, eq } from 'drizzle-orm'
import { endpoints, policies, policyVersions, services, type Actor } from '../../control-api/src/db/schema'
import { recordChange } from '../../control-api/src/repo/audit'

export type LargeTenantShape = {
  services: number
  endpointsPerService: number
  /** Every 1/n-th service gets a Route (canary split) and an AuthorizationPolicy. */
  policyEvery: number
  /** Endpoint TTL: long enough to outlive the benchmark, as heartbeats would keep it alive. */
  endpointTtlSeconds: number
}

export const serviceName = (i: number) => `svc-${String(i).padStart(4, '0')}`
export const routeName = (i: number) => `${serviceName(i)}-canary`

// 1000 rows of at most 13 columns stay well under PostgreSQL's 65535 bind parameters per statement.
const CHUNK = 1000
const ZONES = ['zone-a', 'zone-b', 'zone-c']
const actor: Actor = { type: 'system', id: null, name: 'distribution-bench' }

export function canaryRoute(i: number, stableWeight: number) {
  return PolicyInput.parse({
    kind: 'Route',
    name: routeName(i),
    targetRef: { service: serviceName(i) },
    spec: {
      rules: [
        {
          name: 'api',
          matches: [{ path: { type: 'PathPrefix', value: '/api' } }, { headers: [{ name: 'x-canary', value: 'true' }] }],
          backendRefs: [
            { labels: { version: 'v1' }, weight: stableWeight },
            { labels: { version: 'v2' }, weight: 100 - stableWeight },
          ],
          timeout: '2s',
          retry: { attempts: 2, perTryTimeout: '500ms' },
        },
        { backendRefs: [{ labels: { version: 'v1' }, weight: 1 }] },
      ],
    },
  })
}

function authorization(i: number, total: number) {
  const callers = [1, 2, 3].map((d) => serviceName((i + d) % total))
  return PolicyInput.parse({
    kind: 'AuthorizationPolicy',
    name: `${serviceName(i)}-authz`,
    targetRef: { service: serviceName(i) },
    spec: {
      action: 'ALLOW',
      rules: [
        { from: { principals: callers.map((s) => `spiffe://bench-big.weft/svc/${s}`) }, to: { methods: ['GET', 'POST'], paths: ['/api/*'] } },
        { from: { principals: ['spiffe://bench-big.weft/svc/*'] }, to: { methods: ['GET'], paths: ['/healthz'] } },
      ],
    },
  })
}

async function insertChunked<T>(rows: T[], insert: (chunk: T[]) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < rows.length; i += CHUNK) await insert(rows.slice(i, i + CHUNK))
}

/** Returns the tenant's revision after seeding (one revision for the whole bulk load). */
export async function seedLargeTenant(db: Db, tenantId: string, shape: LargeTenantShape, now: Date): Promise<number> {
  return db.transaction(async (tx) => {
    const svcRows = Array.from({ length: shape.services }, (_, i) => ({
      tenantId,
      name: serviceName(i),
      protocol: i % 10 === 9 ? 'grpc' : 'http',
      port: 8080,
      labels: { app: serviceName(i), team: `team-${i % 25}`, tier: i % 3 === 0 ? 'frontend' : 'backend' },
      description: `benchmark service ${i}`,
    }))
    const ids: string[] = []
    await insertChunked(svcRows, async (chunk) => {
      for (const r of await tx.insert(services).values(chunk).returning({ id: services.id })) ids.push(r.id)
    })

    const expiresAt = new Date(now.getTime() + shape.endpointTtlSeconds * 1000)
    const epRows = ids.flatMap((serviceId, s) =>
      Array.from({ length: shape.endpointsPerService }, (_, e) => ({
        tenantId,
        serviceId,
        address: `10.${(s >> 8) & 255}.${s & 255}.${e + 10}`,
        port: 8080,
        zone: ZONES[e % ZONES.length]!,
        // One canary endpoint in five, as a rollout in progress would have.
        labels: { version: e === shape.endpointsPerService - 1 ? 'v2' : 'v1', pod: `${serviceName(s)}-${e}` },
        weight: 100,
        health: 'healthy',
        ttlSeconds: shape.endpointTtlSeconds,
        lastHeartbeatAt: now,
        expiresAt,
      })),
    )
    await insertChunked(epRows, (chunk) => tx.insert(endpoints).values(chunk))

    const revision = (await recordChange(tx, { tenantId, actor, action: 'bench.seed', resourceType: 'tenant', after: { ...shape } }))!
    const inputs = ids.flatMap((_, i) => (i % shape.policyEvery === 0 ? [canaryRoute(i, 90), authorization(i, shape.services)] : []))
    const policyRows = inputs.map((p) => ({ tenantId, name: p.name, kind: p.kind, targetService: p.targetRef.service, spec: p.spec, version: 1, revision }))
    await insertChunked(policyRows, (chunk) => tx.insert(policies).values(chunk))
    await insertChunked(
      policyRows.map(({ tenantId, name, kind, targetService, spec, version, revision }) => ({ tenantId, name, kind, targetService, spec, version, revision, operation: 'create', actor })),
      (chunk) => tx.insert(policyVersions).values(chunk),
    )
    return revision
  })
}

/**
 * Gives every service of the seeded tenant declared dependencies: the next `perService` services (wrapping
 * around), as a call graph where each service talks to a handful of others would. Returns the new revision.
 */
export async function declareDependencies(db: Db, tenantId: string, shape: LargeTenantShape, perService: number): Promise<number> {
  return db.transaction(async (tx) => {
    for (let i = 0; i < shape.services; i++) {
      const dependencies = Array.from({ length: perService }, (_, d) => serviceName((i + 1 + d) % shape.services)).sort()
      await tx.update(services).set({ dependencies }).where(and(eq(services.tenantId, tenantId), eq(services.name, serviceName(i))))
    }
    return (await recordChange(tx, { tenantId, actor, action: 'bench.dependencies', resourceType: 'tenant', after: { perService } }))!
  })
}
