// The Worker proxy end to end: the edge-proxy bundle built by wrangler, booted in workerd (Miniflare), in front
// of a small Node origin app, synced from a control API on a real loopback port over PGlite. Nothing is mocked.
import { serve, type ServerType } from '@hono/node-server'
import { createServer, type Server } from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Miniflare, type WorkerOptions } from 'miniflare'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runSidecar, type Sidecar } from '../../edge-proxy/src/runtime/node'
import { buildEdgeWorker } from '../../scripts/build-edge-worker'
import { backends } from '../support/databases'
import { startHarness, type Harness } from '../support/harness'

type App = { server: Server; port: number; seen: { principal: string | null; path: string }[] }

function startApp(name: string): Promise<App> {
  const seen: App['seen'] = []
  const server = createServer((req, res) => {
    seen.push({ principal: (req.headers['weft-source-principal'] as string) ?? null, path: req.url ?? '' })
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ app: name, path: req.url }))
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port, seen })))
}

// The callee Worker: says who called it (the Weft-Identity token's subject and audience) and what it saw.
const PAYMENTS_WORKER = `
function claims(jwt) {
  if (!jwt) return null
  const b64 = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')
  return JSON.parse(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4)))
}
export default {
  async fetch(request) {
    const c = claims(request.headers.get('weft-identity'))
    return Response.json({ worker: 'payments', url: request.url, sub: c && c.sub, aud: c && c.aud })
  },
}`

async function eventually<T>(probe: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const until = Date.now() + ms
  for (;;) {
    const v = await probe()
    if (v !== undefined) return v
    if (Date.now() > until) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 100))
  }
}


