// End to end on loopback with real processes' worth of parts: a control API on a real port over a real
// database, small apps, and Node sidecars in front of them, talking HTTP through undici.
import { serve, type ServerType } from '@hono/node-server'
import { createServer, type Server } from 'node:http'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ProxyAgent, fetch as undiciFetch } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runSidecar, type Sidecar } from '../../edge-proxy/src/runtime/node'
import { buildFilters } from '../../filters/build'
import { backends } from '../support/databases'
import { startHarness, type Harness } from '../support/harness'

type App = { server: Server; port: number; seen: { principal: string | null; path: string }[] }
/** The request headers the last app request carried. */
let lastHeaders: Record<string, string | string[] | undefined> = {}

function startApp(name: string): Promise<App> {
  const seen: App['seen'] = []
  const server = createServer((req, res) => {
    seen.push({ principal: (req.headers['weft-source-principal'] as string) ?? null, path: req.url ?? '' })
    lastHeaders = req.headers
    // The body's size and a checksum of it, so a test can see a request body crossed both hops intact.
    let bytes = 0
    let sum = 0
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length
      for (const b of chunk) sum = (sum * 31 + b) >>> 0
    })
    req.on('end', () => {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ app: name, path: req.url, method: req.method, bytes, sum }))
    })
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port, seen })))
}

const backend = backends[0]!

