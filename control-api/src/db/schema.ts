import { sql } from 'drizzle-orm'
import {
  bigint,
  boolean,
  customType,
  bigserial,
  check,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  primaryKey,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core'

const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType: () => 'bytea',
  // node-postgres hands back a Buffer, PGlite a Uint8Array: both are Uint8Arrays.
  fromDriver: (v) => (v instanceof Uint8Array ? v : new Uint8Array(v as ArrayBuffer)),
})

// The one description of Weft's tables. migrations/ is generated from this file by `npm run db:generate`.
// Enumerations are text + CHECK rather than Postgres enums: adding a value to a CHECK is a plain migration,
// adding one to an enum cannot run inside a transaction on older servers.

const createdAt = () => timestamp('created_at', { mode: 'date', precision: 3, withTimezone: true }).notNull().defaultNow()
const updatedAt = () => timestamp('updated_at', { mode: 'date', precision: 3, withTimezone: true }).notNull().defaultNow()

export type Quotas = { maxServices: number; maxEndpointsPerService: number; maxApiKeys: number }
/**
 * A tenant's tracing settings (compiled into the snapshot's `tracing`, mesh/src/snapshot/types.ts). The
 * collector's headers (its credentials) are sealed with WEFT_MASTER_KEY; their names are kept in clear for reads.
 */
export type TenantTracing = { endpoint: string; sampleRate: number; headerNames: string[]; sealedHeaders: string | null }
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
    // Lifetime of the JWT-SVIDs the tenant's workloads receive (DESIGN.md: default 15 min, at most 1 h).
    tokenTtlSeconds: integer('token_ttl_seconds').notNull().default(900),
    // Where the tenant's proxies export spans (OTLP/HTTP) and how many traces they sample; null: tracing off.
    // It travels to proxies in every snapshot, collector headers unsealed (they need them to authenticate).
    tracing: jsonb('tracing').$type<TenantTracing>(),
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
    /** Services this one calls (sorted, unique), or null for "any service of the tenant". Scopes its snapshot. */
    dependencies: jsonb('dependencies').$type<string[]>(),
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
    // Set by the expiry sweeper once it has announced (a new revision) that this endpoint lapsed.
    expired: boolean('expired').notNull().default(false),
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
  (t) => [index('audit_events_tenant_idx').on(t.tenantId, t.id), index('audit_events_tenant_revision_idx').on(t.tenantId, t.revision)],
)

/**
 * Per-tenant signing keys. Life cycle: `next` (published in the JWKS, not yet signing) → `current` (signs) →
 * `previous` (published until every token it signed has expired: `publish_until`) → `retired` (private key
 * erased, no longer published). Private keys are AES-GCM encrypted with WEFT_MASTER_KEY.
 */
export const signingKeys = pgTable(
  'signing_keys',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    kid: text('kid').notNull(),
    alg: text('alg').notNull(),
    status: text('status').notNull(),
    publicJwk: jsonb('public_jwk').$type<Record<string, unknown>>().notNull(),
    privateKeyEnc: text('private_key_enc'),
    createdAt: createdAt(),
    activatedAt: timestamp('activated_at', { mode: 'date', precision: 3, withTimezone: true }),
    deactivatedAt: timestamp('deactivated_at', { mode: 'date', precision: 3, withTimezone: true }),
    publishUntil: timestamp('publish_until', { mode: 'date', precision: 3, withTimezone: true }),
  },
  (t) => [
    uniqueIndex('signing_keys_kid_key').on(t.kid),
    index('signing_keys_tenant_idx').on(t.tenantId, t.status),
    check('signing_keys_status_check', sql`${t.status} in ('next', 'current', 'previous', 'retired')`),
    check('signing_keys_alg_check', sql`${t.alg} in ('ES256', 'ES384', 'RS256', 'PS256')`),
  ],
)

/** One-time or limited-use bootstrap secrets (wfj_…), bound to a service, stored hashed. */
export const joinTokens = pgTable(
  'join_tokens',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    serviceId: uuid('service_id')
      .notNull()
      .references(() => services.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    prefix: text('prefix').notNull(),
    secretHash: text('secret_hash').notNull(),
    maxUses: integer('max_uses').notNull(),
    uses: integer('uses').notNull().default(0),
    expiresAt: timestamp('expires_at', { mode: 'date', precision: 3, withTimezone: true }).notNull(),
    revokedAt: timestamp('revoked_at', { mode: 'date', precision: 3, withTimezone: true }),
    createdBy: jsonb('created_by').$type<Actor>().notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex('join_tokens_secret_hash_key').on(t.secretHash),
    index('join_tokens_service_idx').on(t.tenantId, t.serviceId),
  ],
)

