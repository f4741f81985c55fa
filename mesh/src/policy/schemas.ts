import { z } from 'zod'

// The policy language, one zod schema per kind: it validates API input, generates the OpenAPI document,
// types the snapshot the proxies read, and types the evaluators they share with `simulate`. Shapes follow
// Gateway API (HTTPRoute) and Istio (AuthorizationPolicy, DestinationRule) so users recognise them.
// Every object is strict: a misspelt field is an error, not a silently ignored setting.

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/
export const ServiceName = z.string().regex(DNS_LABEL, 'must be a service name (a DNS label)')

/** Gateway API durations: "500ms", "2s", "1m", "1h". */
export const Duration = z.string().regex(/^([0-9]{1,5}(\.[0-9]{1,3})?)(ms|s|m|h)$/, 'must be a duration such as "500ms", "2s" or "1m"')

export { durationMs } from './duration'

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,256}$/
export const HeaderName = z.string().regex(HEADER_NAME, 'must be an HTTP header name')
const Regex = z.string().min(1).max(256)
const LabelSelector = z.record(z.string().min(1).max(317), z.string().max(63))

export const HttpMethod = z.enum(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'])

// --- Route (Gateway API HTTPRoute) -------------------------------------------------------------------

export const PathMatch = z
  .object({
    type: z.enum(['Exact', 'PathPrefix', 'RegularExpression']).default('PathPrefix'),
    value: z.string().min(1).max(1024).default('/'),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.type !== 'RegularExpression' && !p.value.startsWith('/')) ctx.addIssue({ code: 'custom', path: ['value'], message: 'must start with "/"' })
  })

export const HeaderMatch = z
  .object({ type: z.enum(['Exact', 'RegularExpression']).default('Exact'), name: HeaderName, value: z.string().max(4096) })
  .strict()

export const QueryParamMatch = z
  .object({ type: z.enum(['Exact', 'RegularExpression']).default('Exact'), name: z.string().min(1).max(256), value: z.string().max(4096) })
  .strict()

export const RouteMatch = z
  .object({
    path: PathMatch.optional(),
    method: HttpMethod.optional(),
    headers: z.array(HeaderMatch).max(16).optional(),
    queryParams: z.array(QueryParamMatch).max(16).optional(),
  })
  .strict()

export const BackendRef = z
  .object({
    /** Another service of the tenant; by default the route's own target service. */
    service: ServiceName.optional(),
    /** Endpoint labels selecting the subset (e.g. {version: "v2"}); empty selects every endpoint. */
    labels: LabelSelector.default({}),
    weight: z.number().int().min(0).max(1_000_000).default(1),
  })
  .strict()

const HeaderValue = z.object({ name: HeaderName, value: z.string().max(4096) }).strict()
export const HeaderModifier = z
  .object({
    set: z.array(HeaderValue).max(32).optional(),
    add: z.array(HeaderValue).max(32).optional(),
    remove: z.array(HeaderName).max(32).optional(),
  })
  .strict()

export const PathModifier = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ReplaceFullPath'), replaceFullPath: z.string().startsWith('/').max(1024) }).strict(),
  z.object({ type: z.literal('ReplacePrefixMatch'), replacePrefixMatch: z.string().startsWith('/').max(1024) }).strict(),
])

export const RouteFilter = z.discriminatedUnion('type', [
  z.object({ type: z.literal('RequestHeaderModifier'), requestHeaderModifier: HeaderModifier }).strict(),
  z.object({ type: z.literal('ResponseHeaderModifier'), responseHeaderModifier: HeaderModifier }).strict(),
  z
    .object({
      type: z.literal('URLRewrite'),
      urlRewrite: z.object({ hostname: z.string().max(253).optional(), path: PathModifier.optional() }).strict(),
    })
    .strict(),
  z
    .object({
      type: z.literal('RequestRedirect'),
      requestRedirect: z
        .object({
          scheme: z.enum(['http', 'https']).optional(),
          hostname: z.string().max(253).optional(),
          path: PathModifier.optional(),
          port: z.number().int().min(1).max(65535).optional(),
          statusCode: z.union([z.literal(301), z.literal(302), z.literal(303), z.literal(307), z.literal(308)]).default(302),
        })
        .strict(),
    })
    .strict(),
  z
    .object({
      type: z.literal('RequestMirror'),
      requestMirror: z
        .object({
          backendRef: z.object({ service: ServiceName.optional(), labels: LabelSelector.default({}) }).strict(),
          percent: z.number().min(0).max(100).default(100),
        })
        .strict(),
    })
    .strict(),
])

export const RetryOn = z.enum(['5xx', 'gateway-error', 'reset', 'connect-failure', 'retriable-status-codes'])

