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
// State: one control client and one core per isolate, built on the first request (or cron run). workerd binds
// every I/O object (fetch, AbortSignal, timer, stream) to the request that made it and refuses it in any other
// ("Cannot perform I/O on behalf of a different request"), so the isolate keeps only plain data between
// requests: control/worker-control.ts holds the snapshot, tokens and due times, and each request makes its own
// control API calls, awaiting them only when it cannot serve without (no snapshot yet, no token for a callee)
// and otherwise handing them to its own ctx.waitUntil. The last good snapshot and the identity are also kept in
// the Cache API (or the KV namespace bound as WEFT_STATE), so a new isolate serves at once, even while the
// control API is down. Which request's ctx the core's background work (mirrors) belongs to is tracked with
// AsyncLocalStorage (the `nodejs_als` compatibility flag; no nodejs_compat).
//
// Settings (wrangler.jsonc `vars`, the join token as a secret): WEFT_URL, WEFT_JOIN_TOKEN, WEFT_SERVICE,
// WEFT_ORIGIN, and optionally WEFT_LABELS, WEFT_LOG_LEVEL, WEFT_ENDPOINT_URL (the Worker's public URL: registered
// as an endpoint of WEFT_SERVICE and heartbeated from requests and cron triggers), WEFT_SYNC_INTERVAL_MS,
// WEFT_TELEMETRY_INTERVAL_MS (request metrics pushed to POST /v1/proxy/telemetry from requests and cron runs).
// Bindings: WEFT_STATE (KV, optional), WEFT_CONTROL (a service binding to the control API Worker, optional),
// and one service binding per callee Worker.
import { AsyncLocalStorage } from 'node:async_hooks'
import { cacheKeyValue, type CacheLike, type KvLike, KeyValueSnapshotStore, kvKeyValue } from '../control/key-value-snapshot-store'
import { createWorkerControl, type WorkerControl } from '../control/worker-control'
import { createWorkerTelemetry, type WorkerTelemetry } from '../control/worker-telemetry'
import { ACCESS_LOG_SETTINGS, accessLogSettingOf, createProxyCore, DEFAULT_ACCESS_LOG, problemResponse, upstreamUrl, type ProxyCore } from '../core/index'
import type { ProxyLogger } from '../core/proxy-deps'
import { bindingName } from './binding-name'
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
  /** `k=v,k2=v2`: reported with every poll (GET /v1/proxies) and on the registered endpoint. */
  WEFT_LABELS?: string
  WEFT_LOG_LEVEL?: string
  /** The Worker's public URL, e.g. `https://orders.example.com`: registered as an endpoint of WEFT_SERVICE. */
  WEFT_ENDPOINT_URL?: string
  /** How old the snapshot may get before a request refreshes it; default 1000. */
  WEFT_SYNC_INTERVAL_MS?: string
  /** How often request metrics are pushed to the control API (by the next request, or a cron run); default 5000. */
  WEFT_TELEMETRY_INTERVAL_MS?: string
  /** A KV namespace for the last good snapshot and the identity (default: the Cache API). */
  WEFT_STATE?: KvLike
  /** A service binding to the control API when it is a Worker too. */
  WEFT_CONTROL?: Fetcher
  /**
   * Which requests get a JSON access line (`"type":"access"`, to the Workers log): `all`, `errors` (the default:
   * responses the proxy made itself and upstream 5xx) or `off`.
   */
  WEFT_ACCESS_LOG?: string
  /** Service bindings for callees, named like the callee in upper snake case (`PAYMENTS`). */
  [binding: string]: unknown
}

const DESTINATION_HEADER = 'weft-destination'
// Set by the entry module `weft edge build` generates (scripts/build-edge-worker.ts): the service's FilterChain
// modules, imported as CompiledWasm, by sha256. workerd cannot compile WASM at run time, so these are all the
// filters this Worker can ever run.
const FILTER_MODULES = Symbol.for('weft.filterModules')

function bundledFilters(): Record<string, WebAssembly.Module> {
  return ((globalThis as Record<symbol, unknown>)[FILTER_MODULES] as Record<string, WebAssembly.Module> | undefined) ?? {}
}

type Isolate = { control: WorkerControl; core: ProxyCore; telemetry: WorkerTelemetry; logger: ProxyLogger; checkedSnapshot: object | null }
let isolate: Isolate | undefined
// The ExecutionContext of the request (or cron run) whose code is running: background work the core starts
// is kept alive by its own request, never by whichever request came last.
const current = new AsyncLocalStorage<ExecutionContext>()

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

