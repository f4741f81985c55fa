// @weft/sdk: a TypeScript client for the Weft control API. Everything public is exported here.
export { Weft, DEFAULT_TIMEOUT_MS, type WeftOptions } from './weft.js'
export { ApiPromise, PagePromise, type ApiResponse } from './api-promise.js'
export { DEFAULT_RETRY, type Credential, type FetchLike, type RequestOptions, type RetryEvent, type RetryOptions } from './http-client.js'
export {
  WeftError,
  WeftApiError,
  WeftConnectionError,
  WeftTimeoutError,
  ValidationError,
  MalformedBody,
  Unauthorized,
  Forbidden,
  QuotaExceeded,
  NotFound,
  Conflict,
  PreconditionFailed,
  PayloadTooLarge,
  UnsupportedMediaType,
  DatabaseUnavailable,
  NotConfigured,
  InternalError,
  PROBLEM_BASE,
  errorFromProblem,
} from './errors.js'
export type { IfMatch } from './resources/resource.js'
export type { ProxyConfig, ProxyConfigParams } from './resources/proxy.js'
export type { ApiKeys } from './resources/api-keys.js'
export type { AuditEvents } from './resources/audit-events.js'
export type { Alerts, Slos, Webhooks } from './resources/slos.js'
export type { Tracing } from './resources/tracing.js'
export type { Endpoints } from './resources/endpoints.js'
export type { Filters } from './resources/filters.js'
export type { HealthChecks } from './resources/health.js'
export type { Identity } from './resources/identity.js'
export type { JoinTokens } from './resources/join-tokens.js'
export type { Policies } from './resources/policies.js'
export type { Proxies } from './resources/proxy.js'
export type { Services } from './resources/services.js'
export type { SigningKeys } from './resources/signing-keys.js'
export type { CurrentTenant } from './resources/tenant.js'
export type { Tenants } from './resources/tenants.js'
export type { Workloads } from './resources/workloads.js'
export type { Telemetry, TelemetryDuration } from './resources/telemetry.js'
export type * from './types.js'
