import type { IncomingMessage, ServerResponse } from 'node:http'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { Snapshot } from '../../../mesh/src/snapshot/types'
import { fetchApp, fetchUpstream, listen, memoryLogger, readBody, seededRandom, type Loopback, REFUSED_PORT } from '../../test-support/loopback'
import { endpoint, outboundService, snapshotOf, spiffe } from '../../test-support/snapshots'
import { createProxyCore, type ProxyCore } from './create-proxy-core'
import type { ProxyCoreDeps } from './proxy-deps'

type Seen = { server: string; method: string; url: string; headers: IncomingMessage['headers']; body: string }

/** Upstream servers on loopback that answer with who they are and what they saw, unless told otherwise. */
const servers: Loopback[] = []
const seen: Seen[] = []
type Behaviour = (req: IncomingMessage, res: ServerResponse, body: string) => void | Promise<void>

async function upstream(name: string, behaviour?: Behaviour): Promise<number> {
  const lb = await listen(async (req, res) => {
    const body = (await readBody(req)).toString('utf8')
    seen.push({ server: name, method: req.method!, url: req.url!, headers: req.headers, body })
    if (behaviour) return behaviour(req, res, body)
    res.writeHead(200, { 'content-type': 'application/json', 'x-served-by': name })
    res.end(JSON.stringify({ server: name, url: req.url }))
  })
  servers.push(lb)
  return lb.port
}

afterEach(() => {
  seen.length = 0
})
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()))
})

function proxy(snapshot: Snapshot | (() => Snapshot), extra: Partial<ProxyCoreDeps> = {}): ProxyCore & { logger: ReturnType<typeof memoryLogger> } {
  const logger = memoryLogger()
  const core = createProxyCore({
    snapshot: typeof snapshot === 'function' ? snapshot : () => snapshot,
    upstream: fetchUpstream,
    app: fetchApp(1),
    identity: { tokenFor: async (audience) => `token-for ${audience}` },
    logger,
    random: seededRandom(42),
    ...extra,
  })
  return Object.assign(core, { logger })
}

const get = (core: ProxyCore, url: string, headers: Record<string, string> = {}) => core.outbound(new Request(url, { headers }))

async function many(n: number, concurrency: number, one: (i: number) => Promise<Response>): Promise<Response[]> {
  const out: Response[] = []
  for (let i = 0; i < n; i += concurrency) {
    const batch = await Promise.all(Array.from({ length: Math.min(concurrency, n - i) }, (_, j) => one(i + j)))
    out.push(...batch)
  }
  return out
}

