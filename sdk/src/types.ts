// Every request and response type of the SDK, derived from the zod schemas the control API validates with
// (`z.input` for what a client sends, so defaulted fields are optional; `z.output` for what it answers) or,
// where a route keeps its schema to itself, from the route's own types. Nothing here is written out by hand:
// a change to a schema changes these types, and `tsc` points at every SDK call it breaks.
//
// Only `import type` here: the SDK's runtime never loads control-api or mesh code. The published package
// carries a flattened copy of this file (scripts/flatten-types.ts), so it does not need the repository.

import type { Hono } from 'hono'
import type { JSONValue } from 'hono/utils/types'
import type { z } from 'zod'
import type { policyRoutes, PolicyOut } from '../../control-api/src/routes/policies'
import type { FilterVersion as FilterVersionSchema, filterRoutes } from '../../control-api/src/routes/filters'
import type { simulateRoutes } from '../../control-api/src/routes/simulate'
import type { proxyRoutes } from '../../control-api/src/routes/proxies'
import type { apiKeyRoutes } from '../../control-api/src/routes/api-keys'
import type { auditRoutes } from '../../control-api/src/routes/audit-events'
import type { endpointRoutes } from '../../control-api/src/routes/endpoints'
import type { joinTokenRoutes } from '../../control-api/src/routes/join-tokens'
import type { tenantRoutes } from '../../control-api/src/routes/tenants'
import type { workloadRoutes } from '../../control-api/src/routes/workloads'
import type { healthRoutes } from '../../control-api/src/routes/health'
import type { proxyConfigRoutes } from '../../control-api/src/routes/proxy-config'
import type { serviceRoutes } from '../../control-api/src/routes/services'
import type { sloRoutes } from '../../control-api/src/routes/slos'
import type * as slo from '../../control-api/src/schemas/slos'
import type * as tracingSchemas from '../../control-api/src/schemas/tracing'
import type { AuditEvent as AuditEventSchema } from '../../control-api/src/schemas/audit'
import type { Pagination, pageOf, ProblemSchema, Role as RoleSchema } from '../../control-api/src/schemas/common'
import type * as identity from '../../control-api/src/schemas/identity'
import type * as services from '../../control-api/src/schemas/services'
import type * as tenants from '../../control-api/src/schemas/tenants'
import type * as telemetry from '../../control-api/src/schemas/telemetry'
import type * as policy from '../../mesh/src/policy/schemas'
import type { Snapshot as MeshSnapshot } from '../../mesh/src/snapshot/types'

// --- reading a route's types --------------------------------------------------------------------------

type SchemaOf<App> = App extends Hono<any, infer S, any> ? S : never
type RouteEndpoint<App, P extends keyof SchemaOf<App>, M extends keyof SchemaOf<App>[P]> = SchemaOf<App>[P][M]
/**
 * Hono types a JSON answer's `unknown` fields as its JSONValue; the schemas say `unknown`, and so does the
 * SDK (JSONValue also cannot sit beside a passthrough object's optional fields in a written-out type).
 */
type Unjson<T> = [JSONValue] extends [T] ? unknown : T extends readonly (infer E)[] ? Unjson<E>[] : T extends object ? { [K in keyof T]: Unjson<T[K]> } : T
/** The body of a route's successful (2xx) answer. */
type RouteOutput<App, P extends keyof SchemaOf<App>, M extends keyof SchemaOf<App>[P]> =
  Extract<RouteEndpoint<App, P, M>, { status: 200 | 201 }> extends { output: infer O } ? Unjson<O> : never
/** The query a route accepts, as a client sends it. */
type RouteQuery<App, P extends keyof SchemaOf<App>, M extends keyof SchemaOf<App>[P]> =
  RouteEndpoint<App, P, M> extends { input: { query: infer Q } } ? Q : never
/** The JSON body a route accepts, as a client sends it. */
type RouteJson<App, P extends keyof SchemaOf<App>, M extends keyof SchemaOf<App>[P]> =
  RouteEndpoint<App, P, M> extends { input: { json: infer J } } ? J : never

/**
 * List filters as SDK options: the paging fields typed as the API parses them (`limit` is a number), and
 * `"true" | "false"` query flags as booleans.
 */
type ListQuery<Q> = Partial<z.output<typeof Pagination>> & {
  [K in Exclude<keyof Q, 'limit' | 'cursor'>]?: Exclude<Q[K], undefined> extends 'true' | 'false' ? boolean : Exclude<Q[K], undefined>
}
type Flags<Q> = { [K in keyof Q]?: Exclude<Q[K], undefined> extends 'true' | 'false' ? boolean : Exclude<Q[K], undefined> }

