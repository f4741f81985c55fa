// The Worker's control client against a real control API (in-process app, real database). workerd itself is
// exercised in test/e2e/worker-proxy.test.ts; here the rules that make it safe there: concurrent requests of an
// isolate share results through plain data (one join, one poll, one mint), what is due runs in the request's
// waitUntil, the cached snapshot serves while the control API is down, and the endpoint is kept registered.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type TextKeyValue, KeyValueSnapshotStore } from '../../edge-proxy/src/control/key-value-snapshot-store'
import { createWorkerControl, type WorkerControlOptions } from '../../edge-proxy/src/control/worker-control'
import { backends } from '../support/databases'
import { startHarness, type Harness } from '../support/harness'

const silent = { debug() {}, info() {}, warn() {}, error() {} }

/** A TextKeyValue over a Map: the part of the Cache API / KV the store uses, for a Node test. */
function memoryKv(): TextKeyValue & { map: Map<string, string> } {
  const map = new Map<string, string>()
  return { map, get: async (k) => map.get(k) ?? null, put: async (k, v) => void map.set(k, v) }
}

describe('the Worker control client against a live control API', () => {
  let h: Harness
  let key: string
  const sent: { method: string; path: string; bearer: string }[] = []
  // Instrumentation, not a mock: every request reaches the control API's app.
  const appFetch = async (input: string | URL | Request, init?: RequestInit) => {
    const req = new Request(input, init)
    const u = new URL(req.url)
    sent.push({ method: req.method, path: u.pathname + u.search, bearer: (req.headers.get('authorization') ?? '').replace(/^Bearer /, '') })
    return h.app.fetch(req)
  }
  const joinToken = async (maxUses = 1) => (await h.request('POST', '/v1/services/orders/join-tokens', { key, body: { maxUses } })).body.secret as string
  const base = (token: string, more: Partial<WorkerControlOptions> = {}): WorkerControlOptions => ({
    controlUrl: 'http://control.test',
    service: 'orders',
    joinToken: token,
    logger: silent,
    fetch: appFetch,
    ...more,
  })

  beforeAll(async () => {
    h = await startHarness(backends[0]!)
    key = (await h.onboard('wc')).adminKey
    for (const name of ['orders', 'payments']) expect((await h.request('POST', '/v1/services', { key, body: { name } })).status).toBe(201)
  })
  afterAll(async () => {
    await h?.close()
  })

  it('concurrent first requests join once with a single-use token, poll once, and all see the snapshot', async () => {
    const token = await joinToken(1)
    const control = createWorkerControl(base(token))
    sent.length = 0
    const background: Promise<unknown>[] = []
    await Promise.all(Array.from({ length: 8 }, () => control.prepare((p) => background.push(p))))
    await Promise.all(background)
    expect(control.snapshot()?.service.name).toBe('orders')
    expect(sent.filter((s) => s.bearer === token)).toHaveLength(1)
    expect(sent.filter((s) => s.path.startsWith('/v1/proxy/config'))).toHaveLength(1)
    expect(control.status()).toEqual(expect.objectContaining({ consecutiveFailures: 0, identity: expect.objectContaining({ spiffeId: 'spiffe://wc.weft/svc/orders' }) }))
  })

  it('an isolate whose join answer was lost retries it with the same Idempotency-Key and gets the same workload', async () => {
    const token = await joinToken(1)
    const keys: (string | null)[] = []
    let lost = false
    const lossy = async (input: string | URL | Request, init?: RequestInit) => {
      const req = new Request(input, init)
      const res = await appFetch(req)
      if (new URL(req.url).pathname === '/v1/identity/token' && req.headers.get('authorization') === `Bearer ${token}`) {
        keys.push(req.headers.get('idempotency-key'))
        if (!lost) {
          lost = true
          await res.arrayBuffer()
          throw new TypeError('fetch failed', { cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) })
        }
      }
      return res
    }
    const control = createWorkerControl(base(token, { fetch: lossy }))
    await control.prepare(() => {}).catch(() => {})
    await expect(control.tokenFor('spiffe://wc.weft/svc/payments')).resolves.toMatch(/^ey/)
    expect(keys).toHaveLength(2)
    expect(keys[0]).toMatch(/^join-/)
    expect(keys[1]).toBe(keys[0])
    const items = (await h.request('GET', '/v1/services/orders/join-tokens', { key })).body.items
    expect(items.filter((t: any) => t.maxUses === 1 && t.uses === 1).length).toBeGreaterThan(0)
    expect(items.every((t: any) => t.uses <= t.maxUses)).toBe(true)
  })

  it('syncs in waitUntil once the snapshot is older than the interval, and acknowledges the applied revision', async () => {
    let t = Date.now()
    const control = createWorkerControl(base(await joinToken(), { now: () => t, syncIntervalMs: 1000 }))
    await control.prepare(() => {})
    const first = control.snapshot()!.revision
    const put = await h.request('PUT', '/v1/policies/orders-authz', {
      key,
      body: { kind: 'AuthorizationPolicy', name: 'orders-authz', targetRef: { service: 'orders' }, spec: { rules: [{ from: { principals: ['spiffe://wc.weft/svc/payments'] } }] } },
    })
    expect(put.status).toBeLessThan(300)
    const later: Promise<unknown>[] = []
    await control.prepare((p) => later.push(p))
    expect(later).toHaveLength(0) // not due yet
    t += 1001
    await control.prepare((p) => later.push(p))
    expect(later.length).toBeGreaterThan(0)
    await Promise.all(later)
    expect(control.snapshot()!.revision).toBeGreaterThan(first)
    expect(control.status().appliedRevision).toBe(control.snapshot()!.revision)
  })

  it('shares one mint among concurrent callers of tokenFor', async () => {
    const control = createWorkerControl(base(await joinToken()))
    await control.prepare(() => {})
    sent.length = 0
    const tokens = await Promise.all(Array.from({ length: 5 }, () => control.tokenFor('spiffe://wc.weft/svc/payments')))
    expect(new Set(tokens).size).toBe(1)
    expect(sent.filter((s) => s.path === '/v1/identity/token')).toHaveLength(1)
    await expect(control.tokenFor('not-a-spiffe-id')).rejects.toThrow(/not a SPIFFE ID/)
  })

  it('a new isolate serves from the store while the control API is down, and backs off', async () => {
    const kv = memoryKv()
    const scope = { controlUrl: 'http://control.test', service: 'orders', joinToken: await joinToken(5) }
    const first = createWorkerControl(base(scope.joinToken, { store: new KeyValueSnapshotStore(kv, scope) }))
    await first.prepare(() => {})
    expect(kv.map.size).toBe(2) // snapshot and identity
    const down = async () => {
      throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } })
    }
    let t = Date.now()
    const second = createWorkerControl(base(scope.joinToken, { store: new KeyValueSnapshotStore(kv, scope), fetch: down, now: () => t }))
    const work: Promise<unknown>[] = []
    await second.prepare((p) => work.push(p))
    expect(second.snapshot()?.revision).toBe(first.snapshot()?.revision)
    expect(second.status().snapshot?.source).toBe('store')
    // Adopted from the store: the new isolate does not spend a join-token use.
    expect(second.status().identity?.spiffeId).toBe('spiffe://wc.weft/svc/orders')
    // Its background sync (the request's waitUntil) finds the control API gone.
    await Promise.all(work)
    expect(second.status()).toEqual(expect.objectContaining({ consecutiveFailures: 1, lastError: expect.objectContaining({ op: 'poll', code: 'ERR_CONTROL_UNREACHABLE' }) }))
    const more: Promise<unknown>[] = []
    await second.prepare((p) => more.push(p))
    expect(more).toHaveLength(0) // backing off, not a call per request
    t += 1001
    await second.prepare((p) => more.push(p))
    await Promise.all(more)
    expect(second.status().consecutiveFailures).toBe(2)
    expect(second.snapshot()?.revision).toBe(first.snapshot()?.revision)
  })

  it('a new isolate calls out with the cached audience tokens while the control API is down, unless they were minted for another workload', async () => {
    const kv = memoryKv()
    const scope = { controlUrl: 'http://control.test', service: 'orders', joinToken: await joinToken(5) }
    const payments = 'spiffe://wc.weft/svc/payments'
    const first = createWorkerControl(base(scope.joinToken, { store: new KeyValueSnapshotStore(kv, scope) }))
    await first.prepare(() => {})
    const minted = await first.tokenFor(payments)
    expect(kv.map.size).toBe(2) // not written on the request path of tokenFor
    const work: Promise<unknown>[] = []
    await first.prepare((p) => work.push(p)) // the next request saves them in its waitUntil
    await Promise.all(work)
    expect(kv.map.size).toBe(3)

    const down = async () => {
      throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } })
    }
    const second = createWorkerControl(base(scope.joinToken, { store: new KeyValueSnapshotStore(kv, scope), fetch: down }))
    await second.prepare(() => {})
    expect(await second.tokenFor(payments)).toBe(minted)

    // The stored identity now names another workload (the Worker joined again): its old tokens are not used.
    const idKey = [...kv.map.keys()].find((k) => k.endsWith('/identity'))!
    kv.map.set(idKey, JSON.stringify({ ...JSON.parse(kv.map.get(idKey)!), workloadId: 'another-workload' }))
    const third = createWorkerControl(base(scope.joinToken, { store: new KeyValueSnapshotStore(kv, scope), fetch: down }))
    await third.prepare(() => {})
    await expect(third.tokenFor(payments)).rejects.toMatchObject({ code: 'ERR_CONTROL_UNREACHABLE' })

    // Unreadable cached tokens cost the outbound calls, never the snapshot.
    kv.map.set([...kv.map.keys()].find((k) => k.endsWith('/audience-tokens'))!, '[{"audience":')
    const warnings: string[] = []
    const logger = { ...silent, warn: (_: object, msg?: string) => void warnings.push(msg ?? '') }
    const fourth = createWorkerControl(base(scope.joinToken, { store: new KeyValueSnapshotStore(kv, scope), fetch: down, logger }))
    await fourth.prepare(() => {})
    expect(fourth.snapshot()?.revision).toBe(first.snapshot()?.revision)
    expect(warnings).toContain('the cached audience tokens could not be read; starting without them')
  })

  it('without any snapshot, requests during the backoff after a failure do not wait for the control API again', async () => {
    let calls = 0
    const down = async () => {
      calls++
      throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } })
    }
    let t = Date.now()
    const control = createWorkerControl(base(await joinToken(), { fetch: down, now: () => t }))
    await control.prepare(() => {})
    expect(control.snapshot()).toBeNull()
    expect(calls).toBe(1)
    await control.prepare(() => {})
    expect(calls).toBe(1)
    t += 1001
    await control.prepare(() => {})
    expect(calls).toBe(2)
  })

  it('registers its endpoint, heartbeats it, and registers it again when it was deleted', async () => {
    let t = Date.now()
    const control = createWorkerControl(base(await joinToken(), { now: () => t, endpoint: { address: 'orders.example.com', port: 443, labels: { version: 'v3' } } }))
    const work: Promise<unknown>[] = []
    await control.prepare((p) => work.push(p))
    await Promise.all(work)
    const id = control.status().endpoint!.id
    const listed = (await h.request('GET', '/v1/services/orders/endpoints', { key })).body.items as any[]
    expect(listed).toEqual(expect.arrayContaining([expect.objectContaining({ id, address: 'orders.example.com', port: 443, labels: { version: 'v3' }, ttlSeconds: 180 })]))
    expect((await h.request('DELETE', `/v1/services/orders/endpoints/${id}`, { key })).status).toBe(204)
    t += 61_000 // a third of the TTL
    sent.length = 0
    work.length = 0
    await control.prepare((p) => work.push(p))
    await Promise.all(work)
    expect(sent.map((s) => `${s.method} ${s.path.replace(/[0-9a-f-]{36}/, 'ID')}`)).toEqual(
      expect.arrayContaining(['POST /v1/services/orders/endpoints/ID/heartbeat', 'POST /v1/services/orders/endpoints']),
    )
    const again = (await h.request('GET', '/v1/services/orders/endpoints', { key })).body.items as any[]
    expect(again.filter((e) => e.address === 'orders.example.com')).toHaveLength(1)
  })
})
