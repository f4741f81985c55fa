import { sql } from 'drizzle-orm'
import {
  bigint,
  bigserial,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core'

// The one description of Weft's tables. migrations/ is generated from this file by `npm run db:generate`.
// Enumerations are text + CHECK rather than Postgres enums: adding a value to a CHECK is a plain migration,
// adding one to an enum cannot run inside a transaction on older servers.

const createdAt = () => timestamp('created_at', { mode: 'date', precision: 3, withTimezone: true }).notNull().defaultNow()
const updatedAt = () => timestamp('updated_at', { mode: 'date', precision: 3, withTimezone: true }).notNull().defaultNow()

export type Quotas = { maxServices: number; maxEndpointsPerService: number; maxApiKeys: number }
export type Labels = Record<string, string>
export type Actor = { type: 'operator' | 'api-key' | 'workload' | 'system'; id: string | null; name: string | null }

export const tenants = pgTable(
  'tenants',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    slug: text('slug').notNull(),
    displayName: text('display_name').notNull(),
    trustDomain: text('trust_domain').notNull(),
    quotas: jsonb('quotas').$type<Quotas>().notNull(),
    // Bumped in the same transaction as every change to the tenant's mesh; proxies watch it.
    revision: bigint('revision', { mode: 'number' }).notNull().default(0),
    version: integer('version').notNull().default(1),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [uniqueIndex('tenants_slug_key').on(t.slug)],
)

export const operatorKeys = pgTable(
  'operator_keys',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    name: text('name').notNull(),
    secretHash: text('secret_hash').notNull(),
    createdAt: createdAt(),
    revokedAt: timestamp('revoked_at', { mode: 'date', precision: 3, withTimezone: true }),
  },
  (t) => [uniqueIndex('operator_keys_secret_hash_key').on(t.secretHash)],
)

export const apiKeys = pgTable(
  'api_keys',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    role: text('role').notNull(),
    // The first characters of the secret, enough to recognise a key in a list without revealing it.
    prefix: text('prefix').notNull(),
    secretHash: text('secret_hash').notNull(),
    createdBy: jsonb('created_by').$type<Actor>().notNull(),
    createdAt: createdAt(),
    expiresAt: timestamp('expires_at', { mode: 'date', precision: 3, withTimezone: true }),
    revokedAt: timestamp('revoked_at', { mode: 'date', precision: 3, withTimezone: true }),
  },
  (t) => [
    uniqueIndex('api_keys_secret_hash_key').on(t.secretHash),
    index('api_keys_tenant_idx').on(t.tenantId, t.createdAt),
    check('api_keys_role_check', sql`${t.role} in ('admin', 'editor', 'viewer')`),
  ],
)

export const services = pgTable(
  'services',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    protocol: text('protocol').notNull(),
    port: integer('port').notNull(),
    labels: jsonb('labels').$type<Labels>().notNull(),
    description: text('description').notNull().default(''),
    version: integer('version').notNull().default(1),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('services_tenant_name_key').on(t.tenantId, t.name),
    check('services_protocol_check', sql`${t.protocol} in ('http', 'grpc')`),
    check('services_port_check', sql`${t.port} between 1 and 65535`),
  ],
)

export const endpoints = pgTable(
  'endpoints',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    serviceId: uuid('service_id')
      .notNull()
      .references(() => services.id, { onDelete: 'cascade' }),
    address: text('address').notNull(),
    port: integer('port').notNull(),
    zone: text('zone'),
    labels: jsonb('labels').$type<Labels>().notNull(),
    weight: integer('weight').notNull(),
    health: text('health').notNull(),
    ttlSeconds: integer('ttl_seconds').notNull(),
    lastHeartbeatAt: timestamp('last_heartbeat_at', { mode: 'date', precision: 3, withTimezone: true }).notNull(),
    expiresAt: timestamp('expires_at', { mode: 'date', precision: 3, withTimezone: true }).notNull(),
    version: integer('version').notNull().default(1),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('endpoints_service_address_port_key').on(t.serviceId, t.address, t.port),
    index('endpoints_tenant_service_idx').on(t.tenantId, t.serviceId),
    check('endpoints_health_check', sql`${t.health} in ('healthy', 'unhealthy', 'draining')`),
    check('endpoints_weight_check', sql`${t.weight} between 0 and 10000`),
  ],
)

export const auditEvents = pgTable(
  'audit_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    // Null only for operator actions that outlive the tenant (its deletion).
    tenantId: uuid('tenant_id').references(() => tenants.id, { onDelete: 'cascade' }),
    actor: jsonb('actor').$type<Actor>().notNull(),
    action: text('action').notNull(),
    resourceType: text('resource_type').notNull(),
    resourceId: text('resource_id'),
    resourceName: text('resource_name'),
    before: jsonb('before'),
    after: jsonb('after'),
    revision: bigint('revision', { mode: 'number' }),
    requestId: text('request_id'),
    createdAt: createdAt(),
  },
  (t) => [index('audit_events_tenant_idx').on(t.tenantId, t.id)],
)