// --- problems ------------------------------------------------------------------------------------------

/** An RFC 9457 problem as the API answers it (`application/problem+json`). */
export type Problem = z.output<typeof ProblemSchema>
/** One entry of a validation problem's `errors[]`: the dotted path of the field and what is wrong with it. */
export type FieldError = NonNullable<Problem['errors']>[number]

// --- tenants and keys ----------------------------------------------------------------------------------

export type Role = z.output<typeof RoleSchema>
export type Quotas = z.output<typeof tenants.Quotas>
export type Tenant = z.output<typeof tenants.Tenant>
export type TenantWithUsage = z.output<typeof tenants.TenantWithUsage>
export type TenantCreate = z.input<typeof tenants.TenantCreate>
export type TenantCreated = z.output<typeof tenants.TenantCreated>
export type TenantPatch = z.input<typeof tenants.TenantPatch>
export type TenantListOptions = ListQuery<RouteQuery<typeof tenantRoutes, '/v1/tenants', '$get'>>

export type ApiKey = z.output<typeof tenants.ApiKey>
export type ApiKeyWithSecret = z.output<typeof tenants.ApiKeyWithSecret>
export type ApiKeyCreate = z.input<typeof tenants.ApiKeyCreate>
export type ApiKeyListOptions = ListQuery<RouteQuery<typeof apiKeyRoutes, '/v1/api-keys', '$get'>>

// --- services and endpoints ----------------------------------------------------------------------------

export type Protocol = z.output<typeof services.Protocol>
export type Service = z.output<typeof services.Service>
export type ServiceCreate = z.input<typeof services.ServiceCreate>
export type ServiceReplace = z.input<typeof services.ServiceReplace>
export type ServicePatch = z.input<typeof services.ServicePatch>
export type ServiceListOptions = ListQuery<RouteQuery<typeof serviceRoutes, '/v1/services', '$get'>>

export type Health = z.output<typeof services.Health>
export type Endpoint = z.output<typeof services.Endpoint>
export type EndpointRegister = z.input<typeof services.EndpointRegister>
export type EndpointHeartbeat = z.input<typeof services.EndpointHeartbeat>
export type EndpointListOptions = ListQuery<RouteQuery<typeof endpointRoutes, '/v1/services/:name/endpoints', '$get'>>

// --- identity -------------------------------------------------------------------------------------------

export type JoinToken = z.output<typeof identity.JoinToken>
export type JoinTokenWithSecret = z.output<typeof identity.JoinTokenWithSecret>
export type JoinTokenCreate = z.input<typeof identity.JoinTokenCreate>
export type JoinTokenListOptions = Flags<RouteQuery<typeof joinTokenRoutes, '/v1/services/:name/join-tokens', '$get'>>
export type TokenRequest = z.input<typeof identity.TokenRequest>
export type TokenResponse = z.output<typeof identity.TokenResponse>
export type Jwks = z.output<typeof identity.Jwks>
export type SigningKey = z.output<typeof identity.SigningKey>
export type Workload = z.output<typeof identity.Workload>
export type WorkloadRevoke = z.input<typeof identity.WorkloadRevoke>
export type WorkloadListOptions = Flags<RouteQuery<typeof workloadRoutes, '/v1/workloads', '$get'>>

// --- policies -------------------------------------------------------------------------------------------

export type PolicyKind = policy.PolicyKind
/** A policy as a client writes it: any of the six kinds, defaults optional. */
export type PolicyInput = z.input<typeof policy.PolicyInput>
export type RoutePolicyInput = z.input<typeof policy.RoutePolicy>
export type BackendPolicyInput = z.input<typeof policy.BackendPolicy>
export type AuthorizationPolicyInput = z.input<typeof policy.AuthorizationPolicy>
export type RateLimitPolicyInput = z.input<typeof policy.RateLimitPolicy>
export type FaultPolicyInput = z.input<typeof policy.FaultPolicy>
export type FilterChainInput = z.input<typeof policy.FilterChain>
/** A stored policy: what was written, with defaults filled in, plus its version and the revision it was written at. */
export type Policy = z.output<typeof PolicyOut>
/** The answer to a write: the stored policy and what was accepted but is probably not intended. */
export type PolicyWritten = RouteOutput<typeof policyRoutes, '/v1/policies', '$post'>
export type PolicyVersion = RouteOutput<typeof policyRoutes, '/v1/policies/:name/history', '$get'>['items'][number]
export type PolicyRollback = RouteJson<typeof policyRoutes, '/v1/policies/:name/rollback', '$post'>
export type PolicyListOptions = ListQuery<RouteQuery<typeof policyRoutes, '/v1/policies', '$get'>>
export type SimulateRequest = RouteJson<ReturnType<typeof simulateRoutes>, '/v1/simulate', '$post'>
export type SimulateResponse = RouteOutput<ReturnType<typeof simulateRoutes>, '/v1/simulate', '$post'>

