// The Node sidecar: the proxy core and the control-plane client, wired to three listeners and its HTTP/1.1 client (http1-agent.ts).
// Everything Node-specific about the data plane lives in this file; the core is Web-standard.
import type { Server } from 'node:net'
import { join } from 'node:path'
import { pino } from 'pino'
import { createControlClient } from '../control/index'
import { FileSnapshotStore } from '../control/file-snapshot-store'
import { createTelemetryPusher } from '../control/telemetry-push'
import { createProxyCore, MetricsRegistry, PROMETHEUS_CONTENT_TYPE, shareDeadlineTimers, upstreamUrl, useMadeResponses } from '../core/index'
import type { ProxyLogger } from '../core/proxy-deps'
import { adminBindHost } from './admin-host'
import { createUpstreamPool } from './upstream-pool'
import { createControlFetch } from './control-fetch'
import { accessLogLine } from './access-log-line'
import { bufferedAccessLogOutput } from './access-log-output'
import { eventLoopDelayMetrics } from './event-loop-delay'
import { dispatchFetch } from './dispatch-fetch'
import { checkListenerLimits, createLimitedServer, DEFAULT_LISTENER_LIMITS, type ListenerLimits } from './listener-limits'
import type { MeterOptions } from '../wasm/index'
import { FilterModuleCache } from './filter-blobs'
import { ACCESS_LOG_SETTINGS, accessLogSettingOf, DEFAULT_ACCESS_LOG, type AccessLogEntry, type AccessLogSetting } from '../core/tracing'
import { madeResponse } from './made-response'
import { lazyTraceExporter } from './lazy-trace-exporter'

// DESIGN.md's ports: Istio's, so operators recognise them.
export const DEFAULT_INBOUND_PORT = 15006
export const DEFAULT_OUTBOUND_PORT = 15001
export const DEFAULT_ADMIN_PORT = 15000
/** Envoy's drain default is longer; a sidecar's callers retry elsewhere, so a few seconds is enough. */
export const DEFAULT_DRAIN_MS = 5_000
// Short TTL: a sidecar that dies leaves routing within ~10 s plus the control API's sweep.
export const DEFAULT_ENDPOINT_TTL_SECONDS = 10
/** Idle pooled connections to upstreams and the app close after this (see createUpstreamPool). */
export const DEFAULT_UPSTREAM_IDLE_TIMEOUT_MS = 30_000

export type SidecarOptions = {
  controlUrl: string
  joinToken?: string
  service: string
  appPort: number
  appHost?: string
  labels?: Record<string, string>
  inboundPort?: number
  outboundPort?: number
  adminPort?: number
  /** Where the last good snapshot and identity are kept (0600); default `.weft/sidecar/<service>-<inbound port>`. */
  stateDir?: string
  zone?: string
  /** The address other proxies reach this one at; registered as the endpoint. */
  advertiseAddress?: string
  logLevel?: 'debug' | 'info' | 'warn' | 'error' | 'silent'
  drainMs?: number
  /** Limits of the inbound and outbound listeners; each unset one keeps its default (DEFAULT_LISTENER_LIMITS). */
  limits?: Partial<ListenerLimits>
  /** Idle keep-alive connections in the upstream pools (to upstreams and to the app) close after this. */
  upstreamIdleTimeoutMs?: number
  /** Where admin binds; loopback only unless `allowRemoteAdmin` (it serves the snapshot without authentication). */
  adminHost?: string
  allowRemoteAdmin?: boolean
  /** Bounds for filter modules (meterWasm): per-call fuel and memory maximum; defaults 10 M units and 64 MiB. */
  filterLimits?: MeterOptions
  /** How often request metrics are pushed to the control API (default 5 s); also pushed once at close. */
  telemetryIntervalMs?: number
  /**
   * Which requests get a JSON access line (`--access-log`): `all`, `errors` (the default: responses the proxy made
   * itself and upstream 5xx; see core/tracing.ts) or `off`; `true` is `all`, `false` is `off`. With
   * `logLevel: 'silent'` and no `accessLogStream`, the default is `off`.
   */
  accessLog?: boolean | AccessLogSetting
  /** Where access-log lines go; default stdout. */
  accessLogStream?: { write(line: string): void }
  /** How long a finished span may wait for its export batch (default 5 s); the rest is flushed at close. */
  traceExportIntervalMs?: number
}

export type Sidecar = {
  ports: { inbound: number; outbound: number; admin: number }
  /** The addresses the listeners are bound to. */
  hosts: { inbound: string; outbound: string; admin: string }
  proxyId: string
  /** Drains: marks the endpoint draining, stops accepting, waits for in-flight requests, deregisters. */
  close(): Promise<void>
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      const a = server.address()
      resolve(typeof a === 'object' && a ? a.port : port)
    })
  })
}

function boundHost(server: Server): string {
  const a = server.address()
  return typeof a === 'object' && a ? a.address : ''
}

