// Real sidecars export spans with OpenTelemetry's OTLP/HTTP exporter to a real HTTP receiver in this test,
// which decodes the OTLP JSON bodies: client → orders' sidecar (CLIENT span) → payments' sidecar (SERVER
// span, child of the CLIENT span) → app. Sampling: decided at the root by the tenant's rate, an incoming
// traceparent's flag honoured. Access-log lines checked on the caller's side.
import { serve, type ServerType } from '@hono/node-server'
import { createServer, type Server } from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ProxyAgent, fetch as undiciFetch } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runSidecar, type Sidecar } from '../../edge-proxy/src/runtime/node'
import { backends } from '../support/databases'
import { startHarness, type Harness } from '../support/harness'
import { CLIENT, SERVER, startCollector } from '../support/otlp-collector'

function startApp(seen: string[]): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    seen.push(String(req.headers.traceparent))
    res.end('ok')
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port })))
}

async function until<T>(what: string, f: () => Promise<T | undefined> | T | undefined, ms = 15_000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = await f()
    if (v !== undefined && v !== false) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe('tracing from real sidecars to a real OTLP/HTTP receiver (PGlite control API)', () => {
  let h: Harness
  let api: ServerType
  let key: string
  let collector: Awaited<ReturnType<typeof startCollector>>
  const apps: Server[] = []
  const sidecars: Record<string, Sidecar> = {}
  const appSeen: string[] = []
  const accessLines: Record<string, any[]> = { orders: [], payments: [] }
  const stateRoot = mkdtempSync(join(tmpdir(), 'weft-tracing-'))
  let viaOrders: ProxyAgent

  const dump = async (service: string) => (await fetch(`http://127.0.0.1:${sidecars[service]!.ports.admin}/config_dump`)).json()
  /** Waits until both sidecars run the snapshot with this sample rate (null: tracing off). */
  const converged = (sampleRate: number | null) =>
    until(`sample rate ${sampleRate} at both sidecars`, async () => {
      for (const s of ['orders', 'payments']) if (((await dump(s)).snapshot?.tracing?.sampleRate ?? null) !== sampleRate) return undefined
      return true
    })
  const call = async (path: string, headers: Record<string, string> = {}, host = 'payments') =>
    (await undiciFetch(`http://${host}${path}`, { dispatcher: viaOrders, headers })).status
  const ofTrace = (traceId: string) => collector.spans.filter((s) => s.traceId === traceId)

  beforeAll(async () => {
    collector = await startCollector()
    h = await startHarness(backends[0]!)
    api = serve({ fetch: h.app.fetch, port: 0, hostname: '127.0.0.1' })
    await new Promise((r) => api.once('listening', r))
    const controlUrl = `http://127.0.0.1:${(api.address() as { port: number }).port}`
    key = (await h.onboard('trace2e')).adminKey
    const put = await h.request('PUT', '/v1/tracing', { key, body: { endpoint: collector.url, headers: { 'x-api-key': 'collector-secret' }, sampleRate: 1 } })
    expect(put.status).toBe(200)
    for (const service of ['orders', 'payments']) {
      await h.request('POST', '/v1/services', { key, body: { name: service } })
      const app = await startApp(appSeen)
      apps.push(app.server)
      const jt = await h.request('POST', `/v1/services/${service}/join-tokens`, { key })
      sidecars[service] = await runSidecar({
        controlUrl,
        joinToken: jt.body.secret,
        service,
        appPort: app.port,
        inboundPort: 0,
        outboundPort: 0,
        adminPort: 0,
        stateDir: join(stateRoot, service),
        logLevel: 'silent',
        traceExportIntervalMs: 100,
        accessLogStream: { write: (line: string) => void accessLines[service]!.push(JSON.parse(line)) },
        // orders logs every request; payments keeps the default, `errors` (pinned below).
        ...(service === 'orders' ? { accessLog: 'all' as const } : {}),
      })
    }
    viaOrders = new ProxyAgent({ uri: `http://127.0.0.1:${sidecars.orders!.ports.outbound}`, proxyTunnel: false })
    await until('the payments endpoint at the orders sidecar', async () => (await dump('orders')).snapshot?.outbound?.payments?.endpoints?.length === 1)
    await converged(1)
  }, 60_000)

  afterAll(async () => {
    await viaOrders?.close()
    for (const s of Object.values(sidecars)) await s.close()
    for (const a of apps) a.close()
    api?.close()
    await h?.close()
    await collector?.close()
    rmSync(stateRoot, { recursive: true, force: true })
  })

  it("exports the caller's CLIENT span and the callee's SERVER span of one trace, the SERVER span the CLIENT span's child", async () => {
    appSeen.length = 0
    expect(await call('/charge')).toBe(200)
    const [traceparent] = appSeen
    const [, traceId, appParent, flags] = traceparent!.split('-')
    expect(flags).toBe('01')

    const spans = await until('two spans of the trace', () => (ofTrace(traceId!).length >= 2 ? ofTrace(traceId!) : undefined))
    expect(spans).toHaveLength(2)
    const client = spans.find((s) => s.kind === CLIENT)!
    const server = spans.find((s) => s.kind === SERVER)!
    expect(client).toMatchObject({ service: 'orders', name: 'GET payments' })
    expect(server).toMatchObject({ service: 'payments' })
    // The root: nobody sent a traceparent to orders' sidecar.
    expect(client.parentSpanId ?? '').toBe('')
    expect(server.parentSpanId).toBe(client.spanId)
    // The app's traceparent names the SERVER span as its parent: its own spans would nest under it.
    expect(appParent).toBe(server.spanId)
    expect(client.attrs).toMatchObject({ 'http.request.method': 'GET', 'url.path': '/charge', 'http.response.status_code': 200, 'weft.source': 'orders', 'weft.destination': 'payments' })
    expect(server.attrs).toMatchObject({ 'http.response.status_code': 200, 'weft.source': 'orders', 'weft.destination': 'payments', 'weft.direction': 'inbound' })
    // The attempt to payments' endpoint is an event on the CLIENT span.
    expect(client.events?.map((e) => e.name)).toEqual(['attempt'])
    // The tenant's collector headers travel with every export.
    expect(collector.requests.every((r) => r.headers['x-api-key'] === 'collector-secret' && r.path === '/v1/traces')).toBe(true)
  })

  it('marks a proxy-made response with weft.reason, as an error span, and writes the reason in the access log', async () => {
    expect(await call('/', {}, 'nowhere')).toBe(503)
    const line = await until('the access line of the refused call', () => accessLines.orders!.find((l) => l.destination === 'nowhere'))
    expect(line).toMatchObject({ type: 'access', direction: 'outbound', tenant: 'trace2e', service: 'orders', method: 'GET', path: '/', status: 503, reason: 'unknown-service', upstream: null })
    expect(line.traceId).toMatch(/^[0-9a-f]{32}$/)
    expect(typeof line.durationMs).toBe('number')
    const [span] = await until('the span of the refused call', () => (ofTrace(line.traceId).length ? ofTrace(line.traceId) : undefined))
    expect(span).toMatchObject({ kind: CLIENT, service: 'orders', status: { code: 2 } })
    expect(span!.attrs['weft.reason']).toBe('unknown-service')

    // A forwarded call's line (orders logs `all`) names the endpoint that answered and carries no reason.
    const ok = accessLines.orders!.find((l) => l.destination === 'payments' && l.status === 200)
    expect(ok).toMatchObject({ upstream: expect.stringMatching(/^127\.0\.0\.1:\d+$/), attempts: 1, requestId: expect.any(String) })
    expect(ok.reason).toBeUndefined()
    // payments logs by default, `errors`: the 200 it forwarded to its app wrote no line (it would have been written
    // before orders had the answer), a call it refused itself does.
    expect(accessLines.payments!.find((l) => l.traceId === ok.traceId)).toBeUndefined()
    const unverified = await fetch(`http://127.0.0.1:${sidecars.payments!.ports.inbound}/charge`, { headers: { 'weft-identity': 'not-a-jwt' } })
    expect(unverified.status).toBe(401)
    const refused = await until("payments' line of the call it refused", () => accessLines.payments!.find((l) => l.reason !== undefined))
    expect(refused).toMatchObject({ direction: 'inbound', service: 'payments', status: unverified.status, reason: unverified.headers.get('weft-reason'), upstream: null })
  })

  it('honours an incoming unsampled traceparent although the rate is 1', async () => {
    const traceId = 'aa'.repeat(16)
    appSeen.length = 0
    expect(await call('/charge', { traceparent: `00-${traceId}-${'bb'.repeat(8)}-00` })).toBe(200)
    expect(appSeen[0]).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-00$`))
    // Judged at the end, once shutdown has flushed everything (see the last test).
  })

  it('with sampleRate 0 samples no trace it starts, but an incoming sampled traceparent still is', async () => {
    await h.request('PUT', '/v1/tracing', { key, body: { endpoint: collector.url, sampleRate: 0 } })
    await converged(0)
    appSeen.length = 0
    for (let i = 0; i < 5; i++) expect(await call('/charge')).toBe(200)
    expect(appSeen).toHaveLength(5)
    for (const tp of appSeen) expect(tp).toMatch(/-00$/)
    unsampled.push(...appSeen.map((tp) => tp.split('-')[1]!))

    const traceId = 'cc'.repeat(16)
    const parent = 'dd'.repeat(8)
    expect(await call('/charge', { traceparent: `00-${traceId}-${parent}-01` })).toBe(200)
    const spans = await until('the spans of the sampled trace', () => (ofTrace(traceId).length >= 2 ? ofTrace(traceId) : undefined))
    const client = spans.find((s) => s.kind === CLIENT)!
    expect(client.parentSpanId).toBe(parent)
    expect(spans.find((s) => s.kind === SERVER)!.parentSpanId).toBe(client.spanId)
  })

  const unsampled: string[] = ['aa'.repeat(16)]

  it('exported nothing of unsampled traces (checked after shutdown flushed every queue), and counted what it exported', async () => {
    const metrics = await (await fetch(`http://127.0.0.1:${sidecars.orders!.ports.admin}/metrics`)).text()
    expect(metrics).toMatch(/weft_spans_total\{outcome="exported"\} [1-9]/)
    expect(metrics).not.toMatch(/outcome="dropped"/)
    for (const s of ['orders', 'payments']) {
      await sidecars[s]!.close()
      delete sidecars[s]
    }
    for (const traceId of unsampled) expect(ofTrace(traceId)).toEqual([])
  })
})