// --- filters, audit, proxies, health ----------------------------------------------------------------------

export type FilterVersion = z.output<typeof FilterVersionSchema>
export type Filter = RouteOutput<typeof filterRoutes, '/v1/filters/:name', '$get'>
export type FilterPush = RouteQuery<typeof filterRoutes, '/v1/filters', '$post'>

export type AuditEvent = z.output<typeof AuditEventSchema>
export type AuditEventListOptions = ListQuery<RouteQuery<typeof auditRoutes, '/v1/audit-events', '$get'>>

// --- SLOs, alerts, webhooks ------------------------------------------------------------------------------

export type SloObjective = z.output<typeof slo.SloObjective>
export type Slo = z.output<typeof slo.Slo>
export type SloCreate = z.input<typeof slo.SloCreate>
/** An SLO with its burn rates, error budget and open alerts (`GET /v1/slos/{name}`). */
export type SloStatus = z.output<typeof slo.SloStatus>
export type SloListOptions = ListQuery<RouteQuery<ReturnType<typeof sloRoutes>, '/v1/slos', '$get'>>
export type Alert = z.output<typeof slo.Alert>
export type AlertListOptions = ListQuery<RouteQuery<ReturnType<typeof sloRoutes>, '/v1/alerts', '$get'>>
export type Webhook = z.output<typeof slo.Webhook>
export type WebhookCreate = z.input<typeof slo.WebhookCreate>
export type WebhookWithSecret = z.output<typeof slo.WebhookWithSecret>

// --- tracing --------------------------------------------------------------------------------------------

/** The tenant's trace collector as the API shows it (header values redacted). */
export type TracingSettings = z.output<typeof tracingSchemas.Tracing>
export type TracingSettingsPut = z.input<typeof tracingSchemas.TracingPut>

/** The compiled configuration one proxy receives (`GET /v1/proxy/config`). */
export type Snapshot = MeshSnapshot
export type ProxyConfigQuery = RouteQuery<ReturnType<typeof proxyConfigRoutes>, '/v1/proxy/config', '$get'>

export type HealthStatus = RouteOutput<typeof healthRoutes, '/readyz', '$get'>

/** One page of a list: `nextCursor` is null on the last page. */
export type Page<T> = { items: T[]; nextCursor: string | null }
// Pins `Page` to the API's page schema: this fails to compile if the two drift apart.
type Assert<T extends true> = T
type ServicePage = z.output<ReturnType<typeof pageOf<typeof services.Service>>>
type _PageMatchesSchema = Assert<[Page<Service>, ServicePage] extends [ServicePage, Page<Service>] ? true : false>

type RevisionRoutesOf<App> = App extends Hono<any, infer S, any> ? S : never
type OkAnswer<E> = Extract<E, { status: 200 }> extends { output: infer O } ? O : never
/** `GET /v1/revisions/{revision}/convergence`: which live proxies have applied a revision. */
export type Convergence = OkAnswer<RevisionRoutesOf<typeof proxyRoutes>['/v1/revisions/:revision/convergence']['$get']>
/** One proxy of the tenant (`GET /v1/proxies`). */
export type ProxyStatus = OkAnswer<RevisionRoutesOf<typeof proxyRoutes>['/v1/proxies']['$get']>['items'][number]

// --- telemetry -----------------------------------------------------------------------------------------

/** `GET /v1/telemetry/graph`: services (nodes) and who calls whom (edges), with golden signals. */
export type ServiceGraph = z.output<typeof telemetry.ServiceGraph>
export type GraphEdge = z.output<typeof telemetry.GraphEdge>
export type GraphNode = z.output<typeof telemetry.GraphNode>
/** `GET /v1/telemetry/services/{name}`: one service's golden signals per step. */
export type ServiceMetrics = z.output<typeof telemetry.ServiceMetrics>
/** The body of `POST /v1/proxy/telemetry` (what proxies push). */
export type TelemetryPush = z.input<typeof telemetry.TelemetryPush>
export type TelemetryAccepted = z.output<typeof telemetry.TelemetryAccepted>
