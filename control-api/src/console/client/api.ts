// The REST API as the console sees it: same origin, the API key as a bearer token kept in sessionStorage
// (gone when the tab closes), problem+json errors turned into readable messages.

const KEY_ITEM = 'weft.apiKey'

export function storedKey(): string | null {
  return sessionStorage.getItem(KEY_ITEM)
}
export function storeKey(key: string): void {
  sessionStorage.setItem(KEY_ITEM, key)
}
export function forgetKey(): void {
  sessionStorage.removeItem(KEY_ITEM)
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string | undefined,
    readonly type: string | undefined,
    readonly fieldErrors: { path: string; message: string }[] = [],
  ) {
    super(detail ? `${title}: ${detail}` : title)
  }
  /** One line a person can act on. */
  get readable(): string {
    const fields = this.fieldErrors.map((e) => `${e.path}: ${e.message}`).join('; ')
    return [this.detail ?? this.title, fields].filter(Boolean).join(' — ') + ` (HTTP ${this.status})`
  }
}

/** Called when the API rejects the key (401): the app goes back to the sign-in form. */
let onUnauthorized: (message: string) => void = () => {}
export function whenUnauthorized(f: (message: string) => void): void {
  onUnauthorized = f
}

export async function api<T>(path: string, key = storedKey()): Promise<T> {
  let res: Response
  try {
    res = await fetch(path, { headers: { Authorization: `Bearer ${key ?? ''}`, Accept: 'application/json' } })
  } catch (err) {
    throw new ApiError(0, 'The control API is unreachable', err instanceof Error ? err.message : String(err), undefined)
  }
  if (res.ok) return (await res.json()) as T
  let problem: { title?: string; detail?: string; type?: string; errors?: { path: string; message: string }[] } = {}
  try {
    problem = await res.json()
  } catch {
    // not problem+json (a proxy in front of the API?): the status line is all there is
  }
  const err = new ApiError(res.status, problem.title ?? res.statusText ?? 'Request failed', problem.detail, problem.type, problem.errors)
  if (res.status === 401 && key === storedKey()) onUnauthorized(err.readable)
  throw err
}

// Response shapes (the subset the console reads; the API's OpenAPI document at /openapi.json has them all).
export type Latency = { p50: number | null; p95: number | null; p99: number | null }
export type Golden = { requests: number; rps: number; successRate: number | null; latencyMs: Latency }
export type GraphNode = Golden & { name: string }
export type GraphEdge = Golden & {
  source: string
  destination: string
  reporter: 'inbound' | 'outbound'
  statusClasses: Record<string, number>
  reasons: Record<string, number>
}
export type ServiceGraph = { window: { from: string; to: string; seconds: number }; nodes: GraphNode[]; edges: GraphEdge[] }
export type ServiceMetrics = {
  service: string
  reporter: 'inbound' | 'outbound' | null
  resolution: 'minute' | 'hour'
  stepSeconds: number
  total: Golden & { statusClasses: Record<string, number>; reasons: Record<string, number> }
  points: (Golden & { time: string })[]
}
export type Tenant = { slug: string; displayName: string; revision: number }
export type Proxy = {
  id: string
  service: string
  labels: Record<string, string>
  runtime: string
  appliedRevision: number
  appliedAt: string
  lastSeenAt: string
  live: boolean
}
export type Policy = { kind: string; name: string; targetRef: { service: string }; spec: unknown; version: number; revision: number; updatedAt: string }
export type PolicyVersion = {
  version: number
  operation: string
  kind: string
  revision: number
  spec: unknown
  actor: { type: string; id: string | null; name: string | null }
  createdAt: string
  diff: { op: string; path: string; value?: unknown }[]
}
export type Objective = { type: 'success-rate'; target: number } | { type: 'latency'; thresholdMs: number; target: number }
export type Slo = { name: string; service: string; objective: Objective; window: string; description: string }
export type BurnRule = {
  severity: 'page' | 'ticket'
  longMinutes: number
  shortMinutes: number
  threshold: number
  longBurn: number
  shortBurn: number
  firing: boolean
}
export type SloStatus = Slo & {
  status: {
    evaluatedAt: string
    rules: BurnRule[]
    window: { total: number; bad: number; budgetRemaining: number }
    openAlerts: { id: string; severity: string; openedAt: string }[]
  }
}
export type Alert = {
  id: string
  slo: string
  service: string
  severity: 'page' | 'ticket'
  state: 'open' | 'resolved'
  openedAt: string
  resolvedAt: string | null
  deliveries: { state: string; attempts: number; lastError: string | null }[]
}
export type AuditEvent = {
  id: string
  actor: { type: string; id: string | null; name: string | null }
  action: string
  resourceType: string
  resourceName: string | null
  revision: number | null
  createdAt: string
}
export type Page<T> = { items: T[]; nextCursor: string | null }
