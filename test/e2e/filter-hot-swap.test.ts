// Hot swap of a FilterChain in a running Node sidecar: a control API on a real port (PGlite), an app, one sidecar,
// and a steady load of requests while the FilterChain is switched between two versions of a filter (different
// blobs, so new digests the sidecar fetches by sha256, verifies and compiles). No request may fail, and each
// request must finish on the chain it started with.
import { serve, type ServerType } from '@hono/node-server'
import { createServer, type Server } from 'node:http'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runSidecar, type Sidecar } from '../../edge-proxy/src/runtime/node'
import { buildFilters, buildTestFilter } from '../../filters/build'
import { backends } from '../support/databases'
import { startHarness, type Harness } from '../support/harness'

const backend = backends[0]!

describe('FilterChain hot swap under load (Node sidecar)', () => {
  let h: Harness
  let api: ServerType
  let key: string
  let app: Server
  let sidecar: Sidecar
  const stateRoot = mkdtempSync(join(tmpdir(), 'weft-hot-swap-'))

  beforeAll(async () => {
    h = await startHarness(backend)
    api = serve({ fetch: h.app.fetch, port: 0, hostname: '127.0.0.1' })
    await new Promise((r) => api.once('listening', r))
    const controlUrl = `http://127.0.0.1:${(api.address() as { port: number }).port}`
    key = (await h.onboard('swap')).adminKey
    await h.request('POST', '/v1/services', { key, body: { name: 'catalog' } })
    // The app answers after a few ms, so requests are in flight across swaps; it echoes what the filters added.
    app = createServer((req, res) => {
      setTimeout(() => {
        res.setHeader('content-type', 'application/json')
        res.end(JSON.stringify({ order: req.headers['x-filter-order'] ?? null, v2: req.headers['x-swap-v2'] ?? null }))
      }, 5)
    })
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', () => r()))
    // Two versions of one filter name with different bytes: 1.0.0 tags request and response, 2.0.0 adds a header.
    const v1 = await buildTestFilter('response-header')
    const [v2] = await buildFilters(['add-header'])
    for (const [version, file] of [['1.0.0', v1.file], ['2.0.0', v2!.file]] as const) {
      const push = await h.request('POST', `/v1/filters?name=tagger&version=${version}`, { key, raw: readFileSync(file) as unknown as string, headers: { 'content-type': 'application/wasm' } })
      expect(push.status).toBeLessThan(300)
    }
    const jt = await h.request('POST', '/v1/services/catalog/join-tokens', { key })
    sidecar = await runSidecar({
      controlUrl,
      joinToken: jt.body.secret,
      service: 'catalog',
      appPort: (app.address() as { port: number }).port,
      inboundPort: 0,
      outboundPort: 0,
      adminPort: 0,
      stateDir: join(stateRoot, 'catalog'),
      logLevel: 'silent',
    })
  }, 120_000)

  afterAll(async () => {
    await sidecar?.close()
    app?.close()
    api?.close()
    await h?.close()
    rmSync(stateRoot, { recursive: true, force: true })
  })

  const revision = async () => (await (await fetch(`http://127.0.0.1:${sidecar.ports.admin}/ready`)).json()).revision as number
  const attach = async (version: '1.0.0' | '2.0.0') => {
    const config = version === '1.0.0' ? { tag: 'v1' } : { name: 'x-swap-v2', value: 'yes' }
    const r = await h.request('PUT', '/v1/policies/catalog-filters', {
      key,
      body: { kind: 'FilterChain', name: 'catalog-filters', targetRef: { service: 'catalog' }, spec: { filters: [{ filter: 'tagger', version, config }] } },
    })
    expect(r.status).toBeLessThan(300)
    const wanted = Number(r.headers.get('weft-revision'))
    while ((await revision()) < wanted) await new Promise((res) => setTimeout(res, 10))
  }
  type Seen = { status: number; chain: 'v1' | 'v2' | 'none' | 'mixed'; error?: string }
  const once = async (): Promise<Seen> => {
    try {
      const res = await fetch(`http://127.0.0.1:${sidecar.ports.inbound}/items`)
      const body = (await res.json()) as { order: string | null; v2: string | null }
      const responseTag = res.headers.get('x-filter-order')
      // A request that began on v1 has its response phase run by v1 too, even when the swap came in between.
      const chain = body.order === 'v1' && responseTag === 'v1' && body.v2 === null ? 'v1' : body.v2 === 'yes' && body.order === null && responseTag === null ? 'v2' : body.order === null && body.v2 === null && responseTag === null ? 'none' : 'mixed'
      return { status: res.status, chain }
    } catch (err) {
      return { status: 0, chain: 'mixed', error: String(err) }
    }
  }

  it('swaps between two blobs while requests keep flowing: zero failed requests, each on one chain', async () => {
    await attach('1.0.0')
    const until = async (chain: Seen['chain']) => {
      for (let i = 0; i < 500; i++) if ((await once()).chain === chain) return
      throw new Error(`the sidecar never served on ${chain}`)
    }
    await until('v1')

    const results: Seen[] = []
    let running = true
    const workers = Array.from({ length: 4 }, async () => {
      while (running) results.push(await once())
    })
    for (const version of ['2.0.0', '1.0.0', '2.0.0', '1.0.0', '2.0.0'] as const) {
      await attach(version)
      await until(version === '1.0.0' ? 'v1' : 'v2')
    }
    running = false
    await Promise.all(workers)

    const failed = results.filter((r) => r.status !== 200 || r.chain === 'mixed' || r.chain === 'none')
    expect(failed).toEqual([])
    expect(results.length).toBeGreaterThan(20)
    expect(new Set(results.map((r) => r.chain))).toEqual(new Set(['v1', 'v2']))
    // Both blobs were fetched by digest and compiled once each: swapping back reuses the loaded module.
    const metrics = await (await fetch(`http://127.0.0.1:${sidecar.ports.admin}/metrics`)).text()
    expect(metrics).toMatch(/weft_filter_failures_total\{filter="tagger"\} 0/)
  }, 120_000)
})