/**
 * A workload is one proxy instance that joined with a join token. Its tokens carry its id (`wid`), so one
 * instance can be revoked without touching the rest of its service.
 */
export const workloads = pgTable(
  'workloads',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    serviceId: uuid('service_id')
      .notNull()
      .references(() => services.id, { onDelete: 'cascade' }),
    joinTokenId: uuid('join_token_id').references(() => joinTokens.id, { onDelete: 'set null' }),
    /** sha256 of the proxy's Idempotency-Key on the exchange: a retried exchange gets this workload again. */
    joinKeyHash: text('join_key_hash'),
    createdAt: createdAt(),
    lastIssuedAt: timestamp('last_issued_at', { mode: 'date', precision: 3, withTimezone: true }).notNull(),
    revokedAt: timestamp('revoked_at', { mode: 'date', precision: 3, withTimezone: true }),
    revokedReason: text('revoked_reason'),
  },
  (t) => [
    index('workloads_service_idx').on(t.tenantId, t.serviceId),
    index('workloads_revoked_idx').on(t.tenantId, t.revokedAt),
    uniqueIndex('workloads_join_key_idx').on(t.joinTokenId, t.joinKeyHash),
  ],
)

/**
 * The current version of each policy. Policies name their target service rather than reference its row:
 * like Gateway API routes, a policy may outlive (or precede) its service, and then simply compiles to nothing.
 */
export const policies = pgTable(
  'policies',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    kind: text('kind').notNull(),
    targetService: text('target_service').notNull(),
    spec: jsonb('spec').notNull(),
    version: integer('version').notNull(),
    /** The tenant revision this version was written at. */
    revision: bigint('revision', { mode: 'number' }).notNull(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('policies_tenant_name_key').on(t.tenantId, t.name),
    index('policies_tenant_target_idx').on(t.tenantId, t.targetService),
    check('policies_kind_check', sql`${t.kind} in ('Route', 'BackendPolicy', 'AuthorizationPolicy', 'RateLimitPolicy', 'FaultPolicy', 'FilterChain')`),
  ],
)

/** Every version a policy ever had, deletions included, so history survives and rollback can restore. */
export const policyVersions = pgTable(
  'policy_versions',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    version: integer('version').notNull(),
    operation: text('operation').notNull(),
    kind: text('kind').notNull(),
    targetService: text('target_service').notNull(),
    /** Null for a deletion. */
    spec: jsonb('spec'),
    revision: bigint('revision', { mode: 'number' }).notNull(),
    actor: jsonb('actor').$type<Actor>().notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex('policy_versions_tenant_name_version_key').on(t.tenantId, t.name, t.version),
    check('policy_versions_operation_check', sql`${t.operation} in ('create', 'update', 'delete', 'rollback')`),
  ],
)

/** Filter module bytes, content-addressed per tenant: immutable, so proxies cache them forever. */
export const filterBlobs = pgTable(
  'filter_blobs',
  {
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    sha256: text('sha256').notNull(),
    bytes: bytea('bytes').notNull(),
    size: integer('size').notNull(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.sha256] })],
)

/** The filter registry: a name and version point at a module. Versions are immutable once pushed. */
export const filters = pgTable(
  'filters',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    version: text('version').notNull(),
    sha256: text('sha256').notNull(),
    size: integer('size').notNull(),
    /** The proxy-wasm ABI the module declares (0.2.0 or 0.2.1). */
    abiVersion: text('abi_version').notNull(),
    createdBy: jsonb('created_by').$type<Actor>().notNull(),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('filters_tenant_name_version_key').on(t.tenantId, t.name, t.version), index('filters_tenant_sha_idx').on(t.tenantId, t.sha256)],
)

/**
 * Proxies as they report themselves on every config poll: which revision they have applied, when they were
 * last seen. The id is chosen by the proxy (stable for its lifetime), so a restart is a new proxy.
 */
