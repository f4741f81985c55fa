// A real sidecar pair on loopback pushes its request metrics to a control API on a real port; the service
// graph shows them: the callee's view while the caller's pushes are pending, the caller's once its last
// push (at shutdown) arrives.
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

function startApp(): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    res.statusCode = req.url === '/fail' ? 500 : 200
    res.end('ok')
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port })))
}

describe('telemetry from real sidecars (PGlite control API)', () => {
  let h: Harness
  let api: ServerType
  let key: string
  const apps: Server[] = []
  const sidecars: Record<string, Sidecar> = {}
  const stateRoot = mkdtempSync(join(tmpdir(), 'weft-telemetry-'))
  let viaOrders: ProxyAgent

  beforeAll(async () => {
    h = await startHarness(backends[0]!)
    api = serve({ fetch: h.app.fetch, port: 0, hostname: '127.0.0.1' })
    await new Promise((r) => api.once('listening', r))
    const controlUrl = `http://127.0.0.1:${(api.address() as { port: number }).port}`
    key = (await h.onboard('tele2e')).adminKey
    // orders pushes only at shutdown (a minute's interval); payments every 200 ms.
    for (const [service, telemetryIntervalMs] of [
      ['orders', 60_000],
      ['payments', 200],
    ] as const) {
      await h.request('POST', '/v1/services', { key, body: { name: service } })
      const app = await startApp()
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
        telemetryIntervalMs,
      })
    }
    viaOrders = new ProxyAgent({ uri: `http://127.0.0.1:${sidecars.orders!.ports.outbound}`, proxyTunnel: false })
    const until = Date.now() + 15_000
    for (;;) {
      const dump = await (await fetch(`http://127.0.0.1:${sidecars.orders!.ports.admin}/config_dump`)).json()
      if (dump.snapshot?.outbound?.payments?.endpoints?.length === 1) break
      if (Date.now() > until) throw new Error('the payments endpoint never reached the orders sidecar')
      await new Promise((r) => setTimeout(r, 100))
    }
  }, 60_000)

  afterAll(async () => {
    await viaOrders?.close()
    for (const s of Object.values(sidecars)) await s.close()
    for (const a of apps) a.close()
    api?.close()
    await h?.close()
    rmSync(stateRoot, { recursive: true, force: true })
  })

  const graph = async () => (await h.request('GET', '/v1/telemetry/graph?window=5m', { key })).body
  const edgeOf = (g: any, source: string, destination: string) => g.edges.find((e: any) => e.source === source && e.destination === destination)

  it('pushes from runSidecar show up in the service graph, the caller’s last push arriving at shutdown', async () => {
    const call = async (host: string, path: string) => (await undiciFetch(`http://${host}${path}`, { dispatcher: viaOrders })).status
    for (let i = 0; i < 18; i++) expect(await call('payments', '/charge')).toBe(200)
    for (let i = 0; i < 2; i++) expect(await call('payments', '/fail')).toBe(500)
    // Not in orders' snapshot: a proxy-made 503 with Weft-Reason unknown-service.
    expect(await call('nowhere', '/')).toBe(503)

    // payments' proxy reports within its 200 ms interval: the edge first comes from the callee's side.
    const until = Date.now() + 10_000
    let inbound: any
    for (;;) {
      inbound = edgeOf(await graph(), 'orders', 'payments')
      if (inbound?.requests === 20) break
      if (Date.now() > until) throw new Error(`the inbound edge never reached 20 requests: ${JSON.stringify(inbound)}`)
      await new Promise((r) => setTimeout(r, 100))
    }
    expect(inbound).toMatchObject({ reporter: 'inbound', successRate: 0.9, statusClasses: { '2xx': 18, '5xx': 2 } })
    expect(inbound.latencyMs.p50).toBeGreaterThan(0)
    expect(edgeOf(await graph(), 'orders', 'nowhere')).toBeUndefined()

    // Closing orders' sidecar pushes what it holds: the caller's view replaces the callee's, never added to it.
    await sidecars.orders!.close()
    delete sidecars.orders
    const g = await graph()
    expect(edgeOf(g, 'orders', 'payments')).toMatchObject({ reporter: 'outbound', requests: 20, successRate: 0.9 })
    expect(edgeOf(g, 'orders', 'nowhere')).toMatchObject({ reporter: 'outbound', requests: 1, successRate: 0, reasons: { 'unknown-service': 1 } })
    expect(g.nodes.find((n: any) => n.name === 'payments')).toMatchObject({ requests: 20, successRate: 0.9 })
  })
})
