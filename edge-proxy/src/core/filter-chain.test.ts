// The FilterChain through the real proxy core (inbound handler behind an HTTP listener, a real app) with real
// WebAssembly built from filters/testdata by AssemblyScript.
import { readFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Snapshot, SnapshotFilter } from '../../../mesh/src/snapshot/types'
import { buildTestFilter } from '../../../filters/build'
import { meterWasm } from '../wasm/index'
import { fetchApp, fetchUpstream, listen, memoryLogger, rawRequest, readBody, serveHandler, type Loopback } from '../../test-support/loopback'
import { endpoint, outboundService, snapshotOf } from '../../test-support/snapshots'
import { createProxyCore, type ProxyCore } from './create-proxy-core'
import type { ProxyCoreDeps } from './proxy-deps'

type AppSeen = { url: string; headers: Record<string, string | string[] | undefined>; body: string }

let app: Loopback
const appSeen: AppSeen[] = []
const open: Loopback[] = []
/** sha256 → compiled module, as the sidecar's filterModules would return them. */
const modules = new Map<string, WebAssembly.Module>()
const digests: Record<string, string> = {}

beforeAll(async () => {
  for (const name of ['response-header', 'body-rewrite', 'trap-filter', 'runaway', 'http-call', 'abi-conformance', 'abi-probe']) {
    const built = await buildTestFilter(name)
    // Metered as the sidecar meters what it fetches.
    modules.set(built.sha256, new WebAssembly.Module(meterWasm(new Uint8Array(await readFile(built.file)))))
    digests[name] = built.sha256
  }
  app = await listen(async (req, res) => {
    appSeen.push({ url: req.url!, headers: req.headers, body: (await readBody(req)).toString() })
    if (req.url === '/empty') {
      res.writeHead(204, { 'x-from': 'app' })
      res.end()
      return
    }
    res.writeHead(200, { 'content-type': 'text/plain', 'x-from': 'app' })
    // Two writes: the response body reaches the filters in more than one chunk.
    res.write('hello ')
    setTimeout(() => res.end('world'), 5)
  })
}, 120_000)
afterAll(async () => {
  await Promise.all([app.close(), ...open.map((o) => o.close())])
})

function attach(filter: string, config: unknown = null, failurePolicy: 'open' | 'closed' = 'closed', as = filter): SnapshotFilter {
  return { filter: as, version: '1.0.0', sha256: digests[filter]!, config, failurePolicy } as SnapshotFilter
}

function withChain(filters: SnapshotFilter[]): Snapshot {
  const s = snapshotOf('payments', [])
  return { ...s, inbound: { ...s.inbound, filterChain: { policy: 'payments-filters', filters } } }
}

async function sidecar(snapshot: () => Snapshot, extra: Partial<ProxyCoreDeps> = {}): Promise<{ port: number; core: ProxyCore; logger: ReturnType<typeof memoryLogger> }> {
  const logger = memoryLogger()
  const core = createProxyCore({
    snapshot,
    upstream: () => Promise.reject(new Error('no upstream in this test')),
    app: fetchApp(app.port),
    identity: { tokenFor: async () => 'unused' },
    logger,
    filterModules: async (sha256) => {
      const module = modules.get(sha256)
      if (!module) throw new Error(`no module ${sha256}`)
      return module
    },
    ...extra,
  })
  const front = await serveHandler((r) => core.inbound(r))
  open.push(front)
  return { port: front.port, core, logger }
}

