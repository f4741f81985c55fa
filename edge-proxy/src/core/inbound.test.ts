import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { Snapshot } from '../../../mesh/src/snapshot/types'
import { fetchApp, fetchUpstream, listen, memoryLogger, rawRequest, readBody, serveHandler, type Loopback, REFUSED_PORT } from '../../test-support/loopback'
import { signingKey, snapshotOf, spiffe, type InboundPolicies } from '../../test-support/snapshots'
import { createProxyCore, type ProxyCore } from './create-proxy-core'
import type { ProxyCoreDeps } from './proxy-deps'

type AppSeen = { method: string; url: string; headers: Record<string, string | string[] | undefined>; body: string }

const PAYMENTS = spiffe('payments')
const ORDERS = spiffe('orders')

let app: Loopback
const appSeen: AppSeen[] = []
const open: Loopback[] = []
let key: Awaited<ReturnType<typeof signingKey>>
let otherKey: Awaited<ReturnType<typeof signingKey>>

beforeAll(async () => {
  app = await listen(async (req, res) => {
    appSeen.push({ method: req.method!, url: req.url!, headers: req.headers, body: (await readBody(req)).toString() })
    res.writeHead(200, { 'content-type': 'text/plain', 'x-from': 'app' })
    res.end(`app saw ${req.url}`)
  })
  key = await signingKey('k1')
  // Same kid, other key material: a forgery that names a trusted kid.
  otherKey = await signingKey('k1')
})
beforeEach(() => {
  appSeen.length = 0
})
afterAll(async () => {
  await Promise.all([app.close(), ...open.map((o) => o.close())])
})

function payments(inbound: InboundPolicies = {}, extra: Partial<Snapshot> = {}): Snapshot {
  return snapshotOf('payments', [], inbound, { jwks: { keys: [key.jwk] }, ...extra })
}

/** The inbound side of a core behind a real HTTP listener, as the sidecar will run it. */
async function sidecar(snapshot: Snapshot | (() => Snapshot), extra: Partial<ProxyCoreDeps> = {}): Promise<{ port: number; core: ProxyCore; logger: ReturnType<typeof memoryLogger> }> {
  const logger = memoryLogger()
  const core = createProxyCore({
    snapshot: typeof snapshot === 'function' ? snapshot : () => snapshot,
    upstream: fetchUpstream,
    app: fetchApp(app.port),
    identity: { tokenFor: async () => 'unused' },
    logger,
    ...extra,
  })
  const front = await serveHandler((r) => core.inbound(r))
  open.push(front)
  return { port: front.port, core, logger }
}

const as = (token: string, headers: Record<string, string> = {}) => ({ headers: { 'weft-identity': token, ...headers } })

