// The Worker proxy's telemetry end to end: the edge-proxy bundle built by wrangler, booted in workerd
// (Miniflare), pushes its request metrics to a control API on a real loopback port over PGlite. Between the
// two sits a small HTTP relay the test can make fail the way networks do: refusing every connection (the
// control API is down), or passing a push through and dropping the connection before its answer (the control
// API committed, the Worker never heard). Nothing is mocked: the relay forwards real requests.
import { serve, type ServerType } from '@hono/node-server'
import { createServer, type Server } from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Miniflare } from 'miniflare'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildEdgeWorker } from '../../scripts/build-edge-worker'
import { backends } from '../support/databases'
import { startHarness, type Harness } from '../support/harness'

type Fault = 'none' | 'down' | 'lose-push-answers'
type PushSeen = { proxyId: string; seq: number; outcome: number | 'lost' }

/** Forwards to `target`, or fails as `fault()` says; records every telemetry push with what became of it. */
function startRelay(target: string, fault: () => Fault, pushes: PushSeen[]): Promise<{ server: Server; url: string }> {
  const server = createServer(async (req, res) => {
    if (fault() === 'down') return req.socket.destroy()
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const body = Buffer.concat(chunks)
    const headers = new Headers()
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && !['host', 'connection', 'content-length', 'transfer-encoding'].includes(k)) headers.set(k, v)
    const answer = await fetch(target + req.url, { method: req.method, headers, body: body.length ? body : undefined })
    const text = Buffer.from(await answer.arrayBuffer())
    if (req.url === '/v1/proxy/telemetry') {
      const push = JSON.parse(body.toString()) as { proxyId: string; seq: number }
      const lose = fault() === 'lose-push-answers'
      pushes.push({ proxyId: push.proxyId, seq: push.seq, outcome: lose ? 'lost' : answer.status })
      if (lose) return req.socket.destroy()
    }
    // fetch has decoded the body: its encoding and length headers no longer apply.
    const out = [...answer.headers].filter(([k]) => !['content-encoding', 'content-length', 'transfer-encoding', 'connection'].includes(k))
    res.writeHead(answer.status, Object.fromEntries(out))
    res.end(text)
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` })))
}

async function eventually<T>(probe: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const until = Date.now() + ms
  for (;;) {
    const v = await probe()
    if (v !== undefined) return v
    if (Date.now() > until) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 150))
  }
}

describe('telemetry from the Cloudflare Worker proxy in Miniflare (PGlite control API)', () => {
  let h: Harness
  let api: ServerType
  let relay: { server: Server; url: string }
  let key: string
  let mf: Miniflare
  let origin: Server
  let fault: Fault = 'none'
  const pushes: PushSeen[] = []
  const outdir = mkdtempSync(join(tmpdir(), 'weft-worker-telemetry-'))

  beforeAll(async () => {
    const built = await buildEdgeWorker(outdir)
    h = await startHarness(backends[0]!)
    api = serve({ fetch: h.app.fetch, port: 0, hostname: '127.0.0.1' })
    await new Promise((r) => api.once('listening', r))
    relay = await startRelay(`http://127.0.0.1:${(api.address() as { port: number }).port}`, () => fault, pushes)
    key = (await h.onboard('wtel')).adminKey
    for (const name of ['edge', 'quiet-edge']) expect((await h.request('POST', '/v1/services', { key, body: { name } })).status).toBe(201)
    origin = createServer((_req, res) => res.end('ok'))
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', () => r()))
    const jt = await h.request('POST', '/v1/services/edge/join-tokens', { key, body: { maxUses: 5 } })
    const quietJt = await h.request('POST', '/v1/services/quiet-edge/join-tokens', { key, body: { maxUses: 5 } })
    const bindings = {
      WEFT_URL: relay.url,
      WEFT_JOIN_TOKEN: jt.body.secret,
      WEFT_SERVICE: 'edge',
      WEFT_ORIGIN: `http://127.0.0.1:${(origin.address() as { port: number }).port}`,
      WEFT_LOG_LEVEL: 'error',
      WEFT_ACCESS_LOG: 'off',
      WEFT_TELEMETRY_INTERVAL_MS: '200',
    }
    const worker = { modules: true, scriptPath: built.scriptPath, modulesRoot: built.outdir, compatibilityDate: built.compatibilityDate, compatibilityFlags: built.compatibilityFlags }
    mf = new Miniflare({
      workers: [
        { name: 'edge', ...worker, bindings },
        // Pushes only from cron runs: a minute's interval is never due within the test.
        { name: 'quiet-edge', ...worker, bindings: { ...bindings, WEFT_SERVICE: 'quiet-edge', WEFT_JOIN_TOKEN: quietJt.body.secret, WEFT_TELEMETRY_INTERVAL_MS: '60000' } },
      ],
    })
    await mf.ready
  }, 120_000)

  afterAll(async () => {
    await mf?.dispose()
    origin?.close()
    relay?.server.closeAllConnections()
    relay?.server.close()
    api?.close()
    await h?.close()
    rmSync(outdir, { recursive: true, force: true })
  })

  const call = async (worker: string, path: string, headers: Record<string, string> = {}) => {
    const res = await (await mf.getWorker(worker)).fetch(`http://edge.example${path}`, { headers })
    await res.arrayBuffer()
    return res.status
  }
  const cron = async (worker: string) => (await mf.getWorker(worker)).scheduled({ cron: '* * * * *' })
  /** The callee-reported edge into `service` from anonymous callers (no Weft-Identity): the Worker's inbound series. */
  const inboundEdge = async (service: string) => {
    const g = (await h.request('GET', '/v1/telemetry/graph?window=15m', { key })).body
    return g.edges.find((e: any) => e.source === 'unknown' && e.destination === service) as
      | { requests: number; reporter: string; statusClasses: Record<string, number>; reasons: Record<string, number>; latencyMs: { p50: number | null } }
      | undefined
  }

  it('pushes from its requests (in their waitUntil), and a cron run sends the rest: every request counted once', async () => {
    let sent = 0
    // Each request after the interval pushes what came before it; the graph moves while requests flow.
    await eventually(async () => {
      expect(await call('edge', '/hello')).toBe(200)
      sent++
      const e = await inboundEdge('edge')
      return e && e.requests > 0 ? e : undefined
    })
    expect(await call('edge', '/hello', { 'weft-identity': 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.' })).toBe(401)
    // No more requests: only the cron trigger pushes now.
    const e = await eventually(async () => {
      await cron('edge')
      const edge = await inboundEdge('edge')
      return edge && edge.requests === sent + 1 ? edge : undefined
    })
    expect(e).toMatchObject({ reporter: 'inbound', statusClasses: { '2xx': sent, '4xx': 1 }, reasons: { 'identity-invalid': 1 } })
    expect(e.latencyMs.p50).toBeGreaterThan(0)
    // Counted once: more cron runs push nothing new.
    await cron('edge')
    await cron('edge')
    expect((await inboundEdge('edge'))!.requests).toBe(sent + 1)
    const mine = pushes.filter((p) => p.proxyId === pushes[0]!.proxyId)
    expect(mine.every((p) => p.outcome === 200)).toBe(true)
    expect(new Set(mine.map((p) => p.seq)).size).toBe(mine.length)
  })

  it('a quiet Worker reports from its cron trigger alone', async () => {
    for (let i = 0; i < 3; i++) expect(await call('quiet-edge', '/q')).toBe(200)
    // A new isolate pushes with its first request (it may get no other); the next push is a minute away.
    await eventually(async () => ((await inboundEdge('quiet-edge'))?.requests === 1 ? true : undefined))
    await cron('quiet-edge')
    expect(await inboundEdge('quiet-edge')).toMatchObject({ requests: 3, statusClasses: { '2xx': 3 } })
  })

  it('while the control API is unreachable, then answers get lost, every request still arrives exactly once', async () => {
    const before = (await inboundEdge('edge'))!.requests
    const start = pushes.length
    let sent = 0
    const traffic = async (n: number) => {
      for (let i = 0; i < n; i++) {
        // Served from the snapshot the Worker holds, whatever the control API does.
        expect(await call('edge', '/during')).toBe(200)
        sent++
        await new Promise((r) => setTimeout(r, 250))
      }
    }
    fault = 'down'
    await traffic(5)
    expect(pushes.length).toBe(start)
    // Back, but the answers to pushes are lost: the control API commits what the Worker thinks failed.
    fault = 'lose-push-answers'
    await eventually(async () => {
      await traffic(1)
      return pushes.slice(start).filter((p) => p.outcome === 'lost').length >= 2 ? true : undefined
    })
    fault = 'none'
    const e = await eventually(async () => {
      await cron('edge')
      const edge = await inboundEdge('edge')
      return edge && edge.requests >= before + sent && pushes.at(-1)!.outcome === 200 ? edge : undefined
    })
    expect(e.requests).toBe(before + sent)
    // The batch whose answer was lost went again under the same seq (the control API said duplicate).
    const lost = pushes.slice(start).filter((p) => p.outcome === 'lost')
    for (const l of lost) expect(pushes.some((p) => p.seq === l.seq && p.proxyId === l.proxyId && p.outcome === 200)).toBe(true)
    await cron('edge')
    expect((await inboundEdge('edge'))!.requests).toBe(before + sent)
  })
})
