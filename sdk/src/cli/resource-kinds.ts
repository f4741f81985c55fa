import type { ApiKey, Endpoint, FilterVersion, Policy, Service, Tenant, Weft } from '../index.js'
import type { Column } from './output.js'
import { UsageError } from './exit.js'

/** A resource as `weft get` and `weft <resource> list|get` show it. */
export type ResourceKind<T = any> = {
  /** The first is canonical; the rest are accepted by `weft get`. */
  names: readonly string[]
  /** Operator resources prefer WEFT_OPERATOR_KEY. */
  operator?: boolean
  columns: readonly Column<T>[]
  /** A scope argument `list` needs (endpoints are per service). */
  scope?: string
  list: (weft: Weft, scope: string | undefined) => Promise<T[]>
  get?: (weft: Weft, name: string) => Promise<T>
}

export const serviceKind: ResourceKind<Service> = {
  names: ['services', 'service', 'svc'],
  columns: [
    { header: 'NAME', value: (s) => s.name },
    { header: 'PROTOCOL', value: (s) => s.protocol },
    { header: 'PORT', value: (s) => s.port },
    { header: 'LABELS', value: (s) => s.labels },
    { header: 'VERSION', value: (s) => s.version },
    { header: 'UPDATED', value: (s) => s.updatedAt },
  ],
  list: (weft) => weft.services.list({ limit: 100 }).toArray(),
  get: (weft, name) => weft.services.get(name),
}

export const policyKind: ResourceKind<Policy> = {
  names: ['policies', 'policy', 'pol'],
  columns: [
    { header: 'NAME', value: (p) => p.name },
    { header: 'KIND', value: (p) => p.kind },
    { header: 'TARGET', value: (p) => p.targetRef.service },
    { header: 'VERSION', value: (p) => p.version },
    { header: 'REVISION', value: (p) => p.revision },
    { header: 'UPDATED', value: (p) => p.updatedAt },
  ],
  list: (weft) => weft.policies.list({ limit: 100 }).toArray(),
  get: (weft, name) => weft.policies.get(name),
}

export const tenantKind: ResourceKind<Tenant> = {
  names: ['tenants', 'tenant'],
  operator: true,
  columns: [
    { header: 'SLUG', value: (t) => t.slug },
    { header: 'DISPLAY NAME', value: (t) => t.displayName },
    { header: 'TRUST DOMAIN', value: (t) => t.trustDomain },
    { header: 'REVISION', value: (t) => t.revision },
    { header: 'CREATED', value: (t) => t.createdAt },
  ],
  list: (weft) => weft.tenants.list({ limit: 100 }).toArray(),
  get: (weft, slug) => weft.tenants.get(slug),
}

export const keyKind: ResourceKind<ApiKey> = {
  names: ['keys', 'key', 'api-keys', 'apikeys'],
  columns: [
    { header: 'ID', value: (k) => k.id },
    { header: 'NAME', value: (k) => k.name },
    { header: 'ROLE', value: (k) => k.role },
    { header: 'PREFIX', value: (k) => k.prefix },
    { header: 'CREATED', value: (k) => k.createdAt },
    { header: 'REVOKED', value: (k) => k.revokedAt },
  ],
  list: (weft) => weft.apiKeys.list({ limit: 100 }).toArray(),
}

export const filterKind: ResourceKind<FilterVersion> = {
  names: ['filters', 'filter'],
  columns: [
    { header: 'NAME', value: (f) => f.name },
    { header: 'VERSION', value: (f) => f.version },
    { header: 'SHA256', value: (f) => f.sha256.slice(0, 12) },
    { header: 'SIZE', value: (f) => f.size },
    { header: 'ABI', value: (f) => f.abiVersion },
    { header: 'CREATED', value: (f) => f.createdAt },
  ],
  list: (weft) => weft.filters.list().toArray(),
}

export const endpointKind: ResourceKind<Endpoint> = {
  names: ['endpoints', 'endpoint', 'ep'],
  scope: 'SERVICE',
  columns: [
    { header: 'ID', value: (e) => e.id },
    { header: 'ADDRESS', value: (e) => `${e.address}:${e.port}` },
    { header: 'ZONE', value: (e) => e.zone },
    { header: 'LABELS', value: (e) => e.labels },
    { header: 'WEIGHT', value: (e) => e.weight },
    { header: 'HEALTH', value: (e) => e.health },
    { header: 'EXPIRES', value: (e) => e.expiresAt },
  ],
  list: (weft, service) => weft.endpoints.list(service!, { limit: 100 }).toArray(),
}

export const RESOURCE_KINDS: readonly ResourceKind[] = [serviceKind, policyKind, tenantKind, keyKind, filterKind, endpointKind]

export function kindNamed(name: string): ResourceKind {
  const kind = RESOURCE_KINDS.find((k) => k.names.includes(name.toLowerCase()))
  if (!kind) throw new UsageError(`unknown resource ${JSON.stringify(name)}: one of ${RESOURCE_KINDS.map((k) => k.names[0]).join(', ')}`)
  return kind
}