async function servedBy(responses: Response[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {}
  for (const r of responses) {
    const who = r.headers.get('x-served-by') ?? `status ${r.status}`
    counts[who] = (counts[who] ?? 0) + 1
    await r.body?.cancel()
  }
  return counts
}

const CANARY = {
  name: 'payments-canary',
  spec: {
    rules: [
      { matches: [{ path: { type: 'PathPrefix', value: '/' }, headers: [{ name: 'x-canary', value: '1' }] }], backendRefs: [{ labels: { version: 'v2' }, weight: 100 }] },
      { backendRefs: [{ labels: { version: 'v1' }, weight: 90 }, { labels: { version: 'v2' }, weight: 10 }] },
    ],
  },
}

describe('outbound routing', () => {
  let snapshot: Snapshot
  beforeAll(async () => {
    const [a, b, c] = await Promise.all([upstream('v1-a'), upstream('v1-b'), upstream('v2-a')])
    snapshot = snapshotOf('orders', [
      outboundService('payments', [endpoint('p1', a, { version: 'v1' }), endpoint('p2', b, { version: 'v1' }), endpoint('p3', c, { version: 'v2' })], { routes: [CANARY] }),
    ])
  })

  it('splits 90/10 by weight over 1000 requests, within ±3 points', async () => {
    const core = proxy(snapshot, { random: seededRandom(2024) })
    const counts = await servedBy(await many(1000, 50, () => get(core, 'http://payments/charge')))
    const v2 = (counts['v2-a'] ?? 0) / 1000
    expect(Math.abs(v2 - 0.1)).toBeLessThanOrEqual(0.03)
    expect((counts['v1-a'] ?? 0) + (counts['v1-b'] ?? 0) + (counts['v2-a'] ?? 0)).toBe(1000)
    // Round-robin within v1: the two endpoints share its 90 % evenly.
    expect(Math.abs((counts['v1-a'] ?? 0) - (counts['v1-b'] ?? 0))).toBeLessThanOrEqual(1)
  })

  it('sends x-canary: 1 to v2 only', async () => {
    const core = proxy(snapshot)
    const counts = await servedBy(await many(50, 10, () => get(core, 'http://payments/charge', { 'x-canary': '1' })))
    expect(counts).toEqual({ 'v2-a': 50 })
  })

  it('attaches the identity minted for the callee, a traceparent, and drops spoofed Weft headers', async () => {
    const core = proxy(snapshot)
    const r = await get(core, 'http://payments/charge?x=1', { 'weft-source-principal': spiffe('admin'), 'weft-identity': 'forged', connection: 'x-secret', 'x-secret': 's' })
    expect(r.status).toBe(200)
    const s = seen.at(-1)!
    expect(s.url).toBe('/charge?x=1')
    expect(s.headers['weft-identity']).toBe(`token-for ${spiffe('payments')}`)
    expect(s.headers['weft-source-principal']).toBeUndefined()
    expect(s.headers['x-secret']).toBeUndefined()
    expect(s.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/)
  })

  it('propagates an incoming traceparent with a new span id', async () => {
    const core = proxy(snapshot)
    const incoming = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00'
    await get(core, 'http://payments/x', { traceparent: incoming, tracestate: 'a=b' })
    const sent = seen.at(-1)!.headers.traceparent as string
    expect(sent).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-00$/)
    expect(sent).not.toBe(incoming)
    expect(seen.at(-1)!.headers.tracestate).toBe('a=b')
  })

  it('refuses unknown services, unmatched routes and empty subsets with Weft-Reason and a problem naming the rule', async () => {
    const withRoutes = snapshotOf('orders', [
      outboundService('payments', snapshot.outbound.payments!.endpoints, {
        routes: [{ name: 'only-api', spec: { rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/api' } }] }, { matches: [{ path: { type: 'Exact', value: '/v3' } }], backendRefs: [{ labels: { version: 'v3' } }] }] } }],
      }),
    ])
    const core = proxy(withRoutes)
    const unknown = await get(core, 'http://ledger/x')
    expect(unknown.status).toBe(503)
    expect(unknown.headers.get('weft-reason')).toBe('unknown-service')
    expect(unknown.headers.get('content-type')).toBe('application/problem+json')
    expect(await unknown.json()).toMatchObject({ type: 'https://weft.dev/problems/proxy/unknown-service', status: 503, reason: 'unknown-service', detail: expect.stringContaining('"ledger"') })

    const notFound = await get(core, 'http://payments/other')
    expect(notFound.status).toBe(404)
    expect(notFound.headers.get('weft-reason')).toBe('route-not-found')
    expect((await notFound.json()).detail).toContain('"only-api"')

    const empty = await get(core, 'http://payments/v3')
    expect(empty.status).toBe(503)
    expect(empty.headers.get('weft-reason')).toBe('no-healthy-upstream')
    expect(await empty.json()).toMatchObject({ policy: 'only-api', rule: 1, detail: expect.stringContaining('version=v3') })
    expect(seen).toHaveLength(0)
  })

  it('answers no-snapshot before the first snapshot', async () => {
    const logger = memoryLogger()
    const core = createProxyCore({ snapshot: () => null, upstream: fetchUpstream, app: fetchApp(1), identity: { tokenFor: async () => 't' }, logger })
    const r = await get(core, 'http://payments/x')
    expect([r.status, r.headers.get('weft-reason')]).toEqual([503, 'no-snapshot'])
    const i = await core.inbound(new Request('http://me/x'))
    expect([i.status, i.headers.get('weft-reason')]).toEqual([503, 'no-snapshot'])
  })

  it('streams a large body through without buffering it', async () => {
    const core = proxy(snapshot)
    const big = 'x'.repeat(2 * 1024 * 1024)
    const r = await core.outbound(new Request('http://payments/upload', { method: 'POST', body: big, headers: { 'content-type': 'text/plain' } }))
    expect(r.status).toBe(200)
    expect(seen.at(-1)!.body.length).toBe(big.length)
  })
})

describe('outbound filters: redirect, rewrite, header modifiers, mirror', () => {
  let core: ReturnType<typeof proxy>
  beforeAll(async () => {
    const api = await upstream('api')
    const shadow = await upstream('shadow')
    const routes = [
      {
        name: 'edge',
        spec: {
          rules: [
            { matches: [{ path: { type: 'PathPrefix', value: '/old' } }], filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https', hostname: 'example.com', path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/new' }, statusCode: 301 } }] },
            { matches: [{ path: { type: 'PathPrefix', value: '/api' } }], filters: [{ type: 'URLRewrite', urlRewrite: { hostname: 'internal.payments', path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/v2' } } }] },
            { matches: [{ path: { type: 'Exact', value: '/full' } }], filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplaceFullPath', replaceFullPath: '/replaced' } } }] },
            {
              matches: [{ path: { type: 'PathPrefix', value: '/headers' } }],
              filters: [
                { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-set', value: 'new' }], add: [{ name: 'x-add', value: 'two' }], remove: ['x-remove'] } },
                { type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [{ name: 'x-served-by', value: 'hidden' }], add: [{ name: 'x-resp', value: '1' }] } },
              ],
            },
            { matches: [{ path: { type: 'PathPrefix', value: '/mirror' } }], filters: [{ type: 'RequestMirror', requestMirror: { backendRef: { service: 'shadow' }, percent: 100 } }] },
          ],
        },
      },
    ]
    core = proxy(snapshotOf('orders', [outboundService('payments', [endpoint('a', api)], { routes }), outboundService('shadow', [endpoint('s', shadow)])]))
  })

  it('answers a RequestRedirect itself', async () => {
    const r = await get(core, 'http://payments/old/thing?q=1')
    expect(r.status).toBe(301)
    expect(r.headers.get('location')).toBe('https://example.com/new/thing?q=1')
    expect(r.headers.get('weft-reason')).toBe('route-redirect')
    expect(seen).toHaveLength(0)
  })

  it('rewrites the prefix and the host, or the full path', async () => {
    await get(core, 'http://payments/api/charges/1')
    expect(seen.at(-1)).toMatchObject({ server: 'api', url: '/v2/charges/1' })
    expect(seen.at(-1)!.headers.host).toBe(`127.0.0.1:${servers.at(-2)!.port}`)
    await get(core, 'http://payments/full?a=b')
    expect(seen.at(-1)!.url).toBe('/replaced?a=b')
  })

  it('modifies request and response headers', async () => {
    const r = await get(core, 'http://payments/headers', { 'x-set': 'old', 'x-add': 'one', 'x-remove': 'gone' })
    const h = seen.at(-1)!.headers
    expect([h['x-set'], h['x-add'], h['x-remove']]).toEqual(['new', 'one, two', undefined])
    expect(r.headers.get('x-served-by')).toBe('hidden')
    expect(r.headers.get('x-resp')).toBe('1')
  })

  it('mirrors a copy, body included, without waiting for it', async () => {
    const r = await core.outbound(new Request('http://payments/mirror', { method: 'POST', body: 'copy me' }))
    expect(r.headers.get('x-served-by')).toBe('api')
    await expect.poll(() => seen.find((s) => s.server === 'shadow')).toBeDefined()
    const copy = seen.find((s) => s.server === 'shadow')!
    expect(copy).toMatchObject({ method: 'POST', url: '/mirror', body: 'copy me' })
    expect(copy.headers['weft-identity']).toBe(`token-for ${spiffe('shadow')}`)
    expect(seen.find((s) => s.server === 'api')!.body).toBe('copy me')
  })
})

describe('retries and the retry budget', () => {
  it('recovers from an upstream failing 30 % of the time', async () => {
    const flaky = seededRandom(99)
    const failing: Behaviour = (_, res) => {
      if (flaky() < 0.3) {
        res.writeHead(503)
        res.end('flaky')
      } else {
        res.writeHead(200, { 'x-served-by': 'ok' })
        res.end('ok')
      }
    }
    const [a, b] = await Promise.all([upstream('f1', failing), upstream('f2', failing)])
    const routes = [{ name: 'retrying', spec: { rules: [{ retry: { attempts: 5, retryOn: ['5xx'], backoff: { base: '1ms', max: '5ms' } } }], retryBudget: { percent: 100, minRetriesPerSecond: 100 } } }]
    const core = proxy(snapshotOf('orders', [outboundService('payments', [endpoint('a', a), endpoint('b', b)], { routes })]))
    const responses = await many(300, 10, () => core.outbound(new Request('http://payments/pay', { method: 'POST', body: '{"amount":1}' })))
    const counts = await servedBy(responses)
    expect(counts.ok).toBe(300)
    const metrics = core.metrics.render()
    const retried = Number(/weft_retries_total\{destination="payments",route="retrying\/0",outcome="retried"\} (\d+)/.exec(metrics)?.[1])
    // About 0.3/0.7 retries per request.
    expect(retried).toBeGreaterThan(90)
    expect(retried).toBeLessThan(170)
    expect(seen.every((s) => s.body === '{"amount":1}')).toBe(true)
  })

  it('stops retrying at the budget and records it', async () => {
    const down = await upstream('down', (_, res) => {
      res.writeHead(503)
      res.end()
    })
    const routes = [{ name: 'budgeted', spec: { rules: [{ retry: { attempts: 3, retryOn: ['5xx'], backoff: { base: '1ms', max: '1ms' } } }], retryBudget: { percent: 20, minRetriesPerSecond: 0 } } }]
    const core = proxy(snapshotOf('orders', [outboundService('payments', [endpoint('d', down)], { routes })]))
    const responses = await many(100, 1, () => get(core, 'http://payments/x'))
    expect(responses.every((r) => r.status === 503 && r.headers.get('weft-reason') === null)).toBe(true)
    const metrics = core.metrics.render()
    const retried = Number(/outcome="retried"\} (\d+)/.exec(metrics)?.[1])
    const refused = Number(/outcome="budget_exhausted"\} (\d+)/.exec(metrics)?.[1])
    expect(retried).toBeLessThanOrEqual(20)
    expect(retried).toBeGreaterThanOrEqual(18)
    expect(retried + refused).toBeGreaterThanOrEqual(100)
    expect(seen.filter((s) => s.server === 'down')).toHaveLength(100 + retried)
  })

  it('does not retry a body too large to replay', async () => {
    const down = await upstream('down-big', (_, res) => {
      res.writeHead(503)
      res.end()
    })
    const routes = [{ name: 'r', spec: { rules: [{ retry: { attempts: 3, retryOn: ['5xx'] } }], retryBudget: { percent: 100, minRetriesPerSecond: 100 } } }]
    const core = proxy(snapshotOf('orders', [outboundService('payments', [endpoint('d', down)], { routes })]), { limits: { maxReplayBodyBytes: 1024 } })
    const r = await core.outbound(new Request('http://payments/x', { method: 'POST', body: 'y'.repeat(4096) }))
    expect(r.status).toBe(503)
    expect(seen.filter((s) => s.server === 'down-big')).toHaveLength(1)
    expect(core.metrics.render()).toContain('outcome="not_replayable"} 1')
  })

  it('retries connect failures on another endpoint, and answers connect-failure when none is left', async () => {
    const deadPort = REFUSED_PORT
    const live = await upstream('live')
    const routes = [{ name: 'r', spec: { rules: [{ retry: { attempts: 2, retryOn: ['connect-failure'], backoff: { base: '1ms', max: '1ms' } } }] } }]
    const core = proxy(snapshotOf('orders', [outboundService('payments', [endpoint('dead', deadPort), endpoint('live', live)], { routes })]))
    const counts = await servedBy(await many(10, 1, () => get(core, 'http://payments/x')))
    expect(counts).toEqual({ live: 10 })

    const onlyDead = proxy(snapshotOf('orders', [outboundService('payments', [endpoint('dead', deadPort)])]))
    const r = await get(onlyDead, 'http://payments/x')
    expect([r.status, r.headers.get('weft-reason')]).toEqual([503, 'connect-failure'])
    expect((await r.json()).detail).toMatch(/pass-through to "payments": could not connect to "payments" endpoint dead \(127\.0\.0\.1:\d+\): .*ECONNREFUSED/)
  })

  it('answers upstream-reset when the upstream drops the connection', async () => {
    const rude = await upstream('rude', (req) => void req.socket.destroy())
    const core = proxy(snapshotOf('orders', [outboundService('payments', [endpoint('r', rude)])]))
    const r = await get(core, 'http://payments/x')
    expect([r.status, r.headers.get('weft-reason')]).toEqual([502, 'upstream-reset'])
  })
})

describe('timeouts', () => {
  it('answers 504 timeout at the rule timeout, naming the rule', async () => {
    const slow = await upstream('slow', (_, res) => void setTimeout(() => res.end('late'), 1000))
    const routes = [{ name: 'slow-route', spec: { rules: [{ timeout: '100ms' }] } }]
    const core = proxy(snapshotOf('orders', [outboundService('payments', [endpoint('s', slow)], { routes })]))
    const t0 = Date.now()
    const r = await get(core, 'http://payments/x')
    const elapsed = Date.now() - t0
    expect([r.status, r.headers.get('weft-reason')]).toEqual([504, 'timeout'])
    expect(await r.json()).toMatchObject({ policy: 'slow-route', rule: 0, detail: expect.stringContaining('100ms') })
    expect(elapsed).toBeGreaterThanOrEqual(95)
    expect(elapsed).toBeLessThan(900)
  })

  it('retries after a per-try timeout and succeeds on a fast attempt', async () => {
    let n = 0
    const sometimesSlow = await upstream('sometimes-slow', (_, res) => {
      if (n++ === 0) setTimeout(() => res.end('late'), 1000)
      else {
        res.writeHead(200, { 'x-served-by': 'fast' })
        res.end('fast')
      }
    })
    const routes = [{ name: 'per-try', spec: { rules: [{ timeout: '2s', retry: { attempts: 2, perTryTimeout: '100ms', retryOn: ['reset'], backoff: { base: '1ms', max: '1ms' } } }] } }]
    const core = proxy(snapshotOf('orders', [outboundService('payments', [endpoint('s', sometimesSlow)], { routes })]))
    const t0 = Date.now()
    const r = await get(core, 'http://payments/x')
    expect(r.headers.get('x-served-by')).toBe('fast')
    expect(Date.now() - t0).toBeLessThan(900)
  })

  it('applies perTryTimeout also when the rule allows no retry', async () => {
    const slow = await upstream('slow3', (_, res) => void setTimeout(() => res.end('late'), 1000))
    const routes = [{ name: 'no-retry', spec: { rules: [{ retry: { attempts: 0, perTryTimeout: '50ms' } }] } }]
    const core = proxy(snapshotOf('orders', [outboundService('payments', [endpoint('s', slow)], { routes })]))
    const r = await get(core, 'http://payments/x')
    expect([r.status, r.headers.get('weft-reason')]).toEqual([504, 'timeout'])
    expect((await r.json()).detail).toContain('per-try timeout of 50ms (1 attempt)')
  })

  it('names the per-try timeout when the last attempt times out', async () => {
    const slow = await upstream('slow2', (_, res) => void setTimeout(() => res.end('late'), 1000))
    const routes = [{ name: 'per-try', spec: { rules: [{ retry: { attempts: 1, perTryTimeout: '50ms', retryOn: ['5xx'], backoff: { base: '1ms', max: '1ms' } } }], retryBudget: { percent: 100, minRetriesPerSecond: 10 } } }]
    const core = proxy(snapshotOf('orders', [outboundService('payments', [endpoint('s', slow)], { routes })]))
    const r = await get(core, 'http://payments/x')
    expect([r.status, r.headers.get('weft-reason')]).toEqual([504, 'timeout'])
    expect((await r.json()).detail).toContain('per-try timeout of 50ms')
    expect(seen.filter((s) => s.server === 'slow2')).toHaveLength(2)
  })
})

describe('circuit breaking', () => {
  it('answers circuit-open beyond maxRequests in flight, and queues up to maxPendingRequests', async () => {
    const release: (() => void)[] = []
    const held = await upstream('held', (_, res) => {
      release.push(() => {
        res.writeHead(200, { 'x-served-by': 'held' })
        res.end()
      })
    })
    const core = proxy(snapshotOf('orders', [outboundService('payments', [endpoint('h', held)], { backendPolicy: { connectionLimits: { maxRequests: 3, maxPendingRequests: 1 } } })]))
    const pending = Array.from({ length: 6 }, () => get(core, 'http://payments/x'))
    await expect.poll(() => release.length).toBe(3)
    // 3 in flight, 1 queued, 2 refused at once.
    const settled = await Promise.race([Promise.all(pending.slice(4)), new Promise((r) => setTimeout(() => r('hung'), 500))])
    expect(settled).not.toBe('hung')
    const refused = settled as Response[]
    for (const r of refused) {
      expect([r.status, r.headers.get('weft-reason')]).toEqual([503, 'circuit-open'])
      expect(await r.json()).toMatchObject({ policy: 'payments-backend', detail: expect.stringContaining('maxRequests 3') })
    }
    release.splice(0).forEach((f) => f())
    await expect.poll(() => release.length).toBe(1)
    release.splice(0).forEach((f) => f())
    const admitted = await Promise.all(pending.slice(0, 4))
    expect(admitted.map((r) => r.status)).toEqual([200, 200, 200, 200])
    expect(core.metrics.render()).toContain('weft_circuit_open_total{destination="payments"} 2')
  })
})

describe('outlier detection', () => {
  it('ejects an endpoint returning 5xx, moves traffic to healthy ones, and brings it back after the ejection time', async () => {
    const [good1, good2, bad] = await Promise.all([
      upstream('good-1'),
      upstream('good-2'),
      upstream('bad', (_, res) => {
        res.writeHead(500, { 'x-served-by': 'bad' })
        res.end()
      }),
    ])
    let clock = 1_000_000
    const core = proxy(
      snapshotOf('orders', [
        outboundService('payments', [endpoint('g1', good1), endpoint('g2', good2), endpoint('b', bad)], {
          backendPolicy: { outlierDetection: { consecutive5xx: 3, interval: '10s', baseEjectionTime: '30s', maxEjectionPercent: 50 } },
        }),
      ]),
      { now: () => clock },
    )
    const first = await servedBy(await many(30, 1, () => get(core, 'http://payments/x')))
    expect(first.bad).toBe(3)
    const after = await servedBy(await many(60, 5, () => get(core, 'http://payments/x')))
    expect(after).toEqual({ 'good-1': 30, 'good-2': 30 })
    expect(core.endpoints().find((e) => e.id === 'b')).toMatchObject({ ejected: true, timesEjected: 1 })
    expect(core.metrics.render()).toContain('weft_outlier_ejections_total{destination="payments"} 1')
    expect(core.logger.lines.some((l) => l.msg === 'outlier detection ejected an endpoint')).toBe(true)

    clock += 30_001
    const back = await servedBy(await many(30, 1, () => get(core, 'http://payments/x')))
    expect(back.bad).toBe(3)
    // Ejected a second time: twice the base ejection time.
    expect(core.endpoints().find((e) => e.id === 'b')).toMatchObject({ ejected: true, timesEjected: 2, ejectedUntil: expect.any(Number) })
    expect(core.endpoints().find((e) => e.id === 'b')!.ejectedUntil! - clock).toBe(60_000)
  })
})

describe('load balancing per BackendPolicy over HTTP', () => {
  let ports: number[]
  beforeAll(async () => {
    ports = await Promise.all(['lb-0', 'lb-1', 'lb-2'].map((n) => upstream(n)))
  })
  const service = (backendPolicy: unknown, zones: (string | null)[] = [null, null, null]) =>
    snapshotOf('orders', [outboundService('payments', ports.map((p, i) => endpoint(`e${i}`, p, {}, { zone: zones[i] ?? null })), { backendPolicy })])

  it('RoundRobin: exactly even', async () => {
    const core = proxy(service({ loadBalancer: { type: 'RoundRobin' } }))
    expect(await servedBy(await many(300, 1, () => get(core, 'http://payments/x')))).toEqual({ 'lb-0': 100, 'lb-1': 100, 'lb-2': 100 })
  })

  it('Random: roughly even', async () => {
    const core = proxy(service({ loadBalancer: { type: 'Random' } }))
    const counts = await servedBy(await many(600, 20, () => get(core, 'http://payments/x')))
    for (const n of Object.values(counts)) expect(Math.abs(n / 600 - 1 / 3)).toBeLessThan(0.07)
  })

  it('LeastRequest: all endpoints used under concurrency', async () => {
    const core = proxy(service({ loadBalancer: { type: 'LeastRequest' } }))
    const counts = await servedBy(await many(300, 30, () => get(core, 'http://payments/x')))
    expect(Object.keys(counts).sort()).toEqual(['lb-0', 'lb-1', 'lb-2'])
  })

  it('ConsistentHash: the same header value always reaches the same endpoint', async () => {
    const core = proxy(service({ loadBalancer: { type: 'ConsistentHash', hashOn: { header: 'x-user' } } }))
    const homes = new Map<string, string>()
    for (let i = 0; i < 60; i++) {
      const user = `user-${i % 12}`
      const r = await get(core, 'http://payments/x', { 'x-user': user })
      const who = r.headers.get('x-served-by')!
      await r.body?.cancel()
      if (!homes.has(user)) homes.set(user, who)
      expect(who).toBe(homes.get(user))
    }
    expect(new Set(homes.values()).size).toBeGreaterThan(1)
  })

  it('prefers endpoints in its own zone when locality is on, and the rest when none is local', async () => {
    const zones = ['zone-a', 'zone-b', 'zone-b']
    const local = proxy(service({ locality: { preferLocalZone: true } }, zones), { zone: 'zone-a' })
    expect(await servedBy(await many(20, 1, () => get(local, 'http://payments/x')))).toEqual({ 'lb-0': 20 })
    const elsewhere = proxy(service({ locality: { preferLocalZone: true } }, zones), { zone: 'zone-c' })
    expect(Object.keys(await servedBy(await many(20, 1, () => get(elsewhere, 'http://payments/x')))).sort()).toEqual(['lb-0', 'lb-1', 'lb-2'])
    const off = proxy(service({}, zones), { zone: 'zone-a' })
    expect(Object.keys(await servedBy(await many(20, 1, () => get(off, 'http://payments/x')))).sort()).toEqual(['lb-0', 'lb-1', 'lb-2'])
  })
})

describe('metrics', () => {
  it('counts requests by direction, source, destination, route, status class and reason, with latency histograms', async () => {
    const port = await upstream('m')
    const routes = [{ name: 'm-route', spec: { rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/ok' } }] }] } }]
    const core = proxy(snapshotOf('orders', [outboundService('payments', [endpoint('m', port)], { routes })]))
    await (await get(core, 'http://payments/ok')).body?.cancel()
    await (await get(core, 'http://payments/nope')).body?.cancel()
    const text = core.metrics.render()
    expect(text).toContain('weft_requests_total{direction="outbound",source="orders",destination="payments",route="m-route/0",status_class="2xx",reason=""} 1')
    expect(text).toContain('weft_requests_total{direction="outbound",source="orders",destination="payments",route="",status_class="4xx",reason="route-not-found"} 1')
    expect(text).toMatch(/weft_request_duration_seconds_bucket\{direction="outbound",source="orders",destination="payments",route="m-route\/0",status_class="2xx",le="\+Inf"\} 1/)
    expect(text).toContain('weft_requests_active{direction="outbound",destination="payments"} 0')
  })
})
