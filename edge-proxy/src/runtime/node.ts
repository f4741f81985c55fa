// The Node sidecar: the proxy core and the control-plane client, wired to three listeners and undici.
// Everything Node-specific about the data plane lives in this file; the core is Web-standard.
import { createAdaptorServer } from '@hono/node-server'
import type { Server } from 'node:http'
import { join } from 'node:path'
import { pino } from 'pino'
import { Agent, fetch as undiciFetch } from 'undici'
import { createControlClient } from '../control/index'
import { FileSnapshotStore } from '../control/file-snapshot-store'
import { createTelemetryPusher } from '../control/telemetry-push'
import { createProxyCore, PROMETHEUS_CONTENT_TYPE, upstreamUrl } from '../core/index'
import type { ProxyLogger } from '../core/proxy-deps'
import type { AccessLogEntry } from '../core/tracing'
import { createOtelTraceExporter } from './otel-trace-exporter'

// DESIGN.md's ports: Istio's, so operators recognise them.
export const DEFAULT_INBOUND_PORT = 15006
export const DEFAULT_OUTBOUND_PORT = 15001
export const DEFAULT_ADMIN_PORT = 15000
/** Envoy's drain default is longer; a sidecar's callers retry elsewhere, so a few seconds is enough. */
export const DEFAULT_DRAIN_MS = 5_000
// Short TTL: a sidecar that dies leaves routing within ~10 s plus the control API's sweep.
export const DEFAULT_ENDPOINT_TTL_SECONDS = 10

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
  /** How often request metrics are pushed to the control API (default 5 s); also pushed once at close. */
  telemetryIntervalMs?: number
  /** One JSON line per request handled (`--no-access-log` turns it off); default on. */
  accessLog?: boolean
  /** Where access-log lines go; default stdout. */
  accessLogStream?: { write(line: string): void }
  /** How long a finished span may wait for its export batch (default 5 s); the rest is flushed at close. */
  traceExportIntervalMs?: number
}