describe('inbound identity', () => {
  it('forwards a verified caller as Weft-Source-Principal, without the token, and drops a spoofed principal', async () => {
    const { port } = await sidecar(payments())
    const token = await key.mint({ subject: ORDERS, audience: PAYMENTS })
    const r = await rawRequest(port, '/charge?x=1', as(token, { 'weft-source-principal': spiffe('admin') }))
    expect(r.status).toBe(200)
    expect(r.body).toBe('app saw /charge?x=1')
    expect(appSeen[0]!.headers['weft-source-principal']).toBe(ORDERS)
    expect(appSeen[0]!.headers['weft-identity']).toBeUndefined()
    expect(appSeen[0]!.headers.traceparent).toMatch(/^00-/)
  })

  it('lets an anonymous caller through when no policy requires identity, without a principal', async () => {
    const { port } = await sidecar(payments())
    const r = await rawRequest(port, '/x', { headers: { 'weft-source-principal': spiffe('admin') } })
    expect(r.status).toBe(200)
    expect(appSeen[0]!.headers['weft-source-principal']).toBeUndefined()
  })

  it.each([
    ['forged (signed by another key under a trusted kid)', () => otherKey.mint({ subject: ORDERS, audience: PAYMENTS }), 'ERR_SVID_SIGNATURE'],
    ['expired', () => key.mint({ subject: ORDERS, audience: PAYMENTS, ttlSeconds: 60, now: Date.now() - 10 * 60_000 }), 'ERR_SVID_EXPIRED'],
    ['for another audience', () => key.mint({ subject: ORDERS, audience: spiffe('ledger') }), 'ERR_SVID_AUDIENCE'],
    ['from another issuer', () => key.mint({ subject: ORDERS, audience: PAYMENTS, issuer: 'https://evil.test' }), 'ERR_SVID_ISSUER'],
    ['garbage', async () => 'not.a.jwt', 'ERR_SVID_MALFORMED'],
  ])('refuses a %s token: 401 identity-invalid naming the code', async (_, mint, code) => {
    const { port } = await sidecar(payments())
    const r = await rawRequest(port, '/charge', as(await mint()))
    expect(r.status).toBe(401)
    expect(r.headers['weft-reason']).toBe('identity-invalid')
    expect(JSON.parse(r.body)).toMatchObject({ type: 'https://weft.dev/problems/proxy/identity-invalid', status: 401, detail: expect.stringContaining(code) })
    expect(appSeen).toHaveLength(0)
  })

  it('refuses a revoked workload, also once its token was cached', async () => {
    let snapshot = payments()
    const { port } = await sidecar(() => snapshot)
    const token = await key.mint({ subject: ORDERS, audience: PAYMENTS, workloadId: 'wl-7' })
    expect((await rawRequest(port, '/x', as(token))).status).toBe(200)
    snapshot = payments({}, { revokedWorkloads: ['wl-7'], revision: 2 })
    const r = await rawRequest(port, '/x', as(token))
    expect(r.status).toBe(401)
    expect(JSON.parse(r.body).detail).toContain('ERR_SVID_REVOKED')
  })

  it('takes new keys from a new snapshot (JWKS rotation) and drops removed ones', async () => {
    const next = await signingKey('k2')
    let snapshot = payments()
    const { port } = await sidecar(() => snapshot)
    const old = await key.mint({ subject: ORDERS, audience: PAYMENTS })
    const fresh = await next.mint({ subject: ORDERS, audience: PAYMENTS })
    expect((await rawRequest(port, '/x', as(old))).status).toBe(200)
    expect(JSON.parse((await rawRequest(port, '/x', as(fresh))).body).detail).toContain('ERR_SVID_KID_UNKNOWN')
    snapshot = payments({}, { jwks: { keys: [key.jwk, next.jwk] }, revision: 2 })
    expect((await rawRequest(port, '/x', as(fresh))).status).toBe(200)
    snapshot = payments({}, { jwks: { keys: [next.jwk] }, revision: 3 })
    expect((await rawRequest(port, '/x', as(old))).status).toBe(401)
    expect((await rawRequest(port, '/x', as(fresh))).status).toBe(200)
  })

  it('logs a refused identity once per code per second, then with the number left out; every refusal is counted', async () => {
    let now = Date.now()
    const { port, core, logger } = await sidecar(payments(), { now: () => now })
    const foreign = await key.mint({ subject: ORDERS, audience: spiffe('ledger') })
    for (let i = 0; i < 5; i++) expect((await rawRequest(port, '/x', as(foreign))).status).toBe(401)
    expect((await rawRequest(port, '/x', as('not.a.jwt'))).status).toBe(401)
    const refusedLines = () => logger.lines.filter((l) => l.msg === 'caller identity refused').map((l) => l.obj)
    expect(refusedLines()).toEqual([
      { direction: 'inbound', code: 'ERR_SVID_AUDIENCE', path: '/x' },
      { direction: 'inbound', code: 'ERR_SVID_MALFORMED', path: '/x' },
    ])
    now += 1000
    expect((await rawRequest(port, '/x', as(foreign))).status).toBe(401)
    expect(refusedLines()[2]).toEqual({ direction: 'inbound', code: 'ERR_SVID_AUDIENCE', path: '/x', suppressed: 4 })
    expect(core.metrics.requests.get(['inbound', 'unknown', 'payments', '', '4xx', 'identity-invalid'])).toBe(7)
  })

  it('verifies a known token once, then answers from the cache', async () => {
    const { port, core } = await sidecar(payments())
    const token = await key.mint({ subject: ORDERS, audience: PAYMENTS })
    for (let i = 0; i < 20; i++) expect((await rawRequest(port, '/x', as(token))).status).toBe(200)
    expect(core.stats().callerVerification).toMatchObject({ signatureChecks: 1, hits: 19, cached: 1 })
  })
})