describe('Node sidecars end to end (PGlite control API)', () => {
  let h: Harness
  let api: ServerType
  let controlUrl: string
  let key: string
  const apps: Record<string, App> = {}
  const sidecars: Record<string, Sidecar> = {}
  const stateRoot = mkdtempSync(join(tmpdir(), 'weft-sidecars-'))
  let viaOrders: ProxyAgent

  const call = async (path: string, init: { method?: string; headers?: Record<string, string>; body?: Uint8Array } = {}) => {
    const res = await undiciFetch(`http://payments${path}`, { ...init, dispatcher: viaOrders })
    const text = await res.text()
    return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) }
  }

  /** Resolves when every sidecar has applied `revision`; fails after a second (DESIGN.md's propagation bound). */
  const waitForRevision = async (revision: number) => {
    const until = Date.now() + 1_000
    for (;;) {
      const revs = await Promise.all(Object.values(sidecars).map(async (s) => (await (await fetch(`http://127.0.0.1:${s.ports.admin}/ready`)).json()).revision as number))
      if (revs.every((r) => r >= revision)) return Date.now()
      if (Date.now() > until) throw new Error(`revision ${revision} not applied by every sidecar within a second: ${revs}`)
      await new Promise((r) => setTimeout(r, 10))
    }
  }
  const write = async (method: string, path: string, body?: object) => {
    const r = await h.request(method, path, { key, body })
    expect(r.status).toBeLessThan(300)
    await waitForRevision(Number(r.headers.get('weft-revision')))
    return r
  }

  beforeAll(async () => {
    h = await startHarness(backend)
    api = serve({ fetch: h.app.fetch, port: 0, hostname: '127.0.0.1' })
    await new Promise((r) => api.once('listening', r))
    controlUrl = `http://127.0.0.1:${(api.address() as { port: number }).port}`
    key = (await h.onboard('e2e')).adminKey
    for (const name of ['orders', 'payments']) await h.request('POST', '/v1/services', { key, body: { name } })
    for (const [id, service, version] of [
      ['orders', 'orders', 'v1'],
      ['payments-v1', 'payments', 'v1'],
      ['payments-v2', 'payments', 'v2'],
    ] as const) {
      apps[id] = await startApp(id)
      const jt = await h.request('POST', `/v1/services/${service}/join-tokens`, { key })
      sidecars[id] = await runSidecar({
        controlUrl,
        joinToken: jt.body.secret,
        service,
        appPort: apps[id]!.port,
        labels: { version },
        inboundPort: 0,
        outboundPort: 0,
        adminPort: 0,
        stateDir: join(stateRoot, id),
        logLevel: 'silent',
      })
    }
    // As HTTP_PROXY users do: absolute-form requests for http:// targets, no CONNECT tunnel.
    viaOrders = new ProxyAgent({ uri: `http://127.0.0.1:${sidecars.orders!.ports.outbound}`, proxyTunnel: false })
    // Wait until the orders sidecar's snapshot holds both payments endpoints.
    const until = Date.now() + 15_000
    for (;;) {
      const dump = await (await fetch(`http://127.0.0.1:${sidecars.orders!.ports.admin}/config_dump`)).json()
      if (dump.snapshot?.outbound?.payments?.endpoints?.length === 2) break
      if (Date.now() > until) throw new Error('payments endpoints never reached the orders sidecar')
      await new Promise((r) => setTimeout(r, 100))
    }
  }, 60_000)

  afterAll(async () => {
    await viaOrders?.close()
    for (const s of Object.values(sidecars)) await s.close()
    for (const a of Object.values(apps)) a.server.close()
    api?.close()
    await h?.close()
    rmSync(stateRoot, { recursive: true, force: true })
  })

  it('an app calls http://payments through its sidecar; the callee sees the verified caller identity', async () => {
    const r = await call('/charge')
    expect(r.status).toBe(200)
    expect(r.json().app).toMatch(/^payments-v[12]$/)
    const seen = [...apps['payments-v1']!.seen, ...apps['payments-v2']!.seen]
    expect(seen.at(-1)).toEqual({ principal: 'spiffe://e2e.weft/svc/orders', path: '/charge' })
    expect(r.headers.get('traceparent') ?? 'absent').toBeDefined()
  })

  it('streams a request body through both sidecars to the app intact', async () => {
    const body = new Uint8Array(300_000).map((_, i) => (i * 7 + 3) & 255)
    let sum = 0
    for (const b of body) sum = (sum * 31 + b) >>> 0
    const r = await call('/upload', { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } })
    expect(r.status).toBe(200)
    expect(r.json()).toMatchObject({ method: 'POST', path: '/upload', bytes: body.length, sum })
  })

  it('splits 90/10 by endpoint labels over 1000 requests within ±3 points, and follows a policy change within a second', async () => {
    const split = (v1: number) => ({
      kind: 'Route',
      name: 'payments-split',
      targetRef: { service: 'payments' },
      spec: { rules: [{ backendRefs: [{ labels: { version: 'v1' }, weight: v1 }, { labels: { version: 'v2' }, weight: 100 - v1 }] }] },
    })
    const w = await h.request('PUT', '/v1/policies/payments-split', { key, body: split(90) })
    await waitForRevision(Number(w.headers.get('weft-revision')))
    let v2 = 0
    for (let i = 0; i < 1000; i++) if ((await call(`/n/${i}`)).json().app === 'payments-v2') v2++
    expect(Math.abs(v2 / 10 - 10)).toBeLessThanOrEqual(3)

    const t0 = Date.now()
    const all = await h.request('PUT', '/v1/policies/payments-split', { key, body: split(0) })
    expect((await waitForRevision(Number(all.headers.get('weft-revision')))) - t0).toBeLessThan(1000)
    for (let i = 0; i < 20; i++) expect((await call('/after')).json().app).toBe('payments-v2')
  })

  it('routes on a header to v2', async () => {
    await write('PUT', '/v1/policies/payments-split', {
        kind: 'Route',
        name: 'payments-split',
        targetRef: { service: 'payments' },
        spec: {
          rules: [
            { matches: [{ headers: [{ name: 'x-canary', value: '1' }] }], backendRefs: [{ labels: { version: 'v2' }, weight: 1 }] },
            { backendRefs: [{ labels: { version: 'v1' }, weight: 1 }] },
          ],
        },
    })
    expect((await call('/x', { headers: { 'x-canary': '1' } })).json().app).toBe('payments-v2')
    expect((await call('/x')).json().app).toBe('payments-v1')
  })

  it('denies an unlisted caller with the policy named, as problem+json with Weft-Reason', async () => {
    await write('POST', '/v1/policies', {
      kind: 'AuthorizationPolicy',
      name: 'payments-only-shipping',
      targetRef: { service: 'payments' },
      spec: { rules: [{ from: { principals: ['spiffe://e2e.weft/svc/shipping'] } }] },
    })
    const r = await call('/charge')
    expect(r.status).toBe(403)
    expect(r.headers.get('weft-reason')).toBe('authz-denied')
    expect(r.headers.get('content-type')).toContain('application/problem+json')
    expect(r.text).toContain('payments-only-shipping')
    await write('DELETE', '/v1/policies/payments-only-shipping')
    expect((await call('/charge')).status).toBe(200)
  })

  it('refuses a forged identity at the inbound port', async () => {
    const res = await fetch(`http://127.0.0.1:${sidecars['payments-v1']!.ports.inbound}/charge`, { headers: { 'weft-identity': 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.' } })
    expect(res.status).toBe(401)
    expect(res.headers.get('weft-reason')).toBe('identity-invalid')
  })

  it("runs the callee's FilterChain: compiled AssemblyScript filters pushed to the registry, fetched by the sidecar", async () => {
    const built = await buildFilters(['add-header', 'api-key-auth'])
    for (const f of built) {
      const push = await h.request('POST', `/v1/filters?name=${f.name}&version=1.0.0`, { key, raw: readFileSync(f.file) as unknown as string, headers: { 'content-type': 'application/wasm' } })
      expect(push.status).toBeLessThan(300)
    }
    await write('PUT', '/v1/policies/payments-filters', {
      kind: 'FilterChain',
      name: 'payments-filters',
      targetRef: { service: 'payments' },
      spec: {
        filters: [
          { filter: 'api-key-auth', version: '1.0.0', config: { header: 'x-api-key', keys: ['let-me-in'] } },
          { filter: 'add-header', version: '1.0.0', config: { name: 'x-hello', value: 'world' } },
        ],
      },
    })
    const refused = await call('/filtered')
    expect(refused.status).toBe(401)
    expect(refused.headers.get('weft-reason')).toBe('filter-response')
    const before = apps['payments-v1']!.seen.length + apps['payments-v2']!.seen.length
    const ok = await call('/filtered', { headers: { 'x-api-key': 'let-me-in' } })
    expect(ok.status).toBe(200)
    const seen = [...apps['payments-v1']!.seen, ...apps['payments-v2']!.seen]
    expect(seen.length).toBe(before + 1)
    expect(lastHeaders['x-hello']).toBe('world')
    expect(lastHeaders['x-api-key']).toBeUndefined()
    await write('DELETE', '/v1/policies/payments-filters')
  })

  it('refuses absolute-form requests for hosts that are not mesh services, without reaching them', async () => {
    const before = Object.values(apps).reduce((n, a) => n + a.seen.length, 0)
    // An outside name, and the callee's app by address (a way around its sidecar): neither is a mesh service.
    for (const [url, host] of [
      ['http://example.com/x', 'example.com'],
      [`http://127.0.0.1:${apps['payments-v1']!.port}/bypass`, '127.0.0.1'],
    ] as const) {
      const r = await undiciFetch(url, { dispatcher: viaOrders })
      expect(r.status).toBe(503)
      expect(r.headers.get('weft-reason')).toBe('unknown-service')
      expect(r.headers.get('content-type')).toBe('application/problem+json')
      expect(((await r.json()) as { detail: string }).detail).toBe(`"${host}" is not in the snapshot of "orders": the tenant has no service of that name`)
    }
    expect(Object.values(apps).reduce((n, a) => n + a.seen.length, 0)).toBe(before)
    // The sidecars' listeners run with the hardening defaults; admin only on loopback.
    for (const s of Object.values(sidecars)) expect(s.hosts).toEqual({ inbound: '0.0.0.0', outbound: '127.0.0.1', admin: '127.0.0.1' })
  })

  it('exposes live proxies and Prometheus metrics', async () => {
    const proxies = await h.request('GET', '/v1/proxies', { key })
    expect(proxies.body.items.map((p: any) => p.service).sort()).toEqual(['orders', 'payments', 'payments'])
    const metrics = await (await fetch(`http://127.0.0.1:${sidecars.orders!.ports.admin}/metrics`)).text()
    expect(metrics).toMatch(/weft_requests_total\{[^}]*destination="payments"/)
    // How late the event loop ran since the last scrape: where a Node proxy's p99 comes from.
    const lag = Object.fromEntries([...metrics.matchAll(/^weft_event_loop_delay_(p50|p99|max)_seconds (\S+)$/gm)].map((m) => [m[1], Number(m[2])]))
    expect(Object.keys(lag).sort()).toEqual(['max', 'p50', 'p99'])
    expect(lag.p50).toBeGreaterThanOrEqual(0)
    expect(lag.p50).toBeLessThanOrEqual(lag.p99!)
    expect(lag.p99).toBeLessThanOrEqual(lag.max!)
  })

  // Last, because they take the control API away.
  it('keeps serving when the control API dies, and a callee restarted meanwhile serves from its persisted snapshot', async () => {
    await write('PUT', '/v1/policies/payments-split', {
      kind: 'Route',
      name: 'payments-split',
      targetRef: { service: 'payments' },
      spec: { rules: [{ backendRefs: [{ labels: { version: 'v1' }, weight: 1 }] }] },
    })
    expect((await call('/before-outage')).status).toBe(200)
    // Held long polls would keep close() waiting: cut every connection, as a crash would.
    const closed = new Promise<void>((r) => api.close(() => r()))
    ;(api as unknown as { closeAllConnections: () => void }).closeAllConnections()
    await closed

    for (let i = 0; i < 20; i++) expect((await call(`/during-outage/${i}`)).json().app).toBe('payments-v1')

    const old = sidecars['payments-v1']!
    const inboundPort = old.ports.inbound
    await old.close()
    sidecars['payments-v1'] = await runSidecar({
      controlUrl,
      service: 'payments',
      appPort: apps['payments-v1']!.port,
      labels: { version: 'v1' },
      inboundPort,
      outboundPort: 0,
      adminPort: 0,
      stateDir: join(stateRoot, 'payments-v1'),
      logLevel: 'silent',
    })
    const ready = await (await fetch(`http://127.0.0.1:${sidecars['payments-v1']!.ports.admin}/ready`)).json()
    expect(ready.ready).toBe(true)
    const r = await call('/after-restart')
    expect(r.status).toBe(200)
    expect(r.json().app).toBe('payments-v1')
    expect(apps['payments-v1']!.seen.at(-1)).toEqual({ principal: 'spiffe://e2e.weft/svc/orders', path: '/after-restart' })
  })

  it('a caller restarted while the control API is down still calls out with its persisted audience token', async () => {
    // The control API is still down (previous test). Without the persisted token this call is refused
    // with identity-unavailable: the restarted caller could not mint one for payments.
    const old = sidecars.orders!
    await viaOrders.close()
    await old.close()
    sidecars.orders = await runSidecar({
      controlUrl,
      service: 'orders',
      appPort: apps.orders!.port,
      labels: { version: 'v1' },
      inboundPort: 0,
      outboundPort: 0,
      adminPort: 0,
      stateDir: join(stateRoot, 'orders'),
      logLevel: 'silent',
    })
    viaOrders = new ProxyAgent({ uri: `http://127.0.0.1:${sidecars.orders.ports.outbound}`, proxyTunnel: false })
    const r = await call('/after-caller-restart')
    expect(r.headers.get('weft-reason')).toBeNull()
    expect(r.status).toBe(200)
    // The callee verified the token (signature, audience, expiry) and saw the caller's identity.
    expect(apps['payments-v1']!.seen.at(-1)).toEqual({ principal: 'spiffe://e2e.weft/svc/orders', path: '/after-caller-restart' })
    const dump = await (await fetch(`http://127.0.0.1:${sidecars.orders.ports.admin}/config_dump`)).json()
    expect(dump.status.audienceTokens).toMatchObject({ cached: 1, mints: 0 })
    expect(dump.status.audienceTokens.hits).toBeGreaterThanOrEqual(1)
  })
})
