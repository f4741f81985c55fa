import { DEFAULT_RETRY, HttpClient, type Credential, type FetchLike, type RetryEvent, type RetryOptions } from './http-client.js'
import { ApiKeys } from './resources/api-keys.js'
import { AuditEvents } from './resources/audit-events.js'
import { Alerts, Slos, Webhooks } from './resources/slos.js'
import { Tracing } from './resources/tracing.js'
import { Endpoints } from './resources/endpoints.js'
import { Filters } from './resources/filters.js'
import { HealthChecks } from './resources/health.js'
import { Identity } from './resources/identity.js'
import { JoinTokens } from './resources/join-tokens.js'
import { Policies } from './resources/policies.js'
import { Proxies } from './resources/proxy.js'
import { Revisions } from './resources/revisions.js'
import { Services } from './resources/services.js'
import { Telemetry } from './resources/telemetry.js'
import { SigningKeys } from './resources/signing-keys.js'
import { CurrentTenant } from './resources/tenant.js'
import { Tenants } from './resources/tenants.js'
import { Workloads } from './resources/workloads.js'

// Long enough for any control API call under load; long polls raise it for themselves (wait + slack).
export const DEFAULT_TIMEOUT_MS = 30_000

export type WeftOptions = {
  /** The control API's URL, e.g. `https://weft.example.com` or `http://127.0.0.1:8787`; a path prefix is kept. */
  baseUrl: string | URL
  /**
   * The bearer credential: a tenant API key (`wft_…`), the operator key (`wfo_…`), a join token (`wfj_…`) or a
   * workload JWT. A function is called before every attempt, so a refreshed token is picked up.
   */
  apiKey?: Credential
  /** The `fetch` to use; the global one by default. Pass an app's `fetch` to talk to it in-process. */
  fetch?: FetchLike
  /** Per attempt. Default 30 s. */
  timeoutMs?: number
  /**
   * Retries on 429 and 503 (any method; `Retry-After` honoured) and on lost answers (idempotent methods only),
   * with exponential backoff and full jitter. Default: 3 retries from 250 ms, capped at 8 s. `false` disables.
   */
  retry?: RetryOptions | false
  /** Sent with every request. */
  headers?: Record<string, string>
  /** Called before each retry's wait: for logs and metrics. */
  onRetry?: (event: RetryEvent) => void
}

/**
 * A client for the Weft control API, one namespace per resource. It uses only `fetch`, `Request`, `Response`,
 * `AbortController` and `crypto`, so it runs in Node, Cloudflare Workers, Deno, Bun and browsers alike.
 *
 * @example
 * import { Weft } from '@weft/sdk'
 * const weft = new Weft({ baseUrl: 'https://weft.example.com', apiKey: process.env.WEFT_API_KEY })
 * await weft.services.create({ name: 'payments', port: 8080 })
 * for await (const policy of weft.policies.list()) console.log(policy.kind, policy.name)
 *
 * @throws {TypeError} at construction, when an option is invalid (every problem listed at once).
 */
export class Weft {
  /** Tenant onboarding (operator). */
  readonly tenants: Tenants
  /** The caller's own tenant. */
  readonly tenant: CurrentTenant
  readonly apiKeys: ApiKeys
  readonly services: Services
  readonly endpoints: Endpoints
  readonly joinTokens: JoinTokens
  readonly identity: Identity
  readonly signingKeys: SigningKeys
  readonly workloads: Workloads
  readonly policies: Policies
  readonly filters: Filters
  readonly auditEvents: AuditEvents
  /** Service level objectives and their burn rates. */
  readonly slos: Slos
  /** Alerts opened and resolved by SLOs. */
  readonly alerts: Alerts
  /** Where alerts are delivered (admin). */
  readonly webhooks: Webhooks
  /** Where proxies export spans (OTLP/HTTP) and the sample rate. */
  readonly tracing: Tracing
  /** What proxies read: compiled snapshots, by long poll. */
  readonly proxy: Proxies
  /** Tenant revisions: whether proxies have converged on one. */
  readonly revisions: Revisions
  /** Golden metrics from the proxies: the service graph, per-service time series. */
  readonly telemetry: Telemetry
  /** `/healthz` and `/readyz`. */
  readonly health: HealthChecks
  readonly #options: WeftOptions

  constructor(options: WeftOptions) {
    const problems: string[] = []
    let baseUrl = ''
    try {
      const url = new URL(String(options.baseUrl))
      if (url.protocol !== 'http:' && url.protocol !== 'https:') problems.push(`baseUrl must be http or https (got ${url.protocol})`)
      if (url.search || url.hash) problems.push('baseUrl must not carry a query or fragment')
      baseUrl = url.origin + url.pathname.replace(/\/+$/, '')
    } catch {
      problems.push(`baseUrl is not a URL: ${String(options.baseUrl)}`)
    }
    if (options.apiKey !== undefined && typeof options.apiKey !== 'function' && (typeof options.apiKey !== 'string' || options.apiKey === '')) {
      problems.push('apiKey must be a non-empty string or a function returning one')
    }
    const fetchImpl = options.fetch ?? (typeof globalThis.fetch === 'function' ? (r: Request) => globalThis.fetch(r) : undefined)
    if (typeof fetchImpl !== 'function') problems.push('no fetch: this runtime has no global fetch, so pass options.fetch')
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
    if (!(timeoutMs > 0) || !Number.isFinite(timeoutMs)) problems.push(`timeoutMs must be a positive number (got ${options.timeoutMs})`)
    const retry = options.retry === false ? false : { ...DEFAULT_RETRY, ...options.retry }
    if (retry) {
      for (const [k, v] of Object.entries(retry)) if (!(typeof v === 'number' && v >= 0 && Number.isFinite(v))) problems.push(`retry.${k} must be a number ≥ 0 (got ${v})`)
    }
    if (problems.length) throw new TypeError(`invalid Weft options: ${problems.join('; ')}`)

    this.#options = options
    const http = new HttpClient({
      baseUrl,
      apiKey: options.apiKey,
      fetch: fetchImpl!,
      timeoutMs,
      retry,
      headers: { ...options.headers },
      onRetry: options.onRetry,
    })
    this.tenants = new Tenants(http)
    this.tenant = new CurrentTenant(http)
    this.apiKeys = new ApiKeys(http)
    this.services = new Services(http)
    this.endpoints = new Endpoints(http)
    this.joinTokens = new JoinTokens(http)
    this.identity = new Identity(http)
    this.signingKeys = new SigningKeys(http)
    this.workloads = new Workloads(http)
    this.policies = new Policies(http)
    this.filters = new Filters(http)
    this.auditEvents = new AuditEvents(http)
    this.slos = new Slos(http)
    this.alerts = new Alerts(http)
    this.webhooks = new Webhooks(http)
    this.tracing = new Tracing(http)
    this.proxy = new Proxies(http)
    this.revisions = new Revisions(http)
    this.telemetry = new Telemetry(http)
    this.health = new HealthChecks(http)
  }

  /**
   * A client like this one with some options changed: another key, say.
   * @example
   * const viewer = weft.withOptions({ apiKey: viewerKey })
   */
  withOptions(overrides: Partial<WeftOptions>): Weft {
    return new Weft({ ...this.#options, ...overrides })
  }
}