function isFetcher(v: unknown): v is Fetcher {
  return typeof v === 'object' && v !== null && typeof (v as Fetcher).fetch === 'function'
}

function isKv(v: unknown): v is KvLike {
  return typeof v === 'object' && v !== null && typeof (v as KvLike).get === 'function' && typeof (v as KvLike).put === 'function'
}

/** The endpoint this Worker registers: its public URL's host and port. */
function endpointOf(url: string | undefined, labels: Record<string, string>) {
  if (!url) return undefined
  const u = new URL(url)
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error(`WEFT_ENDPOINT_URL must be an http(s) URL, got ${url}`)
  return { address: u.hostname.replace(/^\[|\]$/g, ''), port: u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80, labels }
}

function build(env: Env): Isolate {
  const missing = (['WEFT_URL', 'WEFT_JOIN_TOKEN', 'WEFT_SERVICE', 'WEFT_ORIGIN'] as const).filter((k) => typeof env[k] !== 'string' || !env[k])
  if (missing.length) throw new Error(`missing Worker settings: ${missing.join(', ')}`)
  const logger = jsonLogger(env.WEFT_LOG_LEVEL, env.WEFT_SERVICE)
  const labels = parseLabels(env.WEFT_LABELS)
  const scope = { controlUrl: env.WEFT_URL.replace(/\/+$/, ''), service: env.WEFT_SERVICE, joinToken: env.WEFT_JOIN_TOKEN }
  const cache = (globalThis as unknown as { caches?: { default?: CacheLike } }).caches?.default
  const kv = isKv(env.WEFT_STATE) ? kvKeyValue(env.WEFT_STATE) : cache ? cacheKeyValue(cache) : undefined
  const controlBinding = isFetcher(env.WEFT_CONTROL) ? env.WEFT_CONTROL : undefined
  // workerd's fetch needs its own `this`; a bound control API Worker is reached without leaving Cloudflare.
  const controlFetch = (input: string | URL | Request, init?: RequestInit) => (controlBinding ? controlBinding.fetch(new Request(input, init)) : fetch(input, init))
  const syncIntervalMs = env.WEFT_SYNC_INTERVAL_MS ? Number(env.WEFT_SYNC_INTERVAL_MS) : undefined
  if (syncIntervalMs !== undefined && !(syncIntervalMs >= 0)) throw new Error('WEFT_SYNC_INTERVAL_MS must be a number of milliseconds')
  const telemetryIntervalMs = env.WEFT_TELEMETRY_INTERVAL_MS ? Number(env.WEFT_TELEMETRY_INTERVAL_MS) : undefined
  if (telemetryIntervalMs !== undefined && !(telemetryIntervalMs > 0)) throw new Error('WEFT_TELEMETRY_INTERVAL_MS must be a positive number of milliseconds')
  const accessLog = env.WEFT_ACCESS_LOG ? accessLogSettingOf(env.WEFT_ACCESS_LOG) : DEFAULT_ACCESS_LOG
  if (accessLog === null) throw new Error(`WEFT_ACCESS_LOG must be one of ${ACCESS_LOG_SETTINGS.join(', ')}`)
  const control = createWorkerControl({
    ...scope,
    logger,
    labels,
    endpoint: endpointOf(env.WEFT_ENDPOINT_URL, labels),
    store: kv ? new KeyValueSnapshotStore(kv, scope) : undefined,
    fetch: controlFetch,
    syncIntervalMs,
  })
  const origin = new URL(env.WEFT_ORIGIN)
  const core = createProxyCore({
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
    waitUntil: (work) => current.getStore()?.waitUntil(work),
    // OpenTelemetry's fetch-based exporter (test/workers/tracing-in-workerd.test.ts); spans are flushed per request.
    traceExporter: createOtelTraceExporter(),
    accessLog: accessLog === 'off' ? undefined : (entry) => console.log(JSON.stringify({ type: 'access', component: 'weft-edge-proxy', runtime: 'workers', ...entry })),
    accessLogMode: accessLog === 'all' ? 'all' : 'errors',
    // A digest the bundle lacks fails that filter per its failurePolicy (FilterChainRunner); checkFilters logs it.
    filterModules: async (sha256) => {
      const module = bundledFilters()[sha256]
      if (!module) throw new Error(`filter module ${sha256} is not in this Worker's bundle (filters out of date: run weft edge build and deploy again)`)
      return module
    },
    fetchJwks: async () => {
      const slug = control.snapshot()?.tenant.slug
      const res = await controlFetch(new URL(`/v1/tenants/${slug}/jwks.json`, env.WEFT_URL))
      if (!res.ok) throw new Error(`JWKS fetch answered ${res.status}`)
      return (await res.json()) as { keys: never[] }
    },
  })
  const telemetry = createWorkerTelemetry({
    controlUrl: scope.controlUrl,
    proxyId: control.proxyId,
    metrics: core.metrics,
    token: () => control.controlToken(),
    discardToken: (token) => control.discardControlToken(token),
    logger,
    fetch: controlFetch,
    intervalMs: telemetryIntervalMs,
  })
  return { control, core, telemetry, logger, checkedSnapshot: null }
}