export const proxies = pgTable(
  'proxies',
  {
    id: uuid('id').primaryKey(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    serviceId: uuid('service_id')
      .notNull()
      .references(() => services.id, { onDelete: 'cascade' }),
    workloadId: uuid('workload_id').references(() => workloads.id, { onDelete: 'set null' }),
    labels: jsonb('labels').$type<Labels>().notNull(),
    runtime: text('runtime').notNull(),
    /** sha256 digests of FilterChain modules the proxy lacks (a Worker built before the chain changed). */
    missingFilters: jsonb('missing_filters').$type<string[]>().notNull().default([]),
    appliedRevision: bigint('applied_revision', { mode: 'number' }).notNull(),
    appliedAt: timestamp('applied_at', { mode: 'date', precision: 3, withTimezone: true }).notNull(),
    firstSeenAt: timestamp('first_seen_at', { mode: 'date', precision: 3, withTimezone: true }).notNull(),
    lastSeenAt: timestamp('last_seen_at', { mode: 'date', precision: 3, withTimezone: true }).notNull(),
  },
  (t) => [index('proxies_tenant_seen_idx').on(t.tenantId, t.lastSeenAt)],
)

/** When each proxy first reported each revision: what convergence is computed from. */
export const proxyRevisions = pgTable(
  'proxy_revisions',
  {
    proxyId: uuid('proxy_id')
      .notNull()
      .references(() => proxies.id, { onDelete: 'cascade' }),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    revision: bigint('revision', { mode: 'number' }).notNull(),
    appliedAt: timestamp('applied_at', { mode: 'date', precision: 3, withTimezone: true }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.proxyId, t.revision] }), index('proxy_revisions_tenant_revision_idx').on(t.tenantId, t.revision)],
)

/**
 * Idempotency-Key (IETF httpapi draft): a retried create returns the first answer instead of creating twice.
 * Scoped to the credential's tenant (or the operator), kept for a day.
 */
export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    scope: text('scope').notNull(),
    key: text('key').notNull(),
    fingerprint: text('fingerprint').notNull(),
    status: integer('status'),
    headers: jsonb('headers').$type<Record<string, string>>(),
    body: text('body'),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.scope, t.key] }), index('idempotency_keys_created_idx').on(t.createdAt)],
)

/**
 * Telemetry rollups: what the tenant's proxies reported, summed per period and series. The same columns at
 * two resolutions: minutes (kept WEFT_TELEMETRY_MINUTE_RETENTION, 48 h) and hours (downsampled from the
 * minutes, kept 30 days). `reporter` is the side that measured (an edge is seen by the caller's proxy,
 * outbound, and the callee's, inbound). Latency is recorded per (…, status class) on the row whose reason is
 * "": the proxies' histograms do not split by reason, their request counts do.
 */
function telemetryRollup(name: string) {
  return pgTable(
    name,
    {
      tenantId: uuid('tenant_id')
        .notNull()
        .references(() => tenants.id, { onDelete: 'cascade' }),
      bucketStart: timestamp('bucket_start', { mode: 'date', precision: 3, withTimezone: true }).notNull(),
      reporter: text('reporter').notNull(),
      source: text('source').notNull(),
      destination: text('destination').notNull(),
      route: text('route').notNull(),
      statusClass: text('status_class').notNull(),
      reason: text('reason').notNull(),
      requests: bigint('requests', { mode: 'number' }).notNull(),
      /** Counts per bucket of mesh/src/telemetry/latency-histogram.ts (the last is +Inf); all zero on reason rows. */
      latencyBuckets: bigint('latency_buckets', { mode: 'number' }).array().notNull(),
      latencySumSeconds: doublePrecision('latency_sum_seconds').notNull(),
    },
    (t) => [
      // Named: the generated name would pass Postgres' 63-character limit and be cut.
      primaryKey({ name: `${name}_pkey`, columns: [t.tenantId, t.bucketStart, t.reporter, t.source, t.destination, t.route, t.statusClass, t.reason] }),
      // Retention deletes by age across tenants.
      index(`${name}_bucket_idx`).on(t.bucketStart),
      check(`${name}_reporter_check`, sql`${t.reporter} in ('inbound', 'outbound')`),
    ],
  )
}