export const RetryPolicy = z
  .object({
    attempts: z.number().int().min(0).max(10),
    perTryTimeout: Duration.optional(),
    retryOn: z.array(RetryOn).min(1).default(['5xx', 'gateway-error', 'reset', 'connect-failure']),
    retriableStatusCodes: z.array(z.number().int().min(400).max(599)).max(16).optional(),
    /** Exponential backoff with full jitter between `base` and `max`. */
    backoff: z.object({ base: Duration.default('25ms'), max: Duration.default('250ms') }).strict().optional(),
  })
  .strict()

export const RouteRule = z
  .object({
    name: z.string().max(63).optional(),
    /** No matches: the rule matches every request (Gateway API: a default match on PathPrefix "/"). */
    matches: z.array(RouteMatch).max(16).optional(),
    filters: z.array(RouteFilter).max(16).optional(),
    backendRefs: z.array(BackendRef).max(16).optional(),
    timeout: Duration.optional(),
    retry: RetryPolicy.optional(),
  })
  .strict()

export const RetryBudget = z
  .object({
    /** Retries may add at most this share of the active requests (Linkerd's default: 20 %). */
    percent: z.number().min(0).max(100).default(20),
    /** ...but always at least this many per second, so a quiet service can still retry. */
    minRetriesPerSecond: z.number().int().min(0).max(100_000).default(10),
  })
  .strict()

export const RouteSpec = z
  .object({ rules: z.array(RouteRule).min(1).max(64), retryBudget: RetryBudget.optional() })
  .strict()

// --- BackendPolicy (load balancing, circuit breaking, outlier detection, locality) --------------------

export const BackendPolicySpec = z
  .object({
    loadBalancer: z
      .object({
        type: z.enum(['RoundRobin', 'Random', 'LeastRequest', 'ConsistentHash']).default('RoundRobin'),
        hashOn: z.object({ header: HeaderName.optional(), cookie: z.string().min(1).max(256).optional() }).strict().optional(),
      })
      .strict()
      .superRefine((lb, ctx) => {
        if (lb.type === 'ConsistentHash' && !lb.hashOn?.header && !lb.hashOn?.cookie) {
          ctx.addIssue({ code: 'custom', path: ['hashOn'], message: 'ConsistentHash needs hashOn.header or hashOn.cookie' })
        }
      })
      .optional(),
    connectTimeout: Duration.optional(),
    connectionLimits: z
      .object({
        maxConnections: z.number().int().min(1).max(1_000_000).optional(),
        maxPendingRequests: z.number().int().min(0).max(1_000_000).optional(),
        maxRequests: z.number().int().min(1).max(1_000_000).optional(),
        maxRetries: z.number().int().min(0).max(1_000_000).optional(),
      })
      .strict()
      .optional(),
    outlierDetection: z
      .object({
        consecutive5xx: z.number().int().min(1).max(1000).optional(),
        consecutiveGatewayErrors: z.number().int().min(1).max(1000).optional(),
        interval: Duration.default('10s'),
        baseEjectionTime: Duration.default('30s'),
        maxEjectionPercent: z.number().int().min(0).max(100).default(10),
      })
      .strict()
      .optional(),
    locality: z.object({ preferLocalZone: z.boolean().default(true) }).strict().optional(),
  })
  .strict()

// --- AuthorizationPolicy (Istio semantics: DENY first, then ALLOW if any ALLOW policy exists) ---------

/** Exact, "prefix*", "*suffix" or "*": Istio's string match forms. */
const Pattern = z.string().min(1).max(1024)

export const AuthorizationRule = z
  .object({
    from: z
      .object({
        principals: z.array(Pattern).max(64).optional(),
        notPrincipals: z.array(Pattern).max(64).optional(),
      })
      .strict()
      .optional(),
    to: z
      .object({
        methods: z.array(HttpMethod).max(16).optional(),
        paths: z.array(Pattern).max(64).optional(),
        notPaths: z.array(Pattern).max(64).optional(),
        headers: z.array(z.object({ name: HeaderName, values: z.array(Pattern).min(1).max(16) }).strict()).max(16).optional(),
      })
      .strict()
      .optional(),
  })
  .strict()

export const AuthorizationPolicySpec = z
  .object({
    action: z.enum(['ALLOW', 'DENY']).default('ALLOW'),
    /** An empty list: for ALLOW, nothing is allowed by this policy; for DENY, nothing is denied. */
    rules: z.array(AuthorizationRule).max(64),
    /** Evaluate and log the would-be decision, but do not enforce it. */
    dryRun: z.boolean().default(false),
  })
  .strict()

// --- RateLimitPolicy (local token buckets) -----------------------------------------------------------

export const RateLimit = z
  .object({
    /** What the bucket is keyed by: the caller's identity, the path, a header's value, or one bucket for all. */
    key: z.enum(['source', 'path', 'header', 'global']).default('source'),
    header: HeaderName.optional(),
    match: z.object({ path: PathMatch.optional(), methods: z.array(HttpMethod).max(16).optional() }).strict().optional(),
    requestsPerUnit: z.number().int().min(1).max(10_000_000),
    unit: z.enum(['second', 'minute', 'hour']).default('second'),
    /** Extra tokens above the steady rate; the bucket holds requestsPerUnit + burst. */
    burst: z.number().int().min(0).max(10_000_000).default(0),
  })
  .strict()
  .superRefine((l, ctx) => {
    if (l.key === 'header' && !l.header) ctx.addIssue({ code: 'custom', path: ['header'], message: 'key "header" needs the header name' })
    if (l.key !== 'header' && l.header) ctx.addIssue({ code: 'custom', path: ['header'], message: 'only for key "header"' })
  })

