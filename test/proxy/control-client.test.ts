// The proxy's control-plane client against a real control API: in-process app, a real port, a real database.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import type { Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { serve } from '@hono/node-server'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createControlClient, type ControlClient, type ControlClientOptions, ControlRequestFailed, MemorySnapshotStore } from '../../edge-proxy/src/control'
import { FileSnapshotStore } from '../../edge-proxy/src/control/file-snapshot-store'
import { createSvidVerifier, JwksCache, SvidAudienceMismatch } from '../../mesh/src/identity'
import { backends } from '../support/databases'
import { startHarness, type Harness } from '../support/harness'

type Sent = { method: string; path: string; bearer: string; body: string | undefined; headers: Headers }

/** Polls a probe until it returns something other than undefined, null or false. */
async function eventually<T>(probe: () => T | undefined | null | false | Promise<T | undefined | null | false>, ms = 15_000, what = 'condition'): Promise<T> {
  const until = Date.now() + ms
  for (;;) {
    const v = await probe()
    if (v !== undefined && v !== null && v !== false) return v
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

function testLogger() {
  const lines: { level: string; msg?: string; [k: string]: unknown }[] = []
  const at = (level: string) => (obj: object, msg?: string) => lines.push({ level, msg, ...obj })
  return { lines, logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } }
}

describe.each(backends)('the proxy control client against a live control API on $name', (backend) => {
  let h: Harness
  let server: Server
  let port: number
  let url: string
  let key: string
  const clients: ControlClient[] = []
  const dirs: string[] = []

  const listen = (p: number) =>
    new Promise<Server>((resolve) => {
      const s = serve({ fetch: h.app.fetch, port: p, hostname: '127.0.0.1' }, () => resolve(s as Server)) as Server
    })
  const stopServer = async () => {
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
  }

  async function joinToken(service: string, adminKey = key, maxUses = 1): Promise<{ secret: string; id: string }> {
    const r = await h.request('POST', `/v1/services/${service}/join-tokens`, { key: adminKey, body: { maxUses } })
    expect(r.status).toBe(201)
    return { secret: r.body.secret, id: r.body.id }
  }

  async function setPolicy(name: string, service = 'orders', adminKey = key): Promise<number> {
    const body = { kind: 'AuthorizationPolicy', name, targetRef: { service }, spec: { rules: [{ from: { principals: [`spiffe://ctl.weft/svc/${name.length % 2 ? 'payments' : 'ledger'}`] } }] } }
    const r = await h.request('PUT', `/v1/policies/${name}`, { key: adminKey, body })
    expect([200, 201]).toContain(r.status)
    return Number(r.headers.get('weft-revision') ?? (await h.request('GET', '/v1/tenant', { key: adminKey })).body.revision)
  }

  /** A fetch that records what the client sends: instrumentation, not a mock; every request reaches the API. */
  function recordingFetch() {
    const sent: Sent[] = []
    const f = async (input: string | URL | Request, init?: RequestInit) => {
      const u = new URL(String(input))
      const headers = new Headers(init?.headers)
      sent.push({ method: init?.method ?? 'GET', path: u.pathname + u.search, bearer: (headers.get('authorization') ?? '').replace(/^Bearer /, ''), body: init?.body as string | undefined, headers })
      return fetch(input, init)
    }
    return { sent, fetch: f }
  }

  function client(opts: Partial<ControlClientOptions> & { joinToken?: string }) {
    const c = createControlClient({
      controlUrl: url,
      service: 'orders',
      runtime: 'node',
      logger: testLogger().logger,
      backoff: { initialMs: 50, maxMs: 300 },
      ...opts,
    })
    clients.push(c)
    return c
  }

  beforeAll(async () => {
    h = await startHarness(backend)
    server = await listen(0)
    port = (server.address() as { port: number }).port
    url = `http://127.0.0.1:${port}`
    key = (await h.onboard('ctl')).adminKey
    for (const name of ['orders', 'payments', 'ledger']) await h.request('POST', '/v1/services', { key, body: { name, port: 8080 } })
  })
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.stop()))
    // The next test counts parked polls: let the server see these ones end.
    await eventually(() => h.revisions.waiting() === 0, 5_000, 'long polls to end')
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
    if (!server.listening) server = await listen(port)
  })
  afterAll(async () => {
    await stopServer()
    await h.close()
  })

  it('bootstraps from a join token, watches, and acknowledges the revision it applied', async () => {
    const jt = await joinToken('orders')
    const c = client({ joinToken: jt.secret, labels: { version: 'v1', zone: 'a' } })
    const seen: number[] = []
    c.onSnapshot((s) => void seen.push(s.revision))
    expect(c.status().state).toBe('idle')
    await c.start()
    const snap = await c.waitForSnapshot({ timeoutMs: 5_000 })
    expect(snap).toMatchObject({ schema: 'weft.snapshot/v1', service: { name: 'orders', spiffeId: 'spiffe://ctl.weft/svc/orders' } })
    expect(seen).toEqual([snap.revision])
    const st = c.status()
    expect(st).toMatchObject({ state: 'ready', bootstrapped: true, service: 'orders', runtime: 'node', appliedRevision: snap.revision })
    expect(st.identity).toMatchObject({ spiffeId: 'spiffe://ctl.weft/svc/orders', source: 'join-token' })
    expect(st.snapshot).toMatchObject({ revision: snap.revision, source: 'control' })
    expect(st.lastPollAt).not.toBeNull()

    // The acknowledgement headers ride on the next poll; GET /v1/proxies shows them.
    const proxy = await eventually(async () => {
      const r = await h.request('GET', '/v1/proxies?service=orders', { key })
      return r.body.items.find((p: any) => p.id === c.proxyId && p.appliedRevision === snap.revision)
    })
    expect(proxy).toMatchObject({ service: 'orders', runtime: 'node', labels: { version: 'v1', zone: 'a' }, live: true })
  })

  it('a policy change reaches the client within a second, and the convergence API sees it applied', async () => {
    const { sent, fetch } = recordingFetch()
    const c = client({ joinToken: (await joinToken('orders')).secret, fetch })
    await c.start()
    await c.waitForSnapshot({ timeoutMs: 5_000 })
    // Wait until the client's long poll is parked on the control API.
    await eventually(() => h.revisions.waiting() > 0, 5_000, 'a parked long poll')
    const poll = sent.filter((s) => s.path.startsWith('/v1/proxy/config')).at(-1)!
    expect(poll.path).toBe('/v1/proxy/config?service=orders&wait=30')
    expect(poll.headers.get('if-none-match')).toBe(c.status().snapshot!.etag)
    expect(poll.headers.get('weft-proxy-id')).toBe(c.proxyId)
    expect(poll.headers.get('weft-proxy-runtime')).toBe('node')
    expect(poll.headers.get('weft-applied-revision')).toBe(String(c.status().appliedRevision))

    const arrived = new Promise<number>((resolve) => c.onSnapshot(() => resolve(Date.now())))
    const t0 = Date.now()
    const revision = await setPolicy('orders-authz-fast')
    const at = await arrived
    expect(at - t0).toBeLessThan(1_000)
    expect(c.snapshot()!.revision).toBe(revision)
    expect(c.snapshot()!.inbound.authorization.map((p) => p.name)).toContain('orders-authz-fast')
    const conv = await eventually(async () => {
      const r = await h.request('GET', `/v1/revisions/${revision}/convergence`, { key })
      return r.body.proxies?.find((p: any) => p.id === c.proxyId && p.applied)
    })
    expect(conv.latencyMs).not.toBeNull()
  })

  it('schedules the refresh at about 2/3 of a 60 s lifetime and refreshes without the join token', async () => {
    const other = await h.onboard('ctl-ttl')
    expect((await h.request('PATCH', '/v1/tenant', { key: other.adminKey, body: { tokenTtlSeconds: 60 } })).status).toBe(200)
    await h.request('POST', '/v1/services', { key: other.adminKey, body: { name: 'orders' } })
    const jt = await joinToken('orders', other.adminKey)
    const { sent, fetch } = recordingFetch()
    const c = client({ joinToken: jt.secret, fetch, random: () => 0.5 })
    await c.start()
    await c.waitForSnapshot({ timeoutMs: 5_000 })
    const id = c.status().identity!
    const issued = Date.parse(id.issuedAt)
    expect(Date.parse(id.expiresAt) - issued).toBe(60_000)
    expect(Date.parse(id.refreshAt!) - issued).toBe(40_000)

    const before = await c.controlToken()
    await c.refreshIdentity()
    const after = await c.controlToken()
    expect(after).not.toBe(before)
    expect(c.status().identity).toMatchObject({ source: 'refresh', workloadId: id.workloadId })
    const exchanges = sent.filter((s) => s.bearer.startsWith('wfj_'))
    const refreshes = sent.filter((s) => s.path === '/v1/identity/token' && s.bearer === before)
    expect(exchanges).toHaveLength(1)
    expect(refreshes).toHaveLength(1)
    // The new token works for the watch: a change still arrives.
    const next = new Promise((r) => c.onSnapshot(r))
    await h.request('POST', '/v1/policies', {
      key: other.adminKey,
      body: { kind: 'AuthorizationPolicy', name: 'a', targetRef: { service: 'orders' }, spec: { rules: [] } },
    })
    await next
  })

  it('the refresh timer fires at the refresh point: a persisted identity 2/3 through its life is refreshed at start', async () => {
    const store = new MemorySnapshotStore()
    const first = client({ joinToken: (await joinToken('orders')).secret, store })
    await first.start()
    await first.waitForSnapshot({ timeoutMs: 5_000 })
    await first.stop()
    const saved = (await store.loadIdentity())!
    // The same token, as if obtained 11 of its 15 minutes ago.
    await store.saveIdentity({ ...saved, issuedAt: saved.issuedAt - 660_000, expiresAt: saved.expiresAt - 660_000 })
    const { sent, fetch } = recordingFetch()
    // No jitter: the refresh point is exactly 2/3 of the lifetime (10 minutes), already passed. (With jitter it
    // could fall up to half a minute later, past this test's wait.)
    const second = client({ store, fetch, random: () => 0.5 })
    await second.start()
    expect(second.status().identity!.source).toBe('store')
    await eventually(() => second.status().identity?.source === 'refresh', 20_000, 'the scheduled refresh')
    expect(sent.filter((s) => s.path === '/v1/identity/token' && s.bearer === saved.token)).toHaveLength(1)
    const refreshed = second.status().identity!
    expect(Date.parse(refreshed.expiresAt) - Date.parse(refreshed.issuedAt)).toBe(900_000)
    const current = await second.controlToken()
    await eventually(async () => (await store.loadIdentity())?.token === current, 10_000, 'the refreshed identity to be persisted')
  })

  it('without timers (the Worker), refreshes lazily once 2/3 of the lifetime has passed on its clock', async () => {
    let skew = 0
    const { sent, fetch } = recordingFetch()
    const c = client({ joinToken: (await joinToken('orders')).secret, fetch, now: () => Date.now() + skew, random: () => 0.5 })
    expect(await c.syncOnce()).toBe(true) // no start(): joins, polls once without waiting
    expect(await c.syncOnce()).toBe(false) // 304
    const first = await c.controlToken()
    const tokenPosts = () => sent.filter((s) => s.path === '/v1/identity/token').length
    expect(tokenPosts()).toBe(1)
    skew = 601_000 // past 2/3 of the default 15 min: handed out, refreshed behind
    expect(await c.controlToken()).toBe(first)
    await eventually(() => c.status().identity?.source === 'refresh')
    expect(tokenPosts()).toBe(2)
    skew += 900_000 // the refreshed one is past expiry too: this call waits for a new one
    const third = await c.controlToken()
    expect(third).not.toBe(first)
    expect(tokenPosts()).toBe(3)
    expect(sent.filter((s) => s.bearer.startsWith('wfj_'))).toHaveLength(1)
  })

  it('tokenFor mints once per audience, shares concurrent mints, and the token verifies only for that callee', async () => {
    const { sent, fetch } = recordingFetch()
    const c = client({ joinToken: (await joinToken('orders')).secret, fetch })
    await c.start()
    const snap = await c.waitForSnapshot({ timeoutMs: 5_000 })
    const mints = () => sent.filter((s) => s.path === '/v1/identity/token' && s.body?.includes('audience'))
    const payments = 'spiffe://ctl.weft/svc/payments'
    const ledger = 'spiffe://ctl.weft/svc/ledger'

    const many = await Promise.all(Array.from({ length: 20 }, () => c.tokenFor(payments)))
    expect(new Set(many).size).toBe(1)
    expect(mints()).toHaveLength(1)
    expect(await c.tokenFor(payments)).toBe(many[0])
    const forLedger = await c.tokenFor(ledger)
    expect(forLedger).not.toBe(many[0])
    expect(mints()).toHaveLength(2)
    expect(c.status().audienceTokens).toMatchObject({ cached: 2, mints: 2 })

    const verifierFor = (audience: string) =>
      createSvidVerifier({ trustDomain: 'ctl.weft', issuer: snap.issuer, audience, jwks: new JwksCache({ jwks: snap.jwks as any }), now: () => h.clock.now().getTime() })
    expect(await verifierFor(payments).verify(many[0]!)).toMatchObject({ spiffeId: 'spiffe://ctl.weft/svc/orders', service: 'orders' })
    await expect(verifierFor(ledger).verify(many[0]!)).rejects.toBeInstanceOf(SvidAudienceMismatch)
    await expect(verifierFor(payments).verify(forLedger)).rejects.toBeInstanceOf(SvidAudienceMismatch)

    const err = await c.tokenFor('spiffe://ctl.weft/svc/nope').catch((e) => e)
    expect(err).toBeInstanceOf(ControlRequestFailed)
    expect(err.status).toBe(400)
  })

  it('keeps its snapshot while the control API is down and recovers when it comes back on the same port', async () => {
    const { logger, lines } = testLogger()
    const c = client({ joinToken: (await joinToken('orders')).secret, logger })
    await c.start()
    const before = await c.waitForSnapshot({ timeoutMs: 5_000 })
    await eventually(() => h.revisions.waiting() > 0, 5_000, 'a parked long poll')

    await stopServer()
    await eventually(() => c.status().consecutiveFailures >= 2, 5_000, 'failed polls')
    const down = c.status()
    expect(down.state).toBe('degraded')
    expect(down.lastError).toMatchObject({ op: 'poll', code: 'ERR_CONTROL_UNREACHABLE' })
    expect(c.snapshot()).toBe(before)
    expect(lines.some((l) => l.level === 'warn' && /serving the last good snapshot/.test(l.msg ?? ''))).toBe(true)

    const revision = await setPolicy('while-down') // written while the proxy cannot see the API
    server = await listen(port)
    await eventually(() => (c.snapshot()!.revision >= revision ? true : undefined), 5_000, 'the new revision')
    expect(c.status()).toMatchObject({ state: 'ready', consecutiveFailures: 0 })
    expect(c.snapshot()!.inbound.authorization.map((p) => p.name)).toContain('while-down')
    expect(lines.some((l) => l.msg === 'the control API answers again')).toBe(true)
  })

  it('restarted with the control API down, serves the persisted snapshot at once, then resumes without joining again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-ctl-'))
    dirs.push(dir)
    const jt = await joinToken('orders') // single use
    const first = client({ joinToken: jt.secret, store: new FileSnapshotStore(dir) })
    await first.start()
    const snap = await first.waitForSnapshot({ timeoutMs: 5_000 })
    await first.stop()

    await stopServer()
    const { sent, fetch } = recordingFetch()
    const second = client({ joinToken: jt.secret, store: new FileSnapshotStore(dir), fetch })
    await second.start()
    // No network round trip has succeeded, yet the proxy has its config.
    expect(second.snapshot()).toEqual(snap)
    expect(second.status()).toMatchObject({ snapshot: { revision: snap.revision, source: 'store' }, appliedRevision: snap.revision, identity: { source: 'store' } })
    await eventually(() => second.status().state === 'degraded')

    server = await listen(port)
    await eventually(() => second.status().state === 'ready', 5_000, 'recovery')
    expect(second.snapshot()!.revision).toBeGreaterThanOrEqual(snap.revision)
    expect(second.status().snapshot!.source).toBe('store') // same ETag: 304, nothing new to fetch
    expect(sent.filter((s) => s.bearer.startsWith('wfj_'))).toHaveLength(0)
    const tokens = await h.request('GET', '/v1/services/orders/join-tokens', { key })
    expect(tokens.body.items.find((t: any) => t.id === jt.id).uses).toBe(1)
  })

  it('restarted with the control API down, calls out with its persisted audience token; a corrupt token file is ignored', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-ctl-'))
    dirs.push(dir)
    const jt = await joinToken('orders')
    const payments = 'spiffe://ctl.weft/svc/payments'
    const first = client({ joinToken: jt.secret, store: new FileSnapshotStore(dir) })
    await first.start()
    await first.waitForSnapshot({ timeoutMs: 5_000 })
    const minted = await first.tokenFor(payments)
    await first.stop() // flushes the coalesced write

    await stopServer()
    const { logger, lines } = testLogger()
    const second = client({ joinToken: jt.secret, store: new FileSnapshotStore(dir), logger })
    await second.start()
    expect(await second.tokenFor(payments)).toBe(minted)
    expect(second.status().audienceTokens).toMatchObject({ cached: 1, mints: 0, hits: 1 })
    expect(lines.find((l) => l.msg === 'resuming with the persisted audience tokens')).toMatchObject({ loaded: 1, discarded: 0 })
    // A callee it never called before still needs the control API.
    await expect(second.tokenFor('spiffe://ctl.weft/svc/ledger')).rejects.toMatchObject({ code: 'ERR_CONTROL_UNREACHABLE' })
    await second.stop()

    writeFileSync(join(dir, 'audience-tokens.json'), '{"format":"weft.state-file/v1","tokens":[{')
    const third = testLogger()
    const c = client({ joinToken: jt.secret, store: new FileSnapshotStore(dir), logger: third.logger })
    await c.start()
    expect(c.snapshot()).not.toBeNull() // the snapshot and identity still load
    expect(third.lines.some((l) => l.level === 'warn' && l.msg === 'the persisted audience tokens could not be read; starting without them')).toBe(true)
    await expect(c.tokenFor(payments)).rejects.toMatchObject({ code: 'ERR_CONTROL_UNREACHABLE' })
  })

  it('registers its endpoint, heartbeats every ttl/3, registers again after a 404, and deregisters', async () => {
    const { sent, fetch } = recordingFetch()
    const c = client({ joinToken: (await joinToken('orders')).secret, fetch })
    await c.start()
    const listed = async () => (await h.request('GET', '/v1/services/orders/endpoints', { key })).body.items as any[]

    const reg = await c.registerEndpoint({ address: '127.0.0.1', port: 15006, zone: 'z1', labels: { version: 'v1' }, weight: 50, ttlSeconds: 6 })
    expect(await listed()).toEqual([expect.objectContaining({ id: reg.id, address: '127.0.0.1', port: 15006, zone: 'z1', labels: { version: 'v1' }, weight: 50, ttlSeconds: 6 })])
    const beats = () => sent.filter((s) => s.path.endsWith('/heartbeat'))
    const t0 = Date.now()
    await eventually(() => c.status().endpoint?.lastHeartbeatAt, 4_000, 'a heartbeat')
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1_500) // every 2 s for a 6 s TTL
    expect(beats()).toHaveLength(1)
    expect(beats()[0]!.path).toBe(`/v1/services/orders/endpoints/${reg.id}/heartbeat`)

    // Deleted behind its back (an operator, a cleanup): the next heartbeat gets 404 and registers again.
    expect((await h.request('DELETE', `/v1/services/orders/endpoints/${reg.id}`, { key })).status).toBe(204)
    const again = await eventually(async () => (await listed()).find((e) => e.id !== reg.id), 5_000, 're-registration')
    expect(again).toMatchObject({ address: '127.0.0.1', port: 15006, labels: { version: 'v1' } })
    await eventually(() => c.status().endpoint?.id === again.id, 2_000, 'the client to hold the new id')

    await c.setEndpointHealth('draining')
    expect((await listed())[0].health).toBe('draining')
    await c.deregister()
    expect(await listed()).toEqual([])
    expect(c.status().endpoint).toBeNull()
  })

  it('a single-use join token is exchanged exactly once, however many callers race at start', async () => {
    const jt = await joinToken('orders')
    const { sent, fetch } = recordingFetch()
    const c = client({ joinToken: jt.secret, fetch, store: new MemorySnapshotStore() })
    await Promise.all([
      c.start(),
      c.controlToken(),
      c.tokenFor('spiffe://ctl.weft/svc/payments'),
      c.registerEndpoint({ address: '127.0.0.1', port: 15007, labels: {}, ttlSeconds: 30 }),
      c.waitForSnapshot({ timeoutMs: 5_000 }),
    ])
    await c.refreshIdentity()
    await c.refreshIdentity()
    expect(sent.filter((s) => s.bearer === jt.secret)).toHaveLength(1)
    const tokens = await h.request('GET', '/v1/services/orders/join-tokens', { key })
    expect(tokens.body.items.find((t: any) => t.id === jt.id).uses).toBe(1)
    await c.deregister()

    // A second proxy given the same spent token reports it clearly and does not hammer the API with it.
    const { sent: sent2, fetch: fetch2 } = recordingFetch()
    const { logger, lines } = testLogger()
    const d = client({ joinToken: jt.secret, fetch: fetch2, logger })
    await d.start()
    await eventually(() => d.status().state === 'unauthorized', 5_000, 'unauthorized')
    await new Promise((r) => setTimeout(r, 300)) // several poll retries
    expect(sent2.filter((s) => s.bearer === jt.secret)).toHaveLength(1)
    expect(d.status()).toMatchObject({ bootstrapped: false, lastError: { op: 'bootstrap', code: 'ERR_CONTROL_IDENTITY_REFUSED', status: 401 } })
    expect(d.status().lastError!.message).toMatch(/used 1 of 1/)
    expect(lines.some((l) => l.level === 'error' && /join token was refused/.test(l.msg ?? ''))).toBe(true)
    await expect(d.tokenFor('spiffe://ctl.weft/svc/payments')).rejects.toMatchObject({ status: 401 })
  })

  it('a lost answer to the join exchange is retried with the same Idempotency-Key: same workload, one use of a single-use token', async () => {
    const jt = await joinToken('orders')
    const { sent, fetch: recording } = recordingFetch()
    let lost = 0
    // The control API commits the first exchange, then its answer is lost on the way back (a reset connection).
    const lossy = async (input: string | URL | Request, init?: RequestInit) => {
      const res = await recording(input, init)
      if (lost === 0 && new URL(String(input)).pathname === '/v1/identity/token') {
        lost++
        await res.arrayBuffer()
        throw new TypeError('fetch failed', { cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) })
      }
      return res
    }
    const c = client({ joinToken: jt.secret, fetch: lossy, store: new MemorySnapshotStore() })
    await c.start()
    await c.waitForSnapshot({ timeoutMs: 10_000 })
    const exchanges = sent.filter((x) => x.bearer === jt.secret)
    expect(exchanges).toHaveLength(2)
    const keys = exchanges.map((x) => x.headers.get('idempotency-key'))
    expect(keys[0]).toMatch(/^join-[0-9a-f-]{36}$/)
    expect(keys[1]).toBe(keys[0])
    const tokens = await h.request('GET', '/v1/services/orders/join-tokens', { key })
    expect(tokens.body.items.find((t: any) => t.id === jt.id).uses).toBe(1)
    const workloads = (await h.request('GET', '/v1/workloads', { key })).body.items.filter((w: any) => w.id === c.status().identity?.workloadId)
    expect(workloads).toHaveLength(1)
    // Refreshes carry no key: they are not exchanges.
    await c.refreshIdentity()
    expect(sent.filter((x) => x.path === '/v1/identity/token' && x.bearer !== jt.secret).every((x) => x.headers.get('idempotency-key') === null)).toBe(true)
  })

  it('a revoked workload is reported as unauthorized and keeps serving its last snapshot', async () => {
    const { logger, lines } = testLogger()
    const c = client({ joinToken: (await joinToken('orders')).secret, logger })
    await c.start()
    await c.waitForSnapshot({ timeoutMs: 5_000 })
    const workloadId = c.status().identity!.workloadId
    await eventually(() => h.revisions.waiting() > 0, 5_000, 'a parked long poll')
    expect((await h.request('POST', `/v1/workloads/${workloadId}/revoke`, { key, body: { reason: 'test' } })).status).toBe(200)
    // The parked poll returns the revision that lists the revocation; the next one is refused.
    await eventually(() => c.status().state === 'unauthorized', 5_000, 'unauthorized')
    const st = c.status()
    expect(st.bootstrapped).toBe(false)
    expect(st.lastError).toMatchObject({ code: 'ERR_CONTROL_IDENTITY_REFUSED', status: 401 })
    expect(st.lastError!.message).toMatch(/revoked/)
    expect(c.snapshot()!.revokedWorkloads).toContain(workloadId)
    expect(lines.some((l) => l.level === 'error' && /restarted with a new join token/.test(l.msg ?? ''))).toBe(true)
  })

  it('refuses a persisted snapshot of another service and fetches its own', async () => {
    const payments = await h.request('GET', '/v1/proxy/config?service=payments', { key })
    const store = new MemorySnapshotStore({ snapshot: { etag: payments.headers.get('etag')!, body: payments.text } })
    const c = client({ joinToken: (await joinToken('orders')).secret, store })
    await c.start()
    expect(c.snapshot()).toBeNull()
    expect(c.status().lastError).toMatchObject({ op: 'load', code: 'ERR_CONTROL_INVALID_SNAPSHOT' })
    expect((await c.waitForSnapshot({ timeoutMs: 5_000 })).service.name).toBe('orders')
    await eventually(() => store.saves === 1)
    expect(JSON.parse((await store.load())!.body).service.name).toBe('orders')
  })

  it('a draining sidecar can stop watching first and deregister last', async () => {
    const c = client({ joinToken: (await joinToken('orders')).secret })
    await c.start()
    const reg = await c.registerEndpoint({ address: '127.0.0.1', port: 15008, labels: {}, ttlSeconds: 30 })
    await c.setEndpointHealth('draining')
    await c.stop()
    await c.deregister()
    const r = await h.request('GET', `/v1/services/orders/endpoints/${reg.id}`, { key })
    expect(r.status).toBe(404)
  })

  it('says so clearly when the join token belongs to another service', async () => {
    const { logger, lines } = testLogger()
    const c = client({ joinToken: (await joinToken('payments')).secret, logger })
    await c.start()
    await eventually(() => c.status().state === 'unauthorized', 5_000, 'unauthorized')
    expect(c.status().lastError).toMatchObject({ op: 'bootstrap', code: 'ERR_CONTROL_IDENTITY_MISMATCH' })
    expect(c.status().lastError!.message).toMatch(/spiffe:\/\/ctl\.weft\/svc\/payments.*"orders"/)
    expect(lines.some((l) => l.level === 'error' && /another service/.test(l.msg ?? ''))).toBe(true)
  })

  it('stop() ends the watch at once, aborting the parked long poll', async () => {
    const c = client({ joinToken: (await joinToken('orders')).secret })
    await c.start()
    await c.waitForSnapshot({ timeoutMs: 5_000 })
    await eventually(() => h.revisions.waiting() > 0, 5_000, 'a parked long poll')
    const t0 = Date.now()
    await c.stop()
    expect(Date.now() - t0).toBeLessThan(500)
    expect(c.status().state).toBe('stopped')
    await eventually(() => h.revisions.waiting() === 0, 5_000, 'the server to see the abort')
    await expect(c.tokenFor('spiffe://ctl.weft/svc/payments')).rejects.toMatchObject({ code: 'ERR_CONTROL_STOPPED' })
  })
  // Last in the file: it moves the control API's clock 20 minutes on.
  it('restarted after its identity expired (an outage longer than the token), renews it without a join token', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-ctl-'))
    dirs.push(dir)
    const jt = await joinToken('orders') // single use: spent by the first start
    const first = client({ joinToken: jt.secret, store: new FileSnapshotStore(dir) })
    await first.start()
    await first.waitForSnapshot({ timeoutMs: 5_000 })
    await first.stop()
    const stored = await eventually(() => new FileSnapshotStore(dir).loadIdentity(), 5_000, 'the identity to be persisted')

    // Twenty minutes later on both clocks: the persisted 15-minute token has expired.
    const skew = 20 * 60_000
    h.clock.advance(skew)
    const { sent, fetch } = recordingFetch()
    const second = client({ joinToken: jt.secret, store: new FileSnapshotStore(dir), fetch, now: () => Date.now() + skew })
    await second.start()
    // It may report ready from the persisted snapshot before the renewal is through: wait for the renewal itself.
    await eventually(() => second.status().identity?.source === 'refresh', 10_000, 'the expired identity to be renewed')
    await eventually(() => second.status().state === 'ready', 10_000, 'ready after renewal')
    const renewal = sent.find((x) => x.path === '/v1/identity/token')!
    expect(renewal.bearer).toBe(stored!.token)
    expect(sent.filter((x) => x.bearer.startsWith('wfj_'))).toHaveLength(0)
    const renewed = await eventually(async () => {
      const r = await new FileSnapshotStore(dir).loadIdentity()
      return r && r.token !== stored!.token ? r : null
    }, 5_000, 'the renewed identity to be persisted')
    expect(renewed!.workloadId).toBe(stored!.workloadId)
    expect(renewed!.expiresAt).toBeGreaterThan(Date.now() + skew)
  })
})
