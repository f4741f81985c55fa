import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { FetchLike } from '../../edge-proxy/src/control/control-http'
import { createWorkerTelemetry } from '../../edge-proxy/src/control/worker-telemetry'
import { createProxyMetrics } from '../../edge-proxy/src/core/proxy-metrics'
import { backends } from '../support/databases'
import { startHarness, type Harness } from '../support/harness'

const quiet = { debug() {}, info() {}, warn() {}, error() {} }

// The Worker's pusher against the real control API in-process (app.fetch), on a clock the test moves: when a
// request pushes, that concurrent requests never send at once, and that a request cut off mid-push is taken over
// with the same batch. In workerd: test/e2e/worker-telemetry.test.ts.
describe('the Worker telemetry pusher (PGlite control API)', () => {
  let h: Harness
  let key: string
  let token: string
  beforeAll(async () => {
    h = await startHarness(backends[0]!)
    h.clock.advance(30_000 - (h.clock.now().getTime() % 60_000))
    key = (await h.onboard('wpush')).adminKey
    await h.request('POST', '/v1/services', { key, body: { name: 'edge' } })
    const jt = await h.request('POST', '/v1/services/edge/join-tokens', { key })
    token = (await h.request('POST', '/v1/identity/token', { key: jt.body.secret })).body.token
  })
  afterAll(() => h.close())

  function setup(firstToken = token) {
    const metrics = createProxyMetrics()
    const sent: { seq: number; status: number | 'lost'; bearer: string }[] = []
    // The next fetch waits for it (an answer on its way); `lose` drops answers after the commit.
    let gate: Promise<void> | null = null
    let lose = false
    let bearer = firstToken
    const discarded: string[] = []
    const fetch: FetchLike = async (input, init) => {
      const mine = gate
      gate = null
      if (mine) await mine
      const res = await h.app.fetch(new Request(input as string, init))
      const auth = new Headers(init?.headers).get('authorization')!.slice(7)
      const seq = JSON.parse(String(init?.body)).seq as number
      if (lose) {
        sent.push({ seq, status: 'lost', bearer: auth })
        throw new TypeError('fetch failed')
      }
      sent.push({ seq, status: res.status, bearer: auth })
      return res
    }
    const telemetry = createWorkerTelemetry({
      controlUrl: 'http://control.test',
      proxyId: randomUUID(),
      metrics,
      token: async () => bearer,
      discardToken: (t) => {
        discarded.push(t)
        bearer = token
      },
      logger: quiet,
      fetch,
      intervalMs: 5_000,
      now: () => h.clock.now().getTime(),
    })
    const observe = (n: number) => {
      for (let i = 0; i < n; i++) metrics.observe({ direction: 'inbound', source: 'web', destination: 'edge', route: '', status: 200, reason: '', durationSeconds: 0.01 })
    }
    const hold = () => {
      let release!: () => void
      gate = new Promise((r) => (release = r))
      return release
    }
    return { telemetry, sent, observe, hold, discarded, setLose: (v: boolean) => (lose = v) }
  }
  const requestsFrom = async (source: string) => {
    const g = await h.request('GET', '/v1/telemetry/graph?window=5m', { key })
    return g.body.edges.find((e: any) => e.source === source && e.destination === 'edge')?.requests ?? 0
  }

  it('pushes when due, and never from two requests at once', async () => {
    const { telemetry, sent, observe, hold } = setup()
    observe(2)
    const release = hold()
    const first = telemetry.pushIfDue()
    expect(first).not.toBeNull()
    observe(1)
    // Not due yet, and then due but the first request is still sending: both null.
    expect(telemetry.pushIfDue()).toBeNull()
    h.clock.advance(5_000)
    expect(telemetry.pushIfDue()).toBeNull()
    release()
    await first
    expect(sent.map((s) => [s.seq, s.status])).toEqual([[1, 200]])
    h.clock.advance(5_000)
    await telemetry.pushIfDue()
    expect(sent.map((s) => [s.seq, s.status])).toEqual([
      [1, 200],
      [2, 200],
    ])
    expect(telemetry.stats()).toMatchObject({ seq: 2, acknowledged: 2, pendingSeq: null })
    expect(await requestsFrom('web')).toBe(3)
  })

  it('a request cut off mid-push is taken over after 30 s with the same batch, which counts once', async () => {
    const { telemetry, sent, observe, hold, setLose } = setup()
    const base = await requestsFrom('web')
    observe(4)
    // The answer to seq 1 is lost after the commit: the batch stays pending.
    setLose(true)
    await telemetry.pushNow()
    setLose(false)
    expect(telemetry.stats()).toMatchObject({ pendingSeq: 1, failures: 1 })
    // A request starts sending it again and hangs (workerd would cancel its waitUntil without a `finally`).
    const release = hold()
    h.clock.advance(5_000)
    const stuck = telemetry.pushIfDue()
    expect(stuck).not.toBeNull()
    h.clock.advance(10_000)
    expect(telemetry.pushIfDue()).toBeNull()
    await telemetry.pushNow()
    expect(sent).toHaveLength(1)
    // 35 s on, its flag is stale: the next request sends the same batch (same seq) itself.
    h.clock.advance(25_000)
    await telemetry.pushIfDue()
    expect(sent.map((s) => [s.seq, s.status])).toEqual([
      [1, 'lost'],
      [1, 200],
    ])
    // Were the stuck one alive after all, its send is a duplicate too.
    release()
    await stuck
    expect(sent.map((s) => [s.seq, s.status])).toEqual([
      [1, 'lost'],
      [1, 200],
      [1, 200],
    ])
    expect(telemetry.stats()).toMatchObject({ seq: 1, duplicates: 2, pendingSeq: null })
    expect(await requestsFrom('web')).toBe(base + 4)
  })

  it('after a 401 the token is discarded and the push sent once more with a new one', async () => {
    const { telemetry, sent, observe, discarded } = setup('not-a-token')
    observe(1)
    await telemetry.pushNow()
    expect(discarded).toEqual(['not-a-token'])
    expect(sent.map((s) => [s.seq, s.status, s.bearer === token])).toEqual([
      [1, 401, false],
      [1, 200, true],
    ])
    expect(telemetry.stats()).toMatchObject({ acknowledged: 1, pendingSeq: null })
  })
})