export const RateLimitPolicySpec = z.object({ limits: z.array(RateLimit).min(1).max(32) }).strict()

// --- FaultPolicy -------------------------------------------------------------------------------------

export const FaultPolicySpec = z
  .object({
    match: z
      .object({
        path: PathMatch.optional(),
        methods: z.array(HttpMethod).max(16).optional(),
        sources: z.array(Pattern).max(64).optional(),
      })
      .strict()
      .optional(),
    delay: z.object({ percent: z.number().min(0).max(100), fixedDelay: Duration }).strict().optional(),
    abort: z.object({ percent: z.number().min(0).max(100), httpStatus: z.number().int().min(400).max(599) }).strict().optional(),
  })
  .strict()
  .refine((f) => f.delay !== undefined || f.abort !== undefined, { message: 'a fault needs a delay, an abort, or both' })

// --- FilterChain -------------------------------------------------------------------------------------

export const FilterRef = z
  .object({
    filter: z.string().regex(DNS_LABEL, 'must be a filter name (a DNS label)'),
    version: z.string().min(1).max(64).optional(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be a lowercase hex SHA-256').optional(),
    config: z.unknown().optional(),
    /** What a failing filter does to the request: closed (refuse it, for auth) or open (let it through, for telemetry). */
    failurePolicy: z.enum(['closed', 'open']).default('closed'),
  })
  .strict()
  .refine((f) => (f.version === undefined) !== (f.sha256 === undefined), { message: 'give exactly one of version or sha256' })

export const FilterChainSpec = z.object({ filters: z.array(FilterRef).min(1).max(16) }).strict()

// --- The envelope ------------------------------------------------------------------------------------

export const PolicyName = z.string().regex(DNS_LABEL, 'must be a DNS label: lowercase letters, digits and "-"')
export const TargetRef = z.object({ service: ServiceName }).strict()

const envelope = <K extends string, S extends z.ZodTypeAny>(kind: K, spec: S) =>
  z.object({ kind: z.literal(kind), name: PolicyName, targetRef: TargetRef, spec }).strict()

export const RoutePolicy = envelope('Route', RouteSpec)
export const BackendPolicy = envelope('BackendPolicy', BackendPolicySpec)
export const AuthorizationPolicy = envelope('AuthorizationPolicy', AuthorizationPolicySpec)
export const RateLimitPolicy = envelope('RateLimitPolicy', RateLimitPolicySpec)
export const FaultPolicy = envelope('FaultPolicy', FaultPolicySpec)
export const FilterChain = envelope('FilterChain', FilterChainSpec)

/** What a client sends. */
export const PolicyInput = z.discriminatedUnion('kind', [RoutePolicy, BackendPolicy, AuthorizationPolicy, RateLimitPolicy, FaultPolicy, FilterChain])

export const POLICY_KINDS = ['Route', 'BackendPolicy', 'AuthorizationPolicy', 'RateLimitPolicy', 'FaultPolicy', 'FilterChain'] as const
export type PolicyKind = (typeof POLICY_KINDS)[number]

export type PolicyInput = z.output<typeof PolicyInput>
export type RoutePolicy = z.output<typeof RoutePolicy>
export type RouteSpec = z.output<typeof RouteSpec>
export type RouteRule = z.output<typeof RouteRule>
export type RouteMatch = z.output<typeof RouteMatch>
export type BackendRef = z.output<typeof BackendRef>
export type RouteFilter = z.output<typeof RouteFilter>
export type RetryPolicy = z.output<typeof RetryPolicy>
export type BackendPolicy = z.output<typeof BackendPolicy>
export type BackendPolicySpec = z.output<typeof BackendPolicySpec>
export type AuthorizationPolicy = z.output<typeof AuthorizationPolicy>
export type AuthorizationPolicySpec = z.output<typeof AuthorizationPolicySpec>
export type AuthorizationRule = z.output<typeof AuthorizationRule>
export type RateLimitPolicy = z.output<typeof RateLimitPolicy>
export type RateLimit = z.output<typeof RateLimit>
export type FaultPolicy = z.output<typeof FaultPolicy>
export type FaultPolicySpec = z.output<typeof FaultPolicySpec>
export type FilterChain = z.output<typeof FilterChain>
export type FilterRef = z.output<typeof FilterRef>
export type RateLimitPolicySpec = z.output<typeof RateLimitPolicySpec>
export type FilterChainSpec = z.output<typeof FilterChainSpec>