describe('FilterChain through the proxy core', () => {
  it('runs request headers in order and response headers in reverse, then proxy_on_log after the response', async () => {
    const snapshot = withChain([attach('response-header', { tag: 'a' }, 'closed', 'tag-a'), attach('response-header', { tag: 'b' }, 'closed', 'tag-b')])
    const { port, core } = await sidecar(() => snapshot)
    appSeen.length = 0
    const r = await rawRequest(port, '/orders')
    expect(r.status).toBe(200)
    expect(r.body).toBe('hello world')
    expect(appSeen[0]!.headers['x-filter-order']).toBe('a, b')
    // Response phase: b (last in the chain) runs first.
    expect(r.headers['x-filter-order']).toBe('b, a')
    expect(r.headers['x-saw-status-a']).toBe('set')
    expect(r.headers['x-from']).toBe('app')
    // on_log ran once per filter, after the body was sent; the metric is exported with the proxy's.
    const metrics = core.metrics.render()
    expect(metrics).toContain('weft_filter_response_header_logs_a 1')
    expect(metrics).toContain('weft_filter_response_header_logs_b 1')
    expect(metrics).toMatch(/weft_filter_requests_total\{filter="tag-a"\} 1/)
    // The shared-data bound is visible too (wasm/shared-data.ts): these filters keep nothing there.
    expect(metrics).toContain('weft_filter_shared_data_entries 0')
    expect(metrics).toContain('weft_filter_shared_data_evictions_total 0')
  })

  it('runs the response headers of a bodiless response and finishes the streams at once', async () => {
    const snapshot = withChain([attach('response-header', { tag: 'c' })])
    const { port, core } = await sidecar(() => snapshot)
    const r = await rawRequest(port, '/empty')
    expect(r.status).toBe(204)
    expect(r.headers['x-filter-order']).toBe('c')
    expect(core.metrics.render()).toContain('weft_filter_response_header_logs_c 1')
  })

  it('streams a request body through a filter chunk by chunk, and buffers the response body for the filter that asks', async () => {
    const snapshot = withChain([attach('body-rewrite'), attach('response-header', { tag: 'd' })])
    const { port } = await sidecar(() => snapshot)
    appSeen.length = 0
    const r = await rawRequest(port, '/echo', { method: 'POST', body: 'make me loud', headers: { 'content-length': '12' } })
    expect(appSeen[0]!.body).toBe('MAKE ME LOUD')
    expect(r.status).toBe(200)
    // The app's two chunks arrive as one buffered body: the filter saw 11 bytes at the end of the stream.
    expect(r.body).toBe('<<hello world|11>>')
    expect(r.headers['content-length']).toBeUndefined()
    expect(r.headers['x-filter-order']).toBe('d')
  })

  it('answers with a local response a filter sends during the request body', async () => {
    const snapshot = withChain([attach('body-rewrite')])
    const { port } = await sidecar(() => snapshot)
    const r = await rawRequest(port, '/echo', { method: 'POST', body: 'x'.repeat(1000), headers: { 'x-refuse-body': '1' } })
    expect(r.status).toBe(413)
    expect(r.headers['weft-reason']).toBe('filter-response')
    expect(r.body).toBe('refused after 1000 bytes')
  })

  it('fails a filter that traps in the request body by its policy: closed answers 503, open forwards the body untouched', async () => {
    let snapshot = withChain([attach('body-rewrite', null, 'closed')])
    const { port } = await sidecar(() => snapshot)
    const closed = await rawRequest(port, '/echo', { method: 'POST', body: 'abc', headers: { 'x-trap-body': '1' } })
    expect(closed.status).toBe(503)
    expect(closed.headers['weft-reason']).toBe('filter-failure')
    snapshot = withChain([attach('body-rewrite', null, 'open')])
    appSeen.length = 0
    const open = await rawRequest(port, '/echo', { method: 'POST', body: 'abc', headers: { 'x-trap-body': '1' } })
    expect(open.status).toBe(200)
    expect(appSeen[0]!.body).toBe('abc')
    appSeen.length = 0
    expect((await rawRequest(port, '/echo', { method: 'POST', body: 'abc' })).status).toBe(200)
    expect(appSeen[0]!.body).toBe('ABC')
  })

  it('fails a trapping filter closed or open per its attachment, and serves the next request', async () => {
    let snapshot = withChain([attach('trap-filter', null, 'closed')])
    const { port, logger } = await sidecar(() => snapshot)
    const closed = await rawRequest(port, '/x', { headers: { 'x-trap': '1' } })
    expect(closed.status).toBe(503)
    expect(closed.headers['weft-reason']).toBe('filter-failure')
    expect(logger.lines.some((l) => l.level === 'error' && l.msg === 'filter failed')).toBe(true)
    expect((await rawRequest(port, '/x')).status).toBe(200)
    snapshot = withChain([attach('trap-filter', null, 'open')])
    appSeen.length = 0
    const open = await rawRequest(port, '/x', { headers: { 'x-trap': '1' } })
    expect(open.status).toBe(200)
    expect(appSeen[0]!.headers['x-trap-filter']).toBeUndefined()
  })

  it('stops a filter that loops forever or allocates without bound, per policy, and keeps serving', async () => {
    const snapshot = withChain([attach('runaway', null, 'closed')])
    const { port, core, logger } = await sidecar(() => snapshot)
    const loop = await rawRequest(port, '/x', { headers: { 'x-loop': '1' } })
    expect(loop.status).toBe(503)
    expect(loop.body).toContain('ran past its time budget')
    const alloc = await rawRequest(port, '/x', { headers: { 'x-alloc': '1' } })
    expect(alloc.status).toBe(503)
    appSeen.length = 0
    expect((await rawRequest(port, '/x')).status).toBe(200)
    expect(appSeen[0]!.headers['x-runaway']).toBe('ok')
    const metrics = core.metrics.render()
    expect(metrics).toMatch(/weft_filter_runaways_total\{filter="runaway"\} 1/)
    expect(metrics).toMatch(/weft_filter_failures_total\{filter="runaway"\} 2/)
    expect(metrics).toMatch(/weft_filter_vm_restarts_total\{filter="runaway"\} 2/)
    expect(logger.lines.filter((l) => l.msg === 'filter failed')).toHaveLength(2)
  })

  it("dispatches a filter's proxy_http_call through the mesh: the proxy's outbound side, with identity and trace", async () => {
    const authzSeen: Array<Record<string, string | string[] | undefined>> = []
    const authz = await listen((req, res) => {
      authzSeen.push({ url: req.url, ...req.headers })
      res.writeHead(200)
      res.end('granted')
    })
    open.push(authz)
    const snapshot: Snapshot = { ...withChain([attach('http-call')]), outbound: { authz: outboundService('authz', [endpoint('a1', authz.port)]) } }
    const { port } = await sidecar(() => snapshot, { upstream: fetchUpstream, identity: { tokenFor: async (audience) => `svid-for-${audience}` } })
    appSeen.length = 0
    const r = await rawRequest(port, '/x')
    expect(r.status).toBe(200)
    expect(appSeen[0]!.headers['x-authz']).toBe('granted')
    expect(authzSeen[0]).toMatchObject({ url: '/check', 'weft-identity': 'svid-for-spiffe://acme.weft/svc/authz' })
    expect(authzSeen[0]!.traceparent).toMatch(/^00-/)
  })

  it("exports a filter's counter, gauge and histogram in the proxy's /metrics", async () => {
    const snapshot = withChain([attach('abi-conformance')])
    const { port, core } = await sidecar(() => snapshot)
    expect((await rawRequest(port, '/x', { headers: { 'x-case': 'metrics' } })).status).toBe(200)
    const text = core.metrics.render()
    expect(text).toContain('# TYPE weft_filter_conformance_requests_total counter\nweft_filter_conformance_requests_total 2\n')
    expect(text).toContain('# TYPE weft_filter_conformance_in_flight gauge\nweft_filter_conformance_in_flight 4\n')
    expect(text).toContain('# TYPE weft_filter_conformance_latency_ms summary\nweft_filter_conformance_latency_ms_sum 30\nweft_filter_conformance_latency_ms_count 2\n')
  })

  it('drives proxy_on_tick from traffic once the period the filter asked for has passed', async () => {
    let clock = 1_000_000
    const snapshot = withChain([attach('abi-probe')])
    const { port, core } = await sidecar(() => snapshot, { now: () => clock })
    await rawRequest(port, '/x')
    expect(core.metrics.render()).toContain('weft_filter_probe_ticks_total 0')
    clock += 100
    await rawRequest(port, '/x')
    expect(core.metrics.render()).toContain('weft_filter_probe_ticks_total 0')
    clock += 200
    await rawRequest(port, '/x')
    expect(core.metrics.render()).toContain('weft_filter_probe_ticks_total 1')
  })

  it('fails requests by policy while a filter cannot load, and retries the load a few seconds later', async () => {
    let clock = 5_000_000
    let attempts = 0
    const snapshot = withChain([attach('response-header', { tag: 'r' })])
    const { port } = await sidecar(() => snapshot, {
      now: () => clock,
      filterModules: async (sha256) => {
        attempts++
        if (attempts === 1) throw new Error('the filter registry answered 503')
        return modules.get(sha256)!
      },
    })
    const first = await rawRequest(port, '/x')
    expect(first.status).toBe(503)
    expect(first.body).toContain('could not load')
    clock += 1_000
    expect((await rawRequest(port, '/x')).status).toBe(503)
    expect(attempts).toBe(1)
    clock += 5_000
    const retried = await rawRequest(port, '/x')
    expect(attempts).toBe(2)
    expect(retried.status).toBe(200)
    expect(retried.headers['x-filter-order']).toBe('r')
  })

  it('prepareFilters loads a new chain when its snapshot arrives, before any request, and the next request uses it', async () => {
    let snapshot = withChain([attach('response-header', { tag: 'p1' })])
    const asked: string[] = []
    const { port, core } = await sidecar(() => snapshot, {
      filterModules: async (sha256) => {
        asked.push(sha256)
        return modules.get(sha256)!
      },
    })
    await core.prepareFilters(snapshot)
    expect(asked).toEqual([digests['response-header']])
    expect((await rawRequest(port, '/x')).headers['x-filter-order']).toBe('p1')
    snapshot = withChain([attach('body-rewrite')])
    await core.prepareFilters(snapshot)
    expect(asked).toEqual([digests['response-header'], digests['body-rewrite']])
    const r = await rawRequest(port, '/x')
    expect(r.headers['x-filter-order']).toBeUndefined()
    expect(r.body).toBe('<<hello world|11>>')
  })
})
