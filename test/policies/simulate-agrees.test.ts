// simulate and the proxy run the same evaluators; this pins that they also reach the same outcomes, end to
// end: one table of requests through POST /v1/simulate and through two real proxy cores (the caller's
// outbound, then the callee's inbound) fed the control API's own snapshots and real identity tokens.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createProxyCore, type ProxyCore } from '../../edge-proxy/src/core/index'
import { jsonLogger } from '../../control-api/src/logger'
import { backends } from '../support/databases'
import { startHarness, type Harness } from '../support/harness'

type Case = { name: string; from: string; method: string; path: string; headers?: Record<string, string> }

const CASES: Case[] = [
  { name: 'canary header → v2', from: 'orders', method: 'POST', path: '/api/charge', headers: { 'x-canary': '1' } },
  { name: 'api prefix → v1', from: 'orders', method: 'GET', path: '/api/balance' },
  { name: 'no rule matches → route-not-found', from: 'orders', method: 'GET', path: '/elsewhere' },
  { name: 'exact admin path, allowed caller', from: 'orders', method: 'GET', path: '/admin' },
  { name: 'caller not allowed → authz-denied', from: 'shipping', method: 'GET', path: '/api/balance' },
  { name: 'explicit DENY beats ALLOW', from: 'orders', method: 'DELETE', path: '/api/balance' },
  { name: 'prefix is element-wise (/apix is not /api)', from: 'orders', method: 'GET', path: '/apix' },
  { name: 'path normalised before matching', from: 'orders', method: 'GET', path: '/api/../api/balance' },
  { name: 'canary header on the wrong value → v1', from: 'orders', method: 'GET', path: '/api/x', headers: { 'x-canary': '0' } },
]

describe.each(backends)('simulate agrees with the proxy on $name', (backend) => {
  let h: Harness
  let key: string
  const tokens: Record<string, string> = {}
  const cores: Record<string, ProxyCore> = {}
  const addressToVersion: Record<string, string> = { '10.0.0.1': 'v1', '10.0.0.2': 'v2' }

  beforeAll(async () => {
    h = await startHarness(backend)
    key = (await h.onboard('agree')).adminKey
    for (const name of ['orders', 'payments', 'shipping']) await h.request('POST', '/v1/services', { key, body: { name } })
    for (const [address, version] of Object.entries(addressToVersion)) {
      await h.request('POST', '/v1/services/payments/endpoints', { key, body: { address, port: 80, labels: { version } } })
    }
    const policies = [
      {
        kind: 'Route',
        name: 'payments-routes',
        targetRef: { service: 'payments' },
        spec: {
          rules: [
            { matches: [{ headers: [{ name: 'x-canary', value: '1' }] }], backendRefs: [{ labels: { version: 'v2' }, weight: 1 }] },
            { matches: [{ path: { type: 'PathPrefix', value: '/api' } }, { path: { type: 'Exact', value: '/admin' } }], backendRefs: [{ labels: { version: 'v1' }, weight: 1 }] },
          ],
        },
      },
      { kind: 'AuthorizationPolicy', name: 'payments-allow', targetRef: { service: 'payments' }, spec: { action: 'ALLOW', rules: [{ from: { principals: ['spiffe://agree.weft/svc/orders'] } }] } },
      { kind: 'AuthorizationPolicy', name: 'payments-deny-delete', targetRef: { service: 'payments' }, spec: { action: 'DENY', rules: [{ to: { methods: ['DELETE'] } }] } },
    ]
    for (const p of policies) expect((await h.request('POST', '/v1/policies', { key, body: p })).status).toBe(201)

    const snapshots: Record<string, any> = {}
    for (const name of ['orders', 'payments', 'shipping']) {
      const jt = await h.request('POST', `/v1/services/${name}/join-tokens`, { key })
      tokens[name] = (await h.request('POST', '/v1/identity/token', { key: jt.body.secret })).body.token
      snapshots[name] = (await h.request('GET', `/v1/proxy/config?service=${name}`, { key: tokens[name] })).body
    }
    const logger = jsonLogger({ level: 'silent' })
    // payments' inbound proxy: admits or refuses, then the "app" answers with what it was.
    cores.payments = createProxyCore({
      snapshot: () => snapshots.payments,
      upstream: async () => new Response('unused', { status: 500 }),
      app: async () => new Response('app', { status: 200 }),
      identity: { tokenFor: async () => '' },
      logger,
    })
    for (const name of ['orders', 'shipping']) {
      cores[name] = createProxyCore({
        snapshot: () => snapshots[name],
        // The "network": the chosen endpoint's version travels in a header; the request goes to payments' inbound.
        upstream: async (request, target) => {
          const res = await cores.payments!.inbound(request)
          const out = new Response(res.body, res)
          out.headers.set('x-test-endpoint-version', addressToVersion[target.address] ?? 'unknown')
          return out
        },
        app: async () => new Response('unused', { status: 500 }),
        identity: {
          tokenFor: async (audience) => (await h.request('POST', '/v1/identity/token', { key: tokens[name], body: { audience } })).body.token,
        },
        logger,
      })
    }
  })
  afterAll(() => h.close())

  it.each(CASES)('$name', async (c) => {
    const sim = await h.request('POST', '/v1/simulate', {
      key,
      body: { source: { service: c.from }, destination: { service: 'payments' }, request: { method: c.method, path: c.path, headers: c.headers ?? {} } },
    })
    expect(sim.status).toBe(200)
    const res = await cores[c.from]!.outbound(new Request(`http://payments${c.path}`, { method: c.method, headers: c.headers }), 'payments')
    const proxyReason = res.headers.get('weft-reason')
    // The same refusal (or none)...
    expect(proxyReason ?? undefined).toBe(sim.body.reason)
    if (!sim.body.reason) {
      expect(res.status).toBe(200)
      // ...and, when forwarded, the subset simulate predicted.
      const predicted = sim.body.backends.filter((b: any) => b.percent > 0).map((b: any) => b.labels.version)
      expect(predicted).toEqual([res.headers.get('x-test-endpoint-version')])
    }
    expect(sim.body.authorization.decision === 'DENY').toBe(proxyReason === 'authz-denied' || (sim.body.reason !== undefined && sim.body.reason !== 'authz-denied' && sim.body.authorization.decision === 'DENY'))
  })
})
