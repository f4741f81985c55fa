// `weft top`: the service pairs of a tenant's graph with rps, success rate and latency, from telemetry pushed
// the way proxies push it (workload tokens, POST /v1/proxy/telemetry).
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { emptyBuckets, LATENCY_BUCKET_BOUNDS_SECONDS } from '../../mesh/src/telemetry/latency-histogram'
import { backends } from '../support/databases'
import { spawn } from 'node:child_process'
import { startCliServer, WEFT_BIN, type CliServer } from './run-cli'

describe('weft top', () => {
  let s: CliServer
  let env: Record<string, string>
  const weft = (...args: string[]) => s.run(args, { env })

  beforeAll(async () => {
    s = await startCliServer(backends[0]!)
    const h = s.harness
    // 30 s into a minute, frozen: a 5-minute window then spans exactly 270 s, so the rates are fixed.
    h.clock.advance(30_000 - (h.clock.now().getTime() % 60_000))
    const { adminKey } = await h.onboard('top')
    env = { WEFT_URL: s.url, WEFT_API_KEY: adminKey }
    const at = h.clock.now().toISOString()
    const hist = (entries: [number, number][]) => {
      const b = emptyBuckets()
      for (const [le, n] of entries) b[LATENCY_BUCKET_BOUNDS_SECONDS.indexOf(le as never)]! += n
      return b
    }
    const series = [
      // web → orders: 540 ok in (5, 10] ms.
      { from: 'web', to: 'orders', ok: 540, failed: 0, reason: '', latency: [[0.01, 540]] as [number, number][] },
      // orders → payments: 261 ok in (25, 50] ms, 9 proxy-made 503s in (0, 0.5] ms.
      { from: 'orders', to: 'payments', ok: 261, failed: 9, reason: 'no-healthy-upstream', latency: [[0.05, 261], [0.0005, 9]] as [number, number][] },
    ]
    for (const name of ['web', 'orders', 'payments']) await h.request('POST', '/v1/services', { key: adminKey, body: { name } })
    for (const x of series) {
      const jt = await h.request('POST', `/v1/services/${x.from}/join-tokens`, { key: adminKey })
      const token = (await h.request('POST', '/v1/identity/token', { key: jt.body.secret })).body.token
      const requests = [{ direction: 'outbound', source: x.from, destination: x.to, route: '', statusClass: '2xx', reason: '', count: x.ok }]
      if (x.failed) requests.push({ direction: 'outbound', source: x.from, destination: x.to, route: '', statusClass: '5xx', reason: x.reason, count: x.failed })
      const latency = [{ direction: 'outbound', source: x.from, destination: x.to, route: '', statusClass: '2xx', buckets: hist(x.latency.filter(([le]) => le > 0.001)), sumSeconds: 1 }]
      if (x.failed) latency.push({ direction: 'outbound', source: x.from, destination: x.to, route: '', statusClass: '5xx', buckets: hist(x.latency.filter(([le]) => le <= 0.001)), sumSeconds: 0 })
      const r = await h.request('POST', '/v1/proxy/telemetry', { key: token, body: { proxyId: randomUUID(), seq: 1, observedAt: at, requests, latency } })
      expect(r.status, r.text).toBe(200)
    }
  })
  afterAll(async () => s?.close())

  it('prints the service pairs as a table, busiest first', async () => {
    const r = await weft('top', '--once', '--window', '5m')
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatchSnapshot()
  })

  it('sorts by success rate (worst first) and filters by service', async () => {
    const r = await weft('top', '--once', '--window', '5m', '--sort', 'success', '--service', 'payments')
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatchSnapshot()
    const none = await weft('top', '--once', '--window', '5m', '--service', 'ledger')
    expect(none.stdout).toBe('no traffic in the last 270s to or from ledger\n')
  })

  it('--json is the graph as the API answers it', async () => {
    const r = await weft('top', '--once', '--window', '5m', '--json')
    expect(r.code, r.stderr).toBe(0)
    const g = JSON.parse(r.stdout)
    expect(g.edges.map((e: any) => [e.source, e.destination, e.requests, e.successRate])).toEqual([
      ['orders', 'payments', 270, 0.966667],
      ['web', 'orders', 540, 1],
    ])
    expect(g.nodes.map((n: any) => n.name)).toEqual(['orders', 'payments', 'web'])
  })

  it('refreshes every --interval seconds until stopped (one block per refresh when piped)', async () => {
    const child = spawn(process.execPath, [WEFT_BIN, 'top', '--window', '5m', '--interval', '1'], {
      env: { PATH: process.env.PATH ?? '', HOME: s.home, WEFT_CONFIG: `${s.home}/config.json`, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (d) => (out += d))
    const until = Date.now() + 20_000
    while ((out.match(/^SOURCE/gm) ?? []).length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 100))
    child.kill('SIGTERM')
    const blocks = out.split(/^\d{4}-\d\d-\d\dT.*Z$/m).filter((b) => b.trim())
    expect(blocks.length).toBeGreaterThanOrEqual(2)
    for (const b of blocks.slice(0, 2)) expect(b).toContain('orders  payments     1.00  96.67%')
  })

  it('refuses bad flags with exit 2 and an API-refused window with exit 1', async () => {
    expect((await weft('top', '--once', '--window', 'soon')).code).toBe(2)
    expect((await weft('top', '--once', '--sort', 'loudest')).code).toBe(2)
    expect((await weft('top', '--interval', '0')).code).toBe(2)
    const tooLong = await weft('top', '--once', '--window', '2d')
    expect(tooLong.code).toBe(1)
    expect(tooLong.stderr).toContain('window must be between 1m and 24h')
  })
})
