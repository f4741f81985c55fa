// Weft's built-in filters end to end through the Worker proxy in workerd: built by the real filter build, pushed to
// a control API on a real loopback port (PGlite), attached by one FilterChain, bundled by the same build function
// `weft edge build` runs (metered CompiledWasm modules), booted in Miniflare in front of a small Node origin.
// jwt-auth's signature checks run through the host's `weft.verify_jwt` (jose + WebCrypto inside workerd).
// Nothing is mocked; the Node sidecar counterpart is builtin-filters.test.ts.
import { serve, type ServerType } from '@hono/node-server'
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import type { Miniflare } from 'miniflare'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Weft } from '@weft/sdk'
import { FUEL_EXPORT } from '../../edge-proxy/src/wasm/meter-wasm'
import { buildFilters, buildTestFilter } from '../../filters/build'
import { buildEdgeBundle, type EdgeBundle } from '../../scripts/build-edge-worker'
import { backends } from '../support/databases'
import { moduleExporting } from '../support/wasm-module'
import { bootEdgeBundle } from '../support/edge-bundle'
import { startHarness, type Harness } from '../support/harness'

const ISSUER = 'https://login.edge.test'
const API_KEY = 'k-edge-e2e'
const SHOP = 'https://shop.edge.test'

describe('built-in filters through the Worker proxy in workerd (PGlite control API)', () => {
  let h: Harness
  let api: ServerType
  let key: string
  let origin: Server
  let mf: Miniflare
  let bundle: EdgeBundle
  let signingKey: CryptoKey
  let jwk: JWK
  const seen: IncomingHttpHeaders[] = []
  // The Worker's stdout: its JSON log lines, filter logs included.
  const logs: string[] = []
  const work = mkdtempSync(join(tmpdir(), 'weft-worker-filters-'))
  let users = 0

  /** One request to the Worker; an API key and a fresh rate-limit key unless the caller says otherwise. */
  const call = async (path: string, init: { method?: string; headers?: Record<string, string | null> } = {}) => {
    const headers: Record<string, string> = {}
    for (const [k, v] of Object.entries({ 'x-api-key': API_KEY, 'x-user': `user-${++users}`, ...init.headers })) if (v !== null) headers[k] = v
    const res = await mf.dispatchFetch(`http://shop.example${path}`, { method: init.method ?? 'GET', headers })
    const text = await res.text()
    return { status: res.status, headers: res.headers, text }
  }
  const token = (sub: string, plan: string) =>
    new SignJWT({ plan }).setProtectedHeader({ alg: 'ES256', kid: 'edge' }).setIssuer(ISSUER).setAudience('shop')
      .setSubject(sub).setIssuedAt().setExpirationTime('10m').sign(signingKey)
  const accessLogs = () =>
    logs.flatMap((line) => {
      try {
        const record = JSON.parse(line)
        if (record.filter !== 'telemetry') return []
        const access = JSON.parse(record.msg)
        return access.msg === 'access' ? [access] : []
      } catch {
        return []
      }
    })

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256')
    signingKey = pair.privateKey as CryptoKey
    jwk = { ...(await exportJWK(pair.publicKey)), kid: 'edge', alg: 'ES256' }

    h = await startHarness(backends[0]!)
    api = serve({ fetch: h.app.fetch, port: 0, hostname: '127.0.0.1' })
    await new Promise((r) => api.once('listening', r))
    const controlUrl = `http://127.0.0.1:${(api.address() as { port: number }).port}`
    key = (await h.onboard('edge-filters')).adminKey
    expect((await h.request('POST', '/v1/services', { key, body: { name: 'shop' } })).status).toBe(201)

    origin = createServer((req, res) => {
      seen.push(req.headers)
      res.setHeader('content-type', 'application/json')
      res.end('{"ok":true}')
    })
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r))
    const originPort = (origin.address() as { port: number }).port

    const built = [...(await buildFilters(['cors', 'api-key-auth', 'jwt-auth', 'claim-route', 'ratelimit', 'add-header', 'telemetry'])), await buildTestFilter('runaway')]
    for (const f of built) {
      const push = await h.request('POST', `/v1/filters?name=${f.name}&version=1.0.0`, { key, raw: readFileSync(f.file) as unknown as string, headers: { 'content-type': 'application/wasm' } })
      expect(push.status, f.name).toBeLessThan(300)
    }
    const chain = await h.request('PUT', '/v1/policies/shop-filters', {
      key,
      body: {
        kind: 'FilterChain',
        name: 'shop-filters',
        targetRef: { service: 'shop' },
        spec: {
          filters: [
            { filter: 'cors', version: '1.0.0', config: { allowOrigins: [SHOP], allowHeaders: ['authorization', 'x-api-key'], maxAge: 60 } },
            { filter: 'api-key-auth', version: '1.0.0', config: { keys: [API_KEY] } },
            { filter: 'jwt-auth', version: '1.0.0', config: { issuers: [{ issuer: ISSUER, audiences: ['shop'], jwks: { keys: [jwk] } }], forwardClaims: ['sub', 'plan'] } },
            { filter: 'claim-route', version: '1.0.0', config: { rules: [{ set: 'x-plan-route', from: { claim: 'plan' } }, { set: 'x-weft-canary', value: 'v2', from: { cookie: 'uid' }, percent: 100 }] } },
            { filter: 'ratelimit', version: '1.0.0', config: { key: { header: 'x-user' }, rate: 2, periodSeconds: 3600 } },
            { filter: 'add-header', version: '1.0.0', config: { name: 'x-hello', value: 'edge' } },
            { filter: 'telemetry', version: '1.0.0', config: { prefix: 'shop', countBy: { claim: 'plan' }, logFields: { user: { claim: 'sub' } } }, failurePolicy: 'open' },
            // Spins or allocates without bound on request: metered at build time, it traps and fails closed.
            { filter: 'runaway', version: '1.0.0', failurePolicy: 'closed' },
          ],
        },
      },
    })
    expect(chain.status).toBeLessThan(300)

    // What `weft edge build` does: the FilterChain's modules from the control API, then the same build function.
    const weft = new Weft({ baseUrl: controlUrl, apiKey: key })
    const snapshot = (await weft.proxy.config({ service: 'shop' })).snapshot
    const filters = []
    for (const f of snapshot!.inbound.filterChain!.filters) filters.push({ filter: f.filter, version: f.version, sha256: f.sha256, bytes: await weft.filters.blob(f.sha256) })
    bundle = await buildEdgeBundle({ service: 'shop', controlUrl, origin: `http://127.0.0.1:${originPort}`, outdir: join(work, 'bundle'), logLevel: 'info', crons: [], filters })

    const joinToken = (await h.request('POST', '/v1/services/shop/join-tokens', { key, body: { maxUses: 5 } })).body.secret as string
    mf = await bootEdgeBundle(bundle.outdir, joinToken, {
      handleRuntimeStdio(stdout: Readable, stderr: Readable) {
        for (const stream of [stdout, stderr]) {
          let rest = ''
          stream.setEncoding('utf8')
          stream.on('data', (chunk: string) => {
            const lines = (rest + chunk).split('\n')
            rest = lines.pop()!
            logs.push(...lines)
          })
        }
      },
    })
  }, 180_000)

  afterAll(async () => {
    await mf?.dispose()
    origin?.close()
    api?.close()
    await h?.close()
    rmSync(work, { recursive: true, force: true })
  })

  it('the bundle holds every module of the chain, metered, under the digest the snapshot names', () => {
    expect(bundle.filters.map((f) => f.filter)).toEqual(['cors', 'api-key-auth', 'jwt-auth', 'claim-route', 'ratelimit', 'add-header', 'telemetry', 'runaway'])
    for (const f of bundle.filters) {
      const module = new WebAssembly.Module(readFileSync(join(bundle.outdir, f.file)))
      expect(WebAssembly.Module.exports(module).map((e) => e.name), f.filter).toContain(FUEL_EXPORT)
    }
  })

  it('add-header and api-key-auth: a request with the key reaches the origin with the header, without the key it is a 401', async () => {
    const ok = await call('/cart')
    expect(ok.status).toBe(200)
    expect(seen.at(-1)!['x-hello']).toBe('edge')
    // The credential is stripped before forwarding.
    expect(seen.at(-1)!['x-api-key']).toBeUndefined()
    const before = seen.length
    const refused = await call('/cart', { headers: { 'x-api-key': null } })
    expect(refused.status).toBe(401)
    expect(refused.headers.get('weft-reason')).toBe('filter-response')
    expect(refused.headers.get('www-authenticate')).toBeTruthy()
    expect((await call('/cart', { headers: { 'x-api-key': 'wrong' } })).status).toBe(401)
    expect(seen.length).toBe(before)
  })

  it('cors answers a preflight in the Worker, and adds its headers to a real response (response phase)', async () => {
    const before = seen.length
    const preflight = await call('/cart', { method: 'OPTIONS', headers: { 'x-api-key': null, origin: SHOP, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' } })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get('access-control-allow-origin')).toBe(SHOP)
    expect(preflight.headers.get('access-control-max-age')).toBe('60')
    expect(preflight.headers.get('weft-reason')).toBe('filter-response')
    expect((await call('/cart', { method: 'OPTIONS', headers: { origin: 'https://evil.test', 'access-control-request-method': 'POST' } })).status).toBe(403)
    expect(seen.length).toBe(before)

    const real = await call('/cart', { headers: { origin: SHOP } })
    expect(real.status).toBe(200)
    expect(real.headers.get('access-control-allow-origin')).toBe(SHOP)
    expect(real.headers.get('vary')?.toLowerCase()).toContain('origin')
  })

  it('jwt-auth verifies through weft.verify_jwt inside workerd and forwards claims; claim-route sets its routing headers', async () => {
    const alice = await token('alice', 'gold')
    for (let i = 0; i < 2; i++) {
      // The first sight of the token is verified late (deferred answer); the second comes from the cache.
      const r = await call('/pay', { headers: { authorization: `Bearer ${alice}`, cookie: 'uid=alice', 'x-jwt-claim-plan': 'forged' } })
      expect(r.status).toBe(200)
      const got = seen.at(-1)!
      expect(got['x-jwt-claim-sub']).toBe('alice')
      expect(got['x-jwt-claim-plan']).toBe('gold')
      expect(got.authorization).toBeUndefined()
      expect(got['x-plan-route']).toBe('gold')
      expect(got['x-weft-canary']).toBe('v2')
    }
  })

  it('jwt-auth refuses a forged token with 401 problem+json before the origin sees it', async () => {
    const before = seen.length
    const forged = (await token('mallory', 'gold')).replace(/\.[^.]+$/, '.AAAA')
    const r = await call('/pay', { headers: { authorization: `Bearer ${forged}` } })
    expect(r.status).toBe(401)
    expect(r.headers.get('content-type')).toBe('application/problem+json')
    expect(r.headers.get('weft-reason')).toBe('filter-response')
    expect(JSON.parse(r.text)).toMatchObject({ status: 401 })
    expect(seen.length).toBe(before)
  })

  it('ratelimit: the third request of one key in the period is a 429 with Retry-After; another key still passes', async () => {
    const first = await call('/pay', { headers: { 'x-user': 'bob' } })
    expect(first.status).toBe(200)
    expect(first.headers.get('ratelimit-limit')).toBe('2')
    expect((await call('/pay', { headers: { 'x-user': 'bob' } })).status).toBe(200)
    const limited = await call('/pay', { headers: { 'x-user': 'bob' } })
    expect(limited.status).toBe(429)
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(1000)
    expect(limited.headers.get('ratelimit-remaining')).toBe('0')
    expect(limited.headers.get('weft-reason')).toBe('filter-response')
    expect((await call('/pay', { headers: { 'x-user': 'carol' } })).status).toBe(200)
  })

  it("telemetry writes its access log, enriched with the verified subject and the response's status, to the Worker's log", async () => {
    const r = await call('/orders?n=1', { headers: { authorization: `Bearer ${await token('dave', 'silver')}` } })
    expect(r.status).toBe(200)
    const until = Date.now() + 5_000
    while (!accessLogs().some((a) => a.user === 'dave') && Date.now() < until) await new Promise((res) => setTimeout(res, 50))
    expect(accessLogs().find((a) => a.user === 'dave')).toMatchObject({ msg: 'access', method: 'GET', path: '/orders?n=1', status: 200 })
  })

  it("the Worker's own access log is by default `errors`: a line for the 401 it answered, with its reason, none for a 200 it forwarded", async () => {
    const proxyLines = () =>
      logs.flatMap((line) => {
        try {
          const record = JSON.parse(line)
          return record.type === 'access' && record.component === 'weft-edge-proxy' ? [record] : []
        } catch {
          return []
        }
      })
    expect((await call('/logged-ok')).status).toBe(200)
    expect((await call('/logged-refused', { headers: { 'x-api-key': null } })).status).toBe(401)
    const until = Date.now() + 5_000
    while (!proxyLines().some((l) => l.path === '/logged-refused') && Date.now() < until) await new Promise((res) => setTimeout(res, 50))
    expect(proxyLines().find((l) => l.path === '/logged-refused')).toMatchObject({ runtime: 'workers', direction: 'inbound', service: 'shop', method: 'GET', status: 401, reason: 'filter-response' })
    // Written in order: had the 200 been logged, its line would have come first.
    expect(proxyLines().filter((l) => l.path === '/logged-ok')).toEqual([])
  })

  it('a runaway filter (endless loop, unbounded allocation) traps on its metering and fails closed; the Worker keeps serving', async () => {
    for (const runaway of ['x-loop', 'x-alloc']) {
      const before = seen.length
      const r = await call('/spin', { headers: { [runaway]: '1' } })
      expect(r.status, runaway).toBe(503)
      expect(r.headers.get('weft-reason')).toBe('filter-failure')
      expect(JSON.parse(r.text).detail).toContain('runaway')
      expect(seen.length).toBe(before)
      // The VM was re-instantiated: the next request runs the whole chain again.
      const next = await call('/after')
      expect(next.status).toBe(200)
      expect(seen.at(-1)!['x-runaway']).toBe('ok')
    }
  }, 60_000)

  it('the build refuses a module it cannot meter, naming the filter, before writing anything', async () => {
    const bytes = moduleExporting(['proxy_abi_version_0_2_1'], { memoryPages: 2048 })
    const sha256 = [...new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))].map((b) => b.toString(16).padStart(2, '0')).join('')
    const outdir = join(work, 'unmeterable')
    await expect(buildEdgeBundle({ service: 'shop', controlUrl: 'http://127.0.0.1:1', origin: 'http://127.0.0.1:1', outdir, filters: [{ filter: 'greedy', version: '1.0.0', sha256, bytes }] })).rejects.toThrow(
      /filter greedy@1\.0\.0 .* cannot be metered: the module asks for 2048 pages/,
    )
    expect(existsSync(outdir)).toBe(false)
  })
})