export type Sidecar = {
  ports: { inbound: number; outbound: number; admin: number }
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

export async function runSidecar(options: SidecarOptions): Promise<Sidecar> {
  const inboundPort = options.inboundPort ?? DEFAULT_INBOUND_PORT
  const appHost = options.appHost ?? '127.0.0.1'
  const labels = options.labels ?? {}
  const logger = pino({ level: options.logLevel ?? 'info', base: { component: 'weft-sidecar', service: options.service } }) as unknown as ProxyLogger
  const stateDir = options.stateDir ?? join('.weft', 'sidecar', `${options.service}-${inboundPort}`)
  // Its own logger: access lines are data, kept whatever the diagnostic log level is.
  const accessLogger =
    options.accessLog === false ? null : pino({ base: { type: 'access', component: 'weft-sidecar' }, messageKey: 'msg' }, options.accessLogStream ?? process.stdout)

  const control = createControlClient({
    controlUrl: options.controlUrl,
    service: options.service,
    joinToken: options.joinToken,
    runtime: 'node',
    logger,
    labels,
    store: new FileSnapshotStore(stateDir),
  })
  // Keep-alive pools per upstream origin; pipelining off (HTTP/1.1 servers rarely handle it well).
  const agent = new Agent({ keepAliveTimeout: 30_000, connections: 256, pipelining: 1 })
  const appAgent = new Agent({ keepAliveTimeout: 30_000, connections: 256, pipelining: 1 })
  const send = (url: string, request: Request, dispatcher: Agent) =>
    undiciFetch(url, {
      method: request.method,
      headers: request.headers as unknown as Record<string, string>,
      body: request.body as never,
      duplex: 'half',
      redirect: 'manual',
      signal: request.signal,
      dispatcher,
    }) as unknown as Promise<Response>

  // Filter modules are content-addressed: fetched from the registry once, checked against their hash, compiled.
  const modules = new Map<string, Promise<WebAssembly.Module>>()
  const loadModule = async (sha256: string): Promise<WebAssembly.Module> => {
    const res = await fetch(new URL(`/v1/filters/blobs/${sha256}`, options.controlUrl), { headers: { authorization: `Bearer ${await control.controlToken()}` } })
    if (!res.ok) throw new Error(`the filter registry answered ${res.status} for ${sha256}`)
    const bytes = new Uint8Array(await res.arrayBuffer())
    const digest = Buffer.from(await crypto.subtle.digest('SHA-256', bytes)).toString('hex')
    if (digest !== sha256) throw new Error(`filter module ${sha256} arrived with sha256 ${digest}`)
    return new WebAssembly.Module(bytes)
  }

  const core = createProxyCore({
    snapshot: () => control.snapshot(),
    upstream: (request, target) => send(upstreamUrl(request, target), request, agent),
    app: (request) => {
      const u = new URL(request.url)
      return send(`http://${appHost}:${options.appPort}${u.pathname}${u.search}`, request, appAgent)
    },
    identity: { tokenFor: (audience) => control.tokenFor(audience) },
    logger,
    zone: options.zone ?? null,
    // The tenant's collector comes with the snapshot; with none configured this exporter is never called.
    traceExporter: createOtelTraceExporter(),
    tracing: { intervalMs: options.traceExportIntervalMs },
    accessLog: accessLogger === null ? undefined : (entry: AccessLogEntry) => accessLogger.info(entry, 'request'),
    filterModules: async (sha256) => {
      let module = modules.get(sha256)
      if (!module) {
        module = loadModule(sha256)
        modules.set(sha256, module)
        module.catch(() => modules.delete(sha256))
      }
      return module
    },
    fetchJwks: async () => {
      const slug = control.snapshot()?.tenant.slug
      const res = await fetch(new URL(`/v1/tenants/${slug}/jwks.json`, options.controlUrl))
      if (!res.ok) throw new Error(`JWKS fetch answered ${res.status}`)
      return (await res.json()) as { keys: never[] }
    },
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

  const inbound = createAdaptorServer({ fetch: counted((req) => core.inbound(req)) }) as Server
  // An HTTP proxy: the app sends absolute-form requests (`GET http://payments/charge`); the host names the service.
  const outbound = createAdaptorServer({ fetch: counted((req) => core.outbound(req, new URL(req.url).hostname)) }) as Server
  const admin = createAdaptorServer({
    fetch: async (req) => {
      const path = new URL(req.url).pathname
      const status = control.status()
      if (path === '/ready') {
        const ready = control.snapshot() !== null && !draining
        return Response.json({ ready, state: status.state, revision: control.snapshot()?.revision ?? null }, { status: ready ? 200 : 503 })
      }
      if (path === '/metrics') return new Response(core.metrics.render(), { headers: { 'Content-Type': PROMETHEUS_CONTENT_TYPE } })
      if (path === '/config_dump') return Response.json({ status, endpoints: core.endpoints(), stats: core.stats(), telemetry: telemetry.stats(), snapshot: control.snapshot() })
      return Response.json({ paths: ['/ready', '/config_dump', '/metrics'] }, { status: 404 })
    },
  }) as Server

  await control.start()
  const telemetry = createTelemetryPusher({
    controlUrl: options.controlUrl,
    proxyId: control.proxyId,
    metrics: core.metrics,
    token: () => control.controlToken(),
    refreshToken: () => control.refreshIdentity(),
    logger,
    intervalMs: options.telemetryIntervalMs,
  })
  telemetry.start()
  const ports = {
    inbound: await listen(inbound, inboundPort, '0.0.0.0'),
    outbound: await listen(outbound, options.outboundPort ?? DEFAULT_OUTBOUND_PORT, '127.0.0.1'),
    // Admin exposes the snapshot and metrics: loopback only (Envoy's edge hardening guide).
    admin: await listen(admin, options.adminPort ?? DEFAULT_ADMIN_PORT, '127.0.0.1'),
  }
  // In the background: registration retries while the control API is unreachable, and a sidecar restarted
  // during an outage must serve from its persisted snapshot meanwhile (callers still know its endpoint).
  control
    .registerEndpoint({ address: options.advertiseAddress ?? '127.0.0.1', port: ports.inbound, zone: options.zone, labels, ttlSeconds: DEFAULT_ENDPOINT_TTL_SECONDS })
    .catch((err: unknown) => logger.error({ err: String(err) }, 'endpoint registration failed; inbound traffic will not be routed here'))
  logger.info({ ports, proxyId: control.proxyId, stateDir }, 'sidecar listening')

  return {
    ports,
    proxyId: control.proxyId,
    async close() {
      draining = true
      await control.setEndpointHealth('draining').catch(() => {})
      const closed = Promise.all([inbound, outbound, admin].map((s) => new Promise((r) => s.close(() => r(null)))))
      const deadline = Date.now() + (options.drainMs ?? DEFAULT_DRAIN_MS)
      while (inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25))
      for (const s of [inbound, outbound, admin]) (s as Server & { closeAllConnections?: () => void }).closeAllConnections?.()
      await closed
      // After the drain, so the last requests are in it; before stop(), while the identity still refreshes.
      await Promise.all([telemetry.stop(), core.tracing.shutdown()])
      await control.stop()
      await control.deregister().catch((err: unknown) => logger.warn({ err: String(err) }, 'deregistration failed; the endpoint will expire'))
      await Promise.all([agent.close(), appAgent.close()])
    },
  }
}
