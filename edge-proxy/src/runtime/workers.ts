// The Cloudflare Worker proxy: the same core as the Node sidecar, in front of one service. Like node.ts this file
// only builds `deps`; everything Workers-specific about the data plane lives here.
//
// Inbound vs outbound on one URL: a Worker has a single fetch entry, so
//   - a request carrying `Weft-Destination: <service>` is OUTBOUND: code that wants to call another mesh service
//     through this proxy sends it here (the header is stripped; the path and query are kept), and the core
//     routes it to that service (a service binding named like the callee in UPPER_SNAKE_CASE when bound, e.g.
//     `PAYMENTS` for `payments`, else a fetch to the endpoint's address);
//   - every other request is INBOUND: the caller is verified (Weft-Identity), authorised, and forwarded to
//     WEFT_ORIGIN.
// Only expose the outbound form where callers are trusted (e.g. the Worker is reached by a service binding from
// your own code, not from the internet) — it makes requests with this service's identity.
//
// State: one control client and one core per isolate (module scope, built lazily on the first request). A Worker
// cannot hold a long poll across requests, so before handling a request the snapshot is refreshed with
// `syncOnce({waitSeconds: 0})` when it is older than SYNC_INTERVAL_MS; concurrent requests share one sync
// (syncOnce deduplicates). When a snapshot exists the sync runs in `ctx.waitUntil` and the request is served from
// the cached one; only the very first request of an isolate waits. If the control API is unreachable, the
// cached snapshot keeps serving. Nothing persists beyond the isolate: a new isolate starts from scratch.
// Next step: keep the last good snapshot (and identity) in the Cache API or KV via a SnapshotStore, so a new
// isolate can serve during a control-plane outage.
// @ts-expect-error workerd's built-in module; the repo carries no workers-types.
import { env as moduleEnv } from 'cloudflare:workers'
import { createControlClient, type ControlClient } from '../control/index'
import { createProxyCore, upstreamUrl, type ProxyCore } from '../core/index'
import type { ProxyLogger } from '../core/proxy-deps'
import { createOtelTraceExporter } from './otel-trace-exporter'

// workerd accepts only handlers as named exports of the entry module: helpers stay module-private, types are
// erased.
/** Declared here so the repo needs no global workers-types. */
export interface ExecutionContext {
  waitUntil(promise: Promise<unknown>): void
  passThroughOnException(): void
}

type Fetcher = { fetch(input: Request | string, init?: RequestInit): Promise<Response> }

export interface Env {
  WEFT_URL: string
  WEFT_JOIN_TOKEN: string
  WEFT_SERVICE: string
  /** The origin this Worker fronts: admitted inbound requests go there (path and query kept). */
  WEFT_ORIGIN: string
  /** `k=v,k2=v2`: reported with every poll (GET /v1/proxies). */
  WEFT_LABELS?: string
  WEFT_LOG_LEVEL?: string
  /** `off`: no access log (one JSON line per request, `"type":"access"`); on by default. */
  WEFT_ACCESS_LOG?: string
  /** Service bindings for callees, named like the callee in upper snake case (`PAYMENTS`). */
  [binding: string]: unknown
}

const DESTINATION_HEADER = 'weft-destination'
/** How old the snapshot may get before a request triggers a sync. */
const SYNC_INTERVAL_MS = 1_000
/** Per control API call (the client's own default). */
const CONTROL_TIMEOUT_MS = 10_000

type Isolate = { control: ControlClient; core: ProxyCore; logger: ProxyLogger; lastSync: number; ctx: ExecutionContext | null }
// Built at module evaluation, outside any request: workerd ties I/O objects (the client's AbortController,
// which every control API call listens on) to the request that created them and refuses them in later
// requests ("Cannot perform I/O on behalf of a different request"). Objects made at global scope belong to
// none. `env` is importable from cloudflare:workers for exactly this; a failed build is retried per request.
let isolate: Isolate | undefined
try {
  isolate = build(moduleEnv as Env)
} catch {
  isolate = undefined
}

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 } as const

function jsonLogger(level: string | undefined, service: string): ProxyLogger {
  const min = LEVELS[(level ?? 'info') as keyof typeof LEVELS] ?? LEVELS.info
  const log = (name: keyof typeof LEVELS, n: number) => (obj: object, msg?: string) => {
    if (n < min) return
    console.log(JSON.stringify({ level: name, time: Date.now(), component: 'weft-edge-proxy', runtime: 'workers', service, ...obj, msg }))
  }
  return { debug: log('debug', 10), info: log('info', 20), warn: log('warn', 30), error: log('error', 40) }
}

function parseLabels(text: string | undefined): Record<string, string> {
  const labels: Record<string, string> = {}
  for (const pair of (text ?? '').split(',')) {
    const i = pair.indexOf('=')
    if (i > 0) labels[pair.slice(0, i).trim()] = pair.slice(i + 1).trim()
  }
  return labels
}

/** `payments-eu` -> `PAYMENTS_EU`. */
function bindingName(service: string): string {
  return service.replace(/[^A-Za-z0-9]/g, '_').toUpperCase()
}