describe('the Cloudflare Worker proxy in Miniflare (PGlite control API)', () => {
  let h: Harness
  let api: ServerType
  let key: string
  let mf: Miniflare
  let origin: App
  let backendApp: App
  let backendSidecar: Sidecar | undefined
  let edgeBindings: Record<string, string>
  let edgeWorker: WorkerOptions
  const outdir = mkdtempSync(join(tmpdir(), 'weft-edge-worker-'))

  // Refuses new connections and drops the kept-alive ones, so the Worker finds the control API gone.
  const stopControlApi = () => {
    ;(api as Server | undefined)?.closeAllConnections()
    api?.close()
  }

  const get = async (path: string, headers: Record<string, string> = {}) => {
    const res = await mf.dispatchFetch(`http://edge.example${path}`, { headers })
    const text = await res.text()
    return { status: res.status, reason: res.headers.get('weft-reason'), text }
  }

  beforeAll(async () => {
    const built = await buildEdgeWorker(outdir)
    h = await startHarness(backends[0]!)
    api = serve({ fetch: h.app.fetch, port: 0, hostname: '127.0.0.1' })
    await new Promise((r) => api.once('listening', r))
    const controlUrl = `http://127.0.0.1:${(api.address() as { port: number }).port}`
    key = (await h.onboard('e2e')).adminKey
    for (const name of ['edge', 'backend', 'payments', 'cron-edge']) expect((await h.request('POST', '/v1/services', { key, body: { name } })).status).toBe(201)
    origin = await startApp('origin')
    backendApp = await startApp('backend')
    const backendToken = await h.request('POST', '/v1/services/backend/join-tokens', { key })
    backendSidecar = await runSidecar({
      controlUrl,
      joinToken: backendToken.body.secret,
      service: 'backend',
      appPort: backendApp.port,
      inboundPort: 0,
      outboundPort: 0,
      adminPort: 0,
      stateDir: join(outdir, 'backend-sidecar'),
      logLevel: 'silent',
    })
    // Many uses: every isolate of a Worker joins (the outage test starts a second one).
    const jt = await h.request('POST', '/v1/services/edge/join-tokens', { key, body: { maxUses: 10 } })
    const cronToken = await h.request('POST', '/v1/services/cron-edge/join-tokens', { key, body: { maxUses: 10 } })
    // A callee that is a Worker: reached through a service binding, never at its registered address.
    const payments = await h.request('POST', '/v1/services/payments/endpoints', { key, body: { address: 'payments.invalid', port: 443, ttlSeconds: 3600 } })
    expect(payments.status).toBe(201)
    edgeBindings = {
      WEFT_URL: controlUrl,
      WEFT_JOIN_TOKEN: jt.body.secret,
      WEFT_SERVICE: 'edge',
      WEFT_ORIGIN: `http://127.0.0.1:${origin.port}`,
      WEFT_LABELS: 'version=v1',
      WEFT_LOG_LEVEL: 'warn',
      WEFT_ENDPOINT_URL: 'https://edge.example.com',
    }
    const worker = { modules: true, scriptPath: built.scriptPath, modulesRoot: built.outdir, compatibilityDate: built.compatibilityDate, compatibilityFlags: built.compatibilityFlags }
    edgeWorker = { name: 'edge', ...worker, bindings: edgeBindings, serviceBindings: { PAYMENTS: 'payments-worker' } }
    mf = new Miniflare({
      cachePersist: join(outdir, 'cache'),
      workers: [
        edgeWorker,
        { name: 'payments-worker', modules: true, compatibilityDate: built.compatibilityDate, script: PAYMENTS_WORKER },
        { name: 'edge-cron', ...worker, bindings: { ...edgeBindings, WEFT_JOIN_TOKEN: cronToken.body.secret, WEFT_SERVICE: 'cron-edge', WEFT_ENDPOINT_URL: 'https://cron.example.com:8443' } },
        { name: 'edge-misconfigured', ...worker, bindings: { ...edgeBindings, WEFT_ORIGIN: '' } },
      ],
    })
    await mf.ready
  }, 120_000)

  afterAll(async () => {
    await mf?.dispose()
    await backendSidecar?.close()
    origin?.server.close()
    backendApp?.server.close()
    stopControlApi()
    await h?.close()
    rmSync(outdir, { recursive: true, force: true })
  })

  it('forwards an inbound request to the origin when no policy denies it', async () => {
    const r = await get('/hello?x=1')
    expect(r.status).toBe(200)
    expect(JSON.parse(r.text)).toEqual({ app: 'origin', path: '/hello?x=1' })
  })

  it('registered itself in GET /v1/proxies with runtime workers and the applied revision', async () => {
    const revision = Number((await h.request('GET', '/v1/proxies', { key })).headers.get('weft-revision') ?? NaN)
    const item = await eventually(async () => {
      await get('/tick')
      const items = (await h.request('GET', '/v1/proxies?service=edge', { key })).body.items as any[]
      return items.find((p) => p.runtime === 'workers' && p.appliedRevision >= 1)
    })
    expect(item).toEqual(expect.objectContaining({ service: 'edge', runtime: 'workers', labels: { version: 'v1' }, live: true }))
    if (Number.isFinite(revision)) expect(item.appliedRevision).toBeLessThanOrEqual(revision)
  })

  it('refuses a forged Weft-Identity with 401 identity-invalid', async () => {
    const r = await get('/hello', { 'weft-identity': 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.' })
    expect(r.status).toBe(401)
    expect(r.reason).toBe('identity-invalid')
  })

  it('calls out through Weft-Destination to a service behind a Node sidecar, with its own identity', async () => {
    const r = await eventually(async () => {
      const res = await get('/charge', { 'weft-destination': 'backend' })
      return res.status === 200 ? res : undefined
    })
    expect(JSON.parse(r.text)).toEqual({ app: 'backend', path: '/charge' })
    expect(backendApp.seen.at(-1)).toEqual({ principal: 'spiffe://e2e.weft/svc/edge', path: '/charge' })
  })

  it('denies an unauthenticated request with 403 authz-denied once an AuthorizationPolicy allows only another principal', async () => {
    const put = await h.request('PUT', '/v1/policies/edge-authz', {
      key,
      body: {
        kind: 'AuthorizationPolicy',
        name: 'edge-authz',
        targetRef: { service: 'edge' },
        spec: { action: 'ALLOW', rules: [{ from: { principals: ['spiffe://e2e.weft/svc/backend'] } }] },
      },
    })
    expect(put.status).toBeLessThan(300)
    // The Worker syncs when its snapshot is over a second old, in the background of a request.
    const r = await eventually(async () => {
      const res = await get('/hello')
      return res.status === 403 ? res : undefined
    })
    expect(r.reason).toBe('authz-denied')
    expect(JSON.parse(r.text)).toEqual(expect.objectContaining({ status: 403 }))
  })

  it('calls a callee that is a Worker through its service binding, with an identity minted for it', async () => {
    const r = await eventually(async () => {
      const res = await get('/charge?amount=5', { 'weft-destination': 'payments' })
      return res.status === 200 ? res : undefined
    })
    // The registered address (payments.invalid:443) would not resolve: only the binding can have answered.
    expect(JSON.parse(r.text)).toEqual({ worker: 'payments', url: 'http://payments/charge?amount=5', sub: 'spiffe://e2e.weft/svc/edge', aud: 'spiffe://e2e.weft/svc/payments' })
  })

  it('answers calls it cannot make with Weft-Reason and a problem+json body', async () => {
    const res = await mf.dispatchFetch('http://edge.example/x', { headers: { 'weft-destination': 'nowhere' } })
    expect(res.status).toBe(503)
    expect(res.headers.get('weft-reason')).toBe('unknown-service')
    expect(res.headers.get('content-type')).toBe('application/problem+json')
    expect(await res.json()).toEqual(expect.objectContaining({ type: 'https://weft.dev/problems/proxy/unknown-service', status: 503, reason: 'unknown-service' }))
  })

  it('answers 503 proxy-error, naming no secret, when a setting is missing', async () => {
    const res = await (await mf.getWorker('edge-misconfigured')).fetch('http://edge.example/hello')
    expect(res.status).toBe(503)
    expect(res.headers.get('weft-reason')).toBe('proxy-error')
    const body = (await res.json()) as { type: string; detail: string }
    expect(body.type).toBe('https://weft.dev/problems/proxy/proxy-error')
    expect(body.detail).toMatch(/misconfigured/)
  })

  it('registers WEFT_ENDPOINT_URL as an endpoint of its service, with its labels', async () => {
    await get('/tick')
    const ep = await eventually(async () => {
      const items = (await h.request('GET', '/v1/services/edge/endpoints', { key })).body.items as any[]
      return items.find((e) => e.address === 'edge.example.com')
    })
    expect(ep).toEqual(expect.objectContaining({ address: 'edge.example.com', port: 443, labels: { version: 'v1' }, health: 'healthy' }))
  })

  it('syncs and registers from a cron trigger alone, before any request', async () => {
    await (await mf.getWorker('edge-cron')).scheduled({ cron: '* * * * *' })
    const endpoints = (await h.request('GET', '/v1/services/cron-edge/endpoints', { key })).body.items as any[]
    expect(endpoints).toEqual([expect.objectContaining({ address: 'cron.example.com', port: 8443 })])
    const proxies = (await h.request('GET', '/v1/proxies?service=cron-edge', { key })).body.items as any[]
    expect(proxies).toEqual([expect.objectContaining({ service: 'cron-edge', runtime: 'workers', live: true })])
  })

  // Last: it stops the control API.
  it('a new isolate serves from the cached snapshot while the control API is down, and calls out with its cached audience token', async () => {
    // The previous test's AuthorizationPolicy is in the snapshot the Worker cached.
    expect((await get('/hello')).reason).toBe('authz-denied')
    stopControlApi()
    await mf.dispose()
    // A new workerd process: nothing in memory, only the persisted Cache API.
    mf = new Miniflare({ cachePersist: join(outdir, 'cache'), workers: [{ ...edgeWorker, serviceBindings: {} }] })
    await mf.ready
    const r = await get('/hello')
    expect(r.status).toBe(403)
    expect(r.reason).toBe('authz-denied')
    // Without the cache it would be 503 no-snapshot: prove the control API is really gone.
    await expect(fetch(edgeBindings.WEFT_URL + '/v1/health')).rejects.toThrow()
    // And it still calls out: the audience token minted for backend earlier was cached beside the snapshot
    // (without it: 503 identity-unavailable). The backend's sidecar verifies it.
    const out = await get('/charge-after-restart', { 'weft-destination': 'backend' })
    expect(out.reason).toBeNull()
    expect(out.status).toBe(200)
    expect(backendApp.seen.at(-1)).toEqual({ principal: 'spiffe://e2e.weft/svc/edge', path: '/charge-after-restart' })
  })
})
