// Weft's built-in filters end to end: built by the real build, pushed to the registry, attached by a FilterChain,
// fetched and run by a real Node sidecar in front of a small app. The sidecar runs a chain's request phase, so
// this covers what filters decide on requests; response-phase behaviour is covered through the host in
// filters/<name>/*.test.ts.
import { serve, type ServerType } from '@hono/node-server'
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ProxyAgent, fetch as undiciFetch } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runSidecar, type Sidecar } from '../../edge-proxy/src/runtime/node'
import { buildFilters } from '../../filters/build'
import { backends } from '../support/databases'
import { startHarness, type Harness } from '../support/harness'

const ISSUER = 'https://login.e2e.test'

describe('built-in filters through a Node sidecar (PGlite control API)', () => {
  let h: Harness
  let api: ServerType
  let key: string
  let app: Server
  const seen: IncomingHttpHeaders[] = []
  const sidecars: Sidecar[] = []
  const stateRoot = mkdtempSync(join(tmpdir(), 'weft-builtin-filters-'))
  let viaOrders: ProxyAgent
  let signingKey: CryptoKey
  let jwk: JWK

  const call = async (path: string, init: { method?: string; headers?: Record<string, string> } = {}) => {
    const res = await undiciFetch(`http://payments${path}`, { ...init, dispatcher: viaOrders })
    const text = await res.text()
    return { status: res.status, headers: res.headers, text }
  }
  const token = (sub: string, plan: string) =>
    new SignJWT({ plan }).setProtectedHeader({ alg: 'ES256', kid: 'e2e' }).setIssuer(ISSUER).setAudience('payments')
      .setSubject(sub).setIssuedAt().setExpirationTime('10m').sign(signingKey)

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256')
    signingKey = pair.privateKey as CryptoKey
    jwk = { ...(await exportJWK(pair.publicKey)), kid: 'e2e', alg: 'ES256' }

    h = await startHarness(backends[0]!)
    api = serve({ fetch: h.app.fetch, port: 0, hostname: '127.0.0.1' })
    await new Promise((r) => api.once('listening', r))
    const controlUrl = `http://127.0.0.1:${(api.address() as { port: number }).port}`
    key = (await h.onboard('filters-e2e')).adminKey
    for (const name of ['orders', 'payments']) await h.request('POST', '/v1/services', { key, body: { name } })

    app = createServer((req, res) => {
      seen.push(req.headers)
      res.setHeader('content-type', 'application/json')
      res.end('{"ok":true}')
    })
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r))
    const appPort = (app.address() as { port: number }).port
    for (const service of ['orders', 'payments']) {
      const jt = await h.request('POST', `/v1/services/${service}/join-tokens`, { key })
      sidecars.push(await runSidecar({
        controlUrl, joinToken: jt.body.secret, service, appPort, inboundPort: 0, outboundPort: 0, adminPort: 0,
        stateDir: join(stateRoot, service), logLevel: 'silent',
      }))
    }
    viaOrders = new ProxyAgent({ uri: `http://127.0.0.1:${sidecars[0]!.ports.outbound}`, proxyTunnel: false })

    for (const f of await buildFilters(['cors', 'jwt-auth', 'claim-route', 'ratelimit', 'telemetry'])) {
      const push = await h.request('POST', `/v1/filters?name=${f.name}&version=1.0.0`, { key, raw: readFileSync(f.file) as unknown as string, headers: { 'content-type': 'application/wasm' } })
      expect(push.status).toBeLessThan(300)
    }
    const chain = await h.request('PUT', '/v1/policies/payments-filters', {
      key,
      body: {
        kind: 'FilterChain',
        name: 'payments-filters',
        targetRef: { service: 'payments' },
        spec: {
          filters: [
            { filter: 'cors', version: '1.0.0', config: { allowOrigins: ['https://shop.e2e.test'], allowHeaders: ['authorization'], maxAge: 60 } },
            { filter: 'jwt-auth', version: '1.0.0', config: { issuers: [{ issuer: ISSUER, audiences: ['payments'], jwks: { keys: [jwk] } }], forwardClaims: ['sub', 'plan'] } },
            { filter: 'claim-route', version: '1.0.0', config: { rules: [{ set: 'x-plan-route', from: { claim: 'plan' } }, { set: 'x-weft-canary', value: 'v2', from: { cookie: 'uid' }, percent: 100 }] } },
            { filter: 'ratelimit', version: '1.0.0', config: { key: { claim: 'sub' }, rate: 2, periodSeconds: 3600 } },
            { filter: 'telemetry', version: '1.0.0', config: { prefix: 'payments', countBy: { claim: 'plan' } }, failurePolicy: 'open' },
          ],
        },
      },
    })
    expect(chain.status).toBeLessThan(300)
    // Wait until the payments sidecar runs the chain (a preflight is answered by the cors filter, not the app).
    const until = Date.now() + 15_000
    for (;;) {
      const probe = await call('/probe', { method: 'OPTIONS', headers: { origin: 'https://shop.e2e.test', 'access-control-request-method': 'GET' } }).catch(() => undefined)
      if (probe?.status === 204) break
      if (Date.now() > until) throw new Error('the FilterChain never reached the payments sidecar')
      await new Promise((r) => setTimeout(r, 100))
    }
  }, 90_000)

  afterAll(async () => {
    await viaOrders?.close()
    for (const s of sidecars) await s.close()
    app?.close()
    api?.close()
    await h?.close()
    rmSync(stateRoot, { recursive: true, force: true })
  })

  it('cors answers a preflight in the sidecar, and refuses a foreign origin', async () => {
    const before = seen.length
    const ok = await call('/pay', { method: 'OPTIONS', headers: { origin: 'https://shop.e2e.test', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' } })
    expect(ok.status).toBe(204)
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://shop.e2e.test')
    expect(ok.headers.get('access-control-max-age')).toBe('60')
    expect(ok.headers.get('weft-reason')).toBe('filter-response')
    const bad = await call('/pay', { method: 'OPTIONS', headers: { origin: 'https://evil.test', 'access-control-request-method': 'POST' } })
    expect(bad.status).toBe(403)
    expect(seen.length).toBe(before)
  })

  it('jwt-auth verifies through weft.verify_jwt and forwards claims; claim-route turns them into routing headers', async () => {
    const r = await call('/pay', { headers: { authorization: `Bearer ${await token('alice', 'gold')}`, cookie: 'uid=alice', 'x-jwt-claim-plan': 'forged' } })
    expect(r.status).toBe(200)
    const got = seen.at(-1)!
    expect(got['x-jwt-claim-sub']).toBe('alice')
    expect(got['x-jwt-claim-plan']).toBe('gold')
    expect(got['x-plan-route']).toBe('gold')
    expect(got['x-weft-canary']).toBe('v2')
    expect(got.authorization).toBeUndefined()
  })

  it('jwt-auth refuses a bad token with 401 problem+json before the app sees it', async () => {
    const before = seen.length
    const forged = (await token('mallory', 'gold')).replace(/\.[^.]+$/, '.AAAA')
    const r = await call('/pay', { headers: { authorization: `Bearer ${forged}` } })
    expect(r.status).toBe(401)
    expect(r.headers.get('content-type')).toBe('application/problem+json')
    expect(r.headers.get('weft-reason')).toBe('filter-response')
    expect(JSON.parse(r.text)).toMatchObject({ status: 401 })
    expect(seen.length).toBe(before)
  })

  it('ratelimit keys on the verified subject: the third request of one user is a 429, another user still passes', async () => {
    const bob = await token('bob', 'free')
    expect((await call('/pay', { headers: { authorization: `Bearer ${bob}` } })).status).toBe(200)
    expect((await call('/pay', { headers: { authorization: `Bearer ${bob}` } })).status).toBe(200)
    const limited = await call('/pay', { headers: { authorization: `Bearer ${bob}` } })
    expect(limited.status).toBe(429)
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(1000)
    expect(limited.headers.get('ratelimit-remaining')).toBe('0')
    expect(limited.headers.get('weft-reason')).toBe('filter-response')
    expect((await call('/pay', { headers: { authorization: `Bearer ${await token('carol', 'free')}` } })).status).toBe(200)
  })
})
