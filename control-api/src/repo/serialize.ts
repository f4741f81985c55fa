import type { apiKeys, endpoints, services, tenants } from '../db/schema'

// Rows → API shapes. Dates become ISO strings; secrets and hashes never leave this layer.

export function toTenant(t: typeof tenants.$inferSelect) {
  return {
    id: t.id,
    slug: t.slug,
    displayName: t.displayName,
    trustDomain: t.trustDomain,
    quotas: t.quotas,
    tokenTtlSeconds: t.tokenTtlSeconds,
    revision: t.revision,
    version: t.version,
    createdAt: t.createdAt.toISOString(),
    updatedAt: t.updatedAt.toISOString(),
  }
}

export function toApiKey(k: typeof apiKeys.$inferSelect) {
  return {
    id: k.id,
    name: k.name,
    role: k.role as 'admin' | 'editor' | 'viewer',
    prefix: k.prefix,
    createdAt: k.createdAt.toISOString(),
    expiresAt: k.expiresAt?.toISOString() ?? null,
    revokedAt: k.revokedAt?.toISOString() ?? null,
  }
}

export function toService(s: typeof services.$inferSelect) {
  return {
    id: s.id,
    name: s.name,
    protocol: s.protocol as 'http' | 'grpc',
    port: s.port,
    labels: s.labels,
    description: s.description,
    dependencies: s.dependencies ?? null,
    version: s.version,
    createdAt: s.createdAt.toISOString(),
    updatedAt: s.updatedAt.toISOString(),
  }
}

export function toEndpoint(e: typeof endpoints.$inferSelect, service: string, now: Date) {
  return {
    id: e.id,
    service,
    address: e.address,
    port: e.port,
    zone: e.zone,
    labels: e.labels,
    weight: e.weight,
    health: e.health as 'healthy' | 'unhealthy' | 'draining',
    ttlSeconds: e.ttlSeconds,
    lastHeartbeatAt: e.lastHeartbeatAt.toISOString(),
    expiresAt: e.expiresAt.toISOString(),
    expired: e.expiresAt.getTime() <= now.getTime(),
    version: e.version,
    createdAt: e.createdAt.toISOString(),
  }
}