export const telemetryMinutes = telemetryRollup('telemetry_minutes')
export const telemetryHours = telemetryRollup('telemetry_hours')

/** Pushes already counted, so that a retried push (same proxy, same seq) is not counted twice. */
export const telemetryBatches = pgTable(
  'telemetry_batches',
  {
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    proxyId: uuid('proxy_id').notNull(),
    seq: bigint('seq', { mode: 'number' }).notNull(),
    receivedAt: timestamp('received_at', { mode: 'date', precision: 3, withTimezone: true }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.proxyId, t.seq] }), index('telemetry_batches_received_idx').on(t.receivedAt)],
)

// --- SLOs and alerting (issue 9) ---------------------------------------------------------------------------

export type SloObjective = { type: 'success-rate'; target: number } | { type: 'latency'; thresholdMs: number; target: number }

/** A service level objective over the callee-side (inbound) telemetry of one service. */
export const slos = pgTable(
  'slos',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    /** By name, not a foreign key: an SLO outlives a service being re-created, as its telemetry does. */
    service: text('service').notNull(),
    objective: jsonb('objective').$type<SloObjective>().notNull(),
    windowDays: integer('window_days').notNull(),
    description: text('description').notNull().default(''),
    version: integer('version').notNull().default(1),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [uniqueIndex('slos_tenant_name_key').on(t.tenantId, t.name), check('slos_window_check', sql`${t.windowDays} between 1 and 30`)],
)

/** A burn-rate alert of an SLO: open while its condition holds, then resolved. At most one open per SLO and severity. */
export const alerts = pgTable(
  'alerts',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    sloId: uuid('slo_id')
      .notNull()
      .references(() => slos.id, { onDelete: 'cascade' }),
    severity: text('severity').notNull(),
    state: text('state').notNull(),
    /** The burn rates (long and short window) that opened it, and the rule. */
    openedWith: jsonb('opened_with').$type<Record<string, unknown>>().notNull(),
    openedAt: timestamp('opened_at', { mode: 'date', precision: 3, withTimezone: true }).notNull(),
    resolvedAt: timestamp('resolved_at', { mode: 'date', precision: 3, withTimezone: true }),
  },
  (t) => [
    check('alerts_severity_check', sql`${t.severity} in ('page', 'ticket')`),
    check('alerts_state_check', sql`${t.state} in ('open', 'resolved')`),
    uniqueIndex('alerts_one_open_key').on(t.sloId, t.severity).where(sql`${t.state} = 'open'`),
    index('alerts_tenant_opened_idx').on(t.tenantId, t.openedAt),
  ],
)

/** Where a tenant's alerts go. The signing secret is sealed with WEFT_MASTER_KEY (it must sign, so it cannot be a hash). */
export const webhooks = pgTable('webhooks', {
  id: uuid('id').primaryKey().defaultRandom(),
  tenantId: uuid('tenant_id')
    .notNull()
    .references(() => tenants.id, { onDelete: 'cascade' }),
  url: text('url').notNull(),
  description: text('description').notNull().default(''),
  secretSealed: text('secret_sealed').notNull(),
  createdAt: createdAt(),
})

/** One alert event (opened or resolved) for one webhook, retried with backoff until delivered or given up. */
export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    webhookId: uuid('webhook_id')
      .notNull()
      .references(() => webhooks.id, { onDelete: 'cascade' }),
    alertId: uuid('alert_id')
      .notNull()
      .references(() => alerts.id, { onDelete: 'cascade' }),
    event: text('event').notNull(),
    payload: jsonb('payload').$type<Record<string, unknown>>().notNull(),
    state: text('state').notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: timestamp('next_attempt_at', { mode: 'date', precision: 3, withTimezone: true }).notNull(),
    lastError: text('last_error'),
    deliveredAt: timestamp('delivered_at', { mode: 'date', precision: 3, withTimezone: true }),
    createdAt: createdAt(),
  },
  (t) => [
    check('webhook_deliveries_event_check', sql`${t.event} in ('alert.opened', 'alert.resolved')`),
    check('webhook_deliveries_state_check', sql`${t.state} in ('pending', 'delivered', 'failed')`),
    index('webhook_deliveries_due_idx').on(t.state, t.nextAttemptAt),
  ],
)