describe('inbound authorization', () => {
  const policies: InboundPolicies = {
    authorization: [
      { name: 'no-shipping', spec: { action: 'DENY', rules: [{ to: { paths: ['/health'] } }, { from: { principals: [spiffe('shipping')] } }] } },
      { name: 'payments-authz', spec: { action: 'ALLOW', rules: [{ from: { principals: [ORDERS] }, to: { methods: ['POST'], paths: ['/charge*'] } }] } },
    ],
  }

  it('denies a listed caller with the DENY policy and rule named', async () => {
    const { port } = await sidecar(payments(policies))
    const r = await rawRequest(port, '/charge', { method: 'POST', ...as(await key.mint({ subject: spiffe('shipping'), audience: PAYMENTS })) })
    expect(r.status).toBe(403)
    expect(r.headers['weft-reason']).toBe('authz-denied')
    expect(JSON.parse(r.body)).toMatchObject({ policy: 'no-shipping', rule: 1, detail: expect.stringContaining('rule 1') })
    expect(appSeen).toHaveLength(0)
  })

  it('denies an unlisted caller (ALLOW policy, default deny) and an anonymous one; allows the listed one', async () => {
    const { port } = await sidecar(payments(policies))
    const ledger = await rawRequest(port, '/charge', { method: 'POST', ...as(await key.mint({ subject: spiffe('ledger'), audience: PAYMENTS })) })
    expect(ledger.status).toBe(403)
    expect(JSON.parse(ledger.body)).toMatchObject({ policy: null, rule: null, detail: expect.stringContaining('"payments-authz"') })
    expect((await rawRequest(port, '/charge', { method: 'POST' })).status).toBe(403)
    const orders = await rawRequest(port, '/charge/1', { method: 'POST', body: 'amount=1', ...as(await key.mint({ subject: ORDERS, audience: PAYMENTS })) })
    expect(orders.status).toBe(200)
    expect(appSeen[0]!.body).toBe('amount=1')
  })

  it('logs dry-run decisions without enforcing them', async () => {
    const { port, logger } = await sidecar(payments({ authorization: [{ name: 'trial', spec: { action: 'DENY', dryRun: true, rules: [{ to: { paths: ['/x'] } }] } }] }))
    expect((await rawRequest(port, '/x')).status).toBe(200)
    expect(logger.lines.some((l) => (l.obj as { policy?: string }).policy === 'trial' && (l.obj as { wouldBe?: string }).wouldBe === 'DENY')).toBe(true)
  })
})

describe('path normalisation against policy bypass', () => {
  const deny: InboundPolicies = { authorization: [{ name: 'no-admin', spec: { action: 'DENY', rules: [{ to: { paths: ['/admin*'] } }] } }] }

  it.each(['/admin', '//admin', '/%61dmin', '/%61%64%6D%69%6E/users', '/./admin', '/x/../admin', '/x/%2e%2e/admin', '/x/.%2E/admin', '///admin//x', '/../admin'])(
    'denies %s (the app never sees it)',
    async (path) => {
      const { port } = await sidecar(payments(deny))
      const r = await rawRequest(port, path)
      expect(r.status).toBe(403)
      expect(r.headers['weft-reason']).toBe('authz-denied')
      expect(JSON.parse(r.body)).toMatchObject({ policy: 'no-admin', rule: 0 })
      expect(appSeen).toHaveLength(0)
    },
  )

  it.each(['/admin%2Fx', '/x%2F..%2Fadmin', '/x%5C..%5Cadmin', '/%zzadmin'])('refuses %s as invalid-path', async (path) => {
    const { port } = await sidecar(payments(deny))
    const r = await rawRequest(port, path)
    expect([r.status, r.headers['weft-reason']]).toEqual([400, 'invalid-path'])
    expect(appSeen).toHaveLength(0)
  })

  it('forwards the normalised path, so the app sees what the policy saw', async () => {
    const { port } = await sidecar(payments(deny))
    const r = await rawRequest(port, '//public/./%7Euser/../docs?q=%2F')
    expect(r.status).toBe(200)
    expect(appSeen[0]!.url).toBe('/public/docs?q=%2F')
  })
})