export async function runSidecar(options: SidecarOptions): Promise<Sidecar> {
  const inboundPort = options.inboundPort ?? DEFAULT_INBOUND_PORT
  const appHost = options.appHost ?? '127.0.0.1'
  const appTarget = { address: appHost, port: options.appPort }
  const labels = options.labels ?? {}
  const logger = pino({ level: options.logLevel ?? 'info', base: { component: 'weft-sidecar', service: options.service } }) as unknown as ProxyLogger
  const stateDir = options.stateDir ?? join('.weft', 'sidecar', `${options.service}-${inboundPort}`)
  // Checked before anything starts: a sidecar must not come up with its admin exposed by mistake.
  const adminHost = adminBindHost(options.adminHost, options.allowRemoteAdmin === true)
  const limits = checkListenerLimits({ ...DEFAULT_LISTENER_LIMITS, ...options.limits })
  const upstreamIdleMs = options.upstreamIdleTimeoutMs ?? DEFAULT_UPSTREAM_IDLE_TIMEOUT_MS
  // Its own logger: access lines are data, kept whatever the diagnostic log level is.
  // `logLevel: 'silent'` (tests, embedding) silences access lines too unless they are asked for explicitly.
  const accessLog = accessLogSettingFor(options)
  const accessLogOn = accessLog !== 'off'
  const accessOut = accessLogOn && !options.accessLogStream ? bufferedAccessLogOutput() : null
  const accessSink = accessLogOn ? (options.accessLogStream ?? accessOut!.stream) : null

  // Control-plane calls over node:http, not the global fetch (control-fetch.ts says why).
  const controlFetch = createControlFetch()
  const control = createControlClient({
    controlUrl: options.controlUrl,
    fetch: controlFetch,
    service: options.service,
    joinToken: options.joinToken,
    runtime: 'node',
    logger,
    labels,
    store: new FileSnapshotStore(stateDir),
  })
  const agent = createUpstreamPool(upstreamIdleMs)
  const appAgent = createUpstreamPool(upstreamIdleMs)

  const filterModules = new FilterModuleCache({ controlUrl: options.controlUrl, token: () => control.controlToken(), limits: options.filterLimits, fetch: controlFetch })

  // One process serves every request: deadlines can share a timer per duration (core/deadline.ts).
  shareDeadlineTimers(true)
  // Proxy-made answers as the listener writes them best (runtime/made-response.ts).
  useMadeResponses(madeResponse)
  const core = createProxyCore({
    snapshot: () => control.snapshot(),
    upstream: (request, target) => dispatchFetch(upstreamUrl(request, target), request, agent),
    sendUpstream: (call, target) => dispatchFetch(upstreamUrl(call, target), call, agent),
    app: (request) => dispatchFetch(upstreamUrl(request, appTarget), request, appAgent),
    // upstreamUrl takes the path and query from the core's URL without parsing it when it is plain.
    sendApp: (call) => dispatchFetch(upstreamUrl(call, appTarget), call, appAgent),
    identity: { tokenFor: (audience) => control.tokenFor(audience) },
    logger,
    zone: options.zone ?? null,
    // The tenant's collector comes with the snapshot; with none configured this exporter is never called,
    // and OpenTelemetry is not even loaded.
    traceExporter: lazyTraceExporter(async () => (await import('./otel-trace-exporter')).createOtelTraceExporter()),
    tracing: { intervalMs: options.traceExportIntervalMs },
    accessLog: accessSink === null ? undefined : (entry: AccessLogEntry) => accessSink.write(accessLogLine(entry)),
    accessLogMode: accessLog === 'all' ? 'all' : 'errors',
    filterModules: (sha256) => filterModules.get(sha256),
    fetchJwks: async () => {
      const slug = control.snapshot()?.tenant.slug
      const res = await controlFetch(new URL(`/v1/tenants/${slug}/jwks.json`, options.controlUrl))
      if (!res.ok) throw new Error(`JWKS fetch answered ${res.status}`)
      return (await res.json()) as { keys: never[] }
    },
  })

  // A new FilterChain is loaded when its snapshot arrives (not at its first request); the revision is
  // acknowledged as applied once it is ready, and requests swap to it then.
  control.onSnapshot((snapshot) => {
    filterModules.retain((snapshot.inbound.filterChain?.filters ?? []).map((f) => f.sha256))
    return core.prepareFilters(snapshot)
  })

  let inFlight = 0
  let draining = false
  const counted = (handler: (req: Request) => Promise<Response>) => async (req: Request) => {
    inFlight++
    try {
      return await handler(req)
    } finally {
      inFlight--
    }
  }

  // Refusals by the listener limits, appended to /metrics beside the core's series.
  const listenerMetrics = new MetricsRegistry()
  const loopDelay = eventLoopDelayMetrics()
  const refusals = listenerMetrics.counter('weft_listener_refusals_total', 'Requests or connections refused by a listener limit.', ['listener', 'reason'])
  const limited = { limits, logger, onRefusal: (listener: string, reason: string) => refusals.inc([listener, reason]) }
  const inbound = createLimitedServer(
    counted((req) => core.inbound(req)),
    { name: 'inbound', ...limited },
  )
  // An HTTP proxy: the app sends absolute-form requests (`GET http://payments/charge`); the host names the service.
  const outbound = createLimitedServer(
    // The core takes the destination from the URL it parses anyway (one parse per request, not two).
    counted((req) => core.outbound(req)),
    { name: 'outbound', ...limited },
  )
  // The same listener as the data plane's (with its limits; refusals counted as `admin`): admin answers three
  // paths, and an adaptor that swaps the global Request and Response for its own (as @hono/node-server's does)
  // would tax every Response the data plane makes.
  const adminAnswer = (path: string): Response => {
    const status = control.status()
    if (path === '/ready') {
      const ready = control.snapshot() !== null && !draining
      return Response.json({ ready, state: status.state, revision: control.snapshot()?.revision ?? null }, { status: ready ? 200 : 503 })
    }
    if (path === '/metrics') return new Response(core.metrics.render() + listenerMetrics.render() + loopDelay.render(), { headers: { 'Content-Type': PROMETHEUS_CONTENT_TYPE } })
    if (path === '/config_dump') return Response.json({ status, endpoints: core.endpoints(), stats: core.stats(), telemetry: telemetry.stats(), snapshot: control.snapshot() })
    return Response.json({ paths: ['/ready', '/config_dump', '/metrics'] }, { status: 404 })
  }
  const admin = createLimitedServer(async (req) => adminAnswer(new URL(req.url).pathname), { name: 'admin', ...limited })

  await control.start()
  const telemetry = createTelemetryPusher({
    controlUrl: options.controlUrl,
    proxyId: control.proxyId,
    metrics: core.metrics,
    token: () => control.controlToken(),
    refreshToken: () => control.refreshIdentity(),
    fetch: controlFetch,
    logger,
    intervalMs: options.telemetryIntervalMs,
  })
  const ports = {
    inbound: await listen(inbound, inboundPort, '0.0.0.0'),
    outbound: await listen(outbound, options.outboundPort ?? DEFAULT_OUTBOUND_PORT, '127.0.0.1'),
    // Admin exposes the snapshot and metrics: loopback only (Envoy's edge hardening guide).
    admin: await listen(admin, options.adminPort ?? DEFAULT_ADMIN_PORT, adminHost),
  }
  const hosts = { inbound: boundHost(inbound), outbound: boundHost(outbound), admin: boundHost(admin) }
  // Started once listening: a listen failure must not leave a push timer holding the process open.
  telemetry.start()
  // In the background: registration retries while the control API is unreachable, and a sidecar restarted
  // during an outage must serve from its persisted snapshot meanwhile (callers still know its endpoint).
  control
    .registerEndpoint({ address: options.advertiseAddress ?? '127.0.0.1', port: ports.inbound, zone: options.zone, labels, ttlSeconds: DEFAULT_ENDPOINT_TTL_SECONDS })
    .catch((err: unknown) => logger.error({ err: String(err) }, 'endpoint registration failed; inbound traffic will not be routed here'))
  logger.info({ ports, hosts, proxyId: control.proxyId, stateDir, limits }, 'sidecar listening')

  return {
    ports,
    hosts,
    proxyId: control.proxyId,
    async close() {
      draining = true
      await control.setEndpointHealth('draining').catch(() => {})
      const closed = Promise.all([inbound, outbound, admin].map((s) => new Promise((r) => s.close(() => r(null)))))
      const deadline = Date.now() + (options.drainMs ?? DEFAULT_DRAIN_MS)
      while (inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25))
      for (const s of [inbound, outbound, admin]) s.closeAllConnections()
      await closed
      // After the drain, so the last requests are in it; before stop(), while the identity still refreshes.
      await Promise.all([telemetry.stop(), core.tracing.shutdown()])
      await control.stop()
      await control.deregister().catch((err: unknown) => logger.warn({ err: String(err) }, 'deregistration failed; the endpoint will expire'))
      await Promise.all([agent.close(), appAgent.close()])
      controlFetch.close()
      await accessOut?.close()
      loopDelay.stop()
    },
  }
}

/** runSidecar's `accessLog` option as a setting, checked (a RangeError is a usage problem, as for the limits). */
function accessLogSettingFor(options: Pick<SidecarOptions, 'accessLog' | 'accessLogStream' | 'logLevel'>): AccessLogSetting {
  const value = options.accessLog
  if (value === true) return 'all'
  if (value === false) return 'off'
  if (value === undefined) return !options.accessLogStream && options.logLevel === 'silent' ? 'off' : DEFAULT_ACCESS_LOG
  const setting = accessLogSettingOf(String(value))
  if (setting === null) throw new RangeError(`accessLog must be one of ${ACCESS_LOG_SETTINGS.join(', ')}; got ${JSON.stringify(value)}`)
  return setting
}