function isFetcher(v: unknown): v is Fetcher {
  return typeof v === 'object' && v !== null && typeof (v as Fetcher).fetch === 'function'
}

function build(env: Env): Isolate {
  const missing = (['WEFT_URL', 'WEFT_JOIN_TOKEN', 'WEFT_SERVICE', 'WEFT_ORIGIN'] as const).filter((k) => typeof env[k] !== 'string' || !env[k])
  if (missing.length) throw new Error(`missing Worker settings: ${missing.join(', ')}`)
  const logger = jsonLogger(env.WEFT_LOG_LEVEL, env.WEFT_SERVICE)
  const control = createControlClient({
    controlUrl: env.WEFT_URL,
    service: env.WEFT_SERVICE,
    joinToken: env.WEFT_JOIN_TOKEN,
    runtime: 'workers',
    logger,
    labels: parseLabels(env.WEFT_LABELS),
    // workerd's fetch needs its own `this`. The client's abort signal descends from a controller made in the
    // first request; workerd refuses it in any later request ("Cannot perform I/O on behalf of a different
    // request"), so each call gets a fresh timeout signal of its own instead.
    fetch: (input, init) => fetch(input as Request, { ...(init as RequestInit), signal: AbortSignal.timeout(CONTROL_TIMEOUT_MS) }),
  })
  const origin = new URL(env.WEFT_ORIGIN)
  const state: Isolate = { control, core: null as unknown as ProxyCore, logger, lastSync: 0, ctx: null }
  state.core = createProxyCore({
    snapshot: () => control.snapshot(),
    upstream: (request, target) => {
      const binding = env[bindingName(target.service)]
      // A bound callee Worker: the binding picks the Worker; the logical URL keeps path and headers.
      if (isFetcher(binding)) return binding.fetch(new Request(request.url, request))
      return fetch(new Request(upstreamUrl(request, target), request))
    },
    app: (request) => {
      const u = new URL(request.url)
      const target = new URL(u.pathname + u.search, origin)
      return fetch(new Request(target, request))
    },
    identity: { tokenFor: (audience) => control.tokenFor(audience) },
    logger,
    waitUntil: (work) => state.ctx?.waitUntil(work),
    // OpenTelemetry's fetch-based exporter (test/workers/tracing-in-workerd.test.ts); spans are flushed per request.
    traceExporter: createOtelTraceExporter(),
    accessLog: env.WEFT_ACCESS_LOG === 'off' ? undefined : (entry) => console.log(JSON.stringify({ type: 'access', component: 'weft-edge-proxy', runtime: 'workers', ...entry })),
    fetchJwks: async () => {
      const slug = control.snapshot()?.tenant.slug
      const res = await fetch(new URL(`/v1/tenants/${slug}/jwks.json`, env.WEFT_URL))
      if (!res.ok) throw new Error(`JWKS fetch answered ${res.status}`)
      return (await res.json()) as { keys: never[] }
    },
  })
  return state
}

/** Refreshes the snapshot when stale; errors are logged by the client and the cached snapshot keeps serving. */
function sync(state: Isolate): Promise<unknown> | null {
  const now = Date.now()
  if (now - state.lastSync < SYNC_INTERVAL_MS) return null
  state.lastSync = now
  return state.control.syncOnce({ waitSeconds: 0 }).catch((err: unknown) => {
    state.logger.warn({ err: String(err) }, 'config sync failed; serving the last good snapshot')
    return false
  })
}

function problem(status: number, reason: string, detail: string): Response {
  return new Response(JSON.stringify({ type: `https://weft.dev/problems/${reason}`, title: reason, status, detail }), {
    status,
    headers: { 'Content-Type': 'application/problem+json', 'Weft-Reason': reason },
  })
}

/** A Worker's timers do not outlive its requests: the spans a request finished are exported in its waitUntil. */
async function traced(state: Isolate, ctx: ExecutionContext, handled: Promise<Response>): Promise<Response> {
  const response = await handled
  ctx.waitUntil(state.core.tracing.flush())
  return response
}

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    let state: Isolate
    try {
      state = isolate ??= build(env)
    } catch (err) {
      console.log(JSON.stringify({ level: 'error', component: 'weft-edge-proxy', msg: 'cannot start', err: String(err) }))
      return problem(503, 'proxy-misconfigured', 'the Worker is misconfigured; its logs say how')
    }
    state.ctx = ctx
    const pending = sync(state)
    if (pending) {
      // The first request of an isolate has nothing to serve from: it waits; later ones sync in the background.
      if (state.control.snapshot() === null) await pending
      else ctx.waitUntil(pending)
    }
    const destination = request.headers.get(DESTINATION_HEADER)
    if (destination) {
      const headers = new Headers(request.headers)
      headers.delete(DESTINATION_HEADER)
      const u = new URL(request.url)
      const logical = new Request(`http://${destination}${u.pathname}${u.search}`, { method: request.method, headers, body: request.body, redirect: 'manual' })
      return traced(state, ctx, state.core.outbound(logical, destination))
    }
    return traced(state, ctx, state.core.inbound(request))
  },
}