describe('inbound rate limits and faults', () => {
  it('answers 429 rate-limited with Retry-After and RateLimit headers once the bucket is empty', async () => {
    const { port } = await sidecar(payments({ rateLimits: [{ name: 'payments-rl', spec: { limits: [{ key: 'source', requestsPerUnit: 2, unit: 'minute', burst: 1 }] } }] }))
    const token = await key.mint({ subject: ORDERS, audience: PAYMENTS })
    for (let i = 0; i < 3; i++) expect((await rawRequest(port, '/x', as(token))).status).toBe(200)
    const r = await rawRequest(port, '/x', as(token))
    expect(r.status).toBe(429)
    expect(r.headers['weft-reason']).toBe('rate-limited')
    expect(r.headers['ratelimit-limit']).toBe('3')
    expect(r.headers['ratelimit-remaining']).toBe('0')
    expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1)
    expect(Number(r.headers['retry-after'])).toBeLessThanOrEqual(30)
    expect(Number(r.headers['ratelimit-reset'])).toBeGreaterThanOrEqual(Number(r.headers['retry-after']))
    expect(JSON.parse(r.body)).toMatchObject({ policy: 'payments-rl', rule: 0, detail: expect.stringContaining(ORDERS) })
    // Another caller has its own bucket; an anonymous one shares "anonymous".
    expect((await rawRequest(port, '/x', as(await key.mint({ subject: spiffe('ledger'), audience: PAYMENTS })))).status).toBe(200)
    expect(appSeen).toHaveLength(4)
  })

  it('injects an abort with the FaultPolicy status and name, and a delay', async () => {
    const { port } = await sidecar(
      payments({
        faults: [
          { name: 'chaos-abort', spec: { match: { path: { type: 'PathPrefix', value: '/abort' } }, abort: { percent: 100, httpStatus: 418 } } },
          { name: 'chaos-delay', spec: { match: { path: { type: 'PathPrefix', value: '/slow' } }, delay: { percent: 100, fixedDelay: '150ms' } } },
        ],
      }),
    )
    const aborted = await rawRequest(port, '/abort')
    expect([aborted.status, aborted.headers['weft-reason']]).toEqual([418, 'fault-abort'])
    expect(JSON.parse(aborted.body)).toMatchObject({ policy: 'chaos-abort', status: 418 })
    const t0 = Date.now()
    expect((await rawRequest(port, '/slow')).status).toBe(200)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140)
  })

  it('answers connect-failure when the app is down, and counts inbound metrics by caller', async () => {
    const { port, core } = await sidecar(payments(), { app: fetchApp(REFUSED_PORT) })
    const r = await rawRequest(port, '/x', as(await key.mint({ subject: ORDERS, audience: PAYMENTS })))
    expect([r.status, r.headers['weft-reason']]).toEqual([503, 'connect-failure'])
    expect(core.metrics.render()).toContain('weft_requests_total{direction="inbound",source="orders",destination="payments",route="",status_class="5xx",reason="connect-failure"} 1')
  })
})

describe('createProxyCore', () => {
  it('validates its dependencies at construction', () => {
    const ok = { snapshot: () => null, upstream: fetchUpstream, app: fetchApp(1), identity: { tokenFor: async () => '' }, logger: memoryLogger() }
    expect(() => createProxyCore({ ...ok, upstream: undefined as never })).toThrow(/deps.upstream/)
    expect(() => createProxyCore({ ...ok, identity: {} as never })).toThrow(/tokenFor/)
    expect(() => createProxyCore({ ...ok, logger: { info: () => {} } as never })).toThrow(/logger/)
    expect(() => createProxyCore({ ...ok, limits: { maxReplayBodyBytes: -1 } })).toThrow(RangeError)
    expect(() => createProxyCore(ok)).not.toThrow()
  })
})