/**
 * Once per snapshot: does the bundle hold every filter module the FilterChain names? Those it lacks fail per
 * their failurePolicy (closed: 503 filter-failure; open: skipped), and the Worker says so in its log.
 */
function checkFilters(state: Isolate): void {
  const snapshot = state.control.snapshot()
  if (!snapshot || snapshot === state.checkedSnapshot) return
  state.checkedSnapshot = snapshot
  const bundled = bundledFilters()
  const missing = (snapshot.inbound.filterChain?.filters ?? []).filter((f) => !bundled[f.sha256])
  // Reported with every config poll (Weft-Missing-Filters), so GET /v1/proxies shows this Worker is out of date.
  state.control.reportMissingFilters(missing.map((f) => f.sha256))
  if (missing.length) {
    state.logger.warn(
      { revision: snapshot.revision, policy: snapshot.inbound.filterChain?.policy, missing: missing.map((f) => ({ filter: f.filter, version: f.version, sha256: f.sha256, failurePolicy: f.failurePolicy })) },
      'filters out of date: the FilterChain names modules this Worker was not built with; run weft edge build and deploy again',
    )
  }
}

/** The isolate's proxy, built on first use; a failed build is logged and retried on the next request. */
function isolateFor(env: Env): Isolate | Response {
  try {
    return (isolate ??= build(env))
  } catch (err) {
    console.log(JSON.stringify({ level: 'error', time: Date.now(), component: 'weft-edge-proxy', runtime: 'workers', msg: 'cannot start', err: String(err) }))
    return problemResponse('proxy-error', { status: 503, detail: 'the Weft Worker is misconfigured; its logs say which setting is missing or wrong' })
  }
}

/**
 * A Worker's timers do not outlive its requests: the spans a request finished are exported in its waitUntil,
 * and so is the telemetry push when one is due (this request's own observation is in it).
 */
async function answered(state: Isolate, ctx: ExecutionContext, handled: Promise<Response>): Promise<Response> {
  const response = await handled
  ctx.waitUntil(state.core.tracing.flush())
  const push = state.telemetry.pushIfDue()
  if (push) ctx.waitUntil(push)
  return response
}

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    const state = isolateFor(env)
    if (state instanceof Response) return state
    return current.run(ctx, async () => {
      await state.control.prepare((work) => ctx.waitUntil(work))
      checkFilters(state)
      const destination = request.headers.get(DESTINATION_HEADER)
      if (destination) {
        const headers = new Headers(request.headers)
        headers.delete(DESTINATION_HEADER)
        const u = new URL(request.url)
        const logical = new Request(`http://${destination}${u.pathname}${u.search}`, { method: request.method, headers, body: request.body, redirect: 'manual' })
        return answered(state, ctx, state.core.outbound(logical, destination))
      }
      return answered(state, ctx, state.core.inbound(request))
    })
  },

  /** A cron trigger (wrangler.jsonc `triggers.crons`): sync, heartbeat and push telemetry while no requests come. */
  async scheduled(_controller: unknown, env: Env, ctx: ExecutionContext): Promise<void> {
    const state = isolateFor(env)
    if (state instanceof Response) return
    await current.run(ctx, async () => {
      await state.control.maintain()
      // After maintain: the identity the push needs is there by now (or the control API is down anyway).
      await state.telemetry.pushNow()
    })
  },
}
