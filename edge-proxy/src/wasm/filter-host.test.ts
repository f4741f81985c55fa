import { beforeAll, describe, expect, it } from 'vitest'
import { compileTestFilter } from '../../../filters/test-helpers'
import { silentLogger } from './filter-logger'
import { bytesToByteString } from './header-map'
import { createFilterHost, type FilterResult } from './filter-host'
import { SharedData } from './shared-data'
import { FilterLoadError, UnknownImportError } from './wasm-errors'

let probe: WebAssembly.Module
let trap: WebAssembly.Module
let unknownImport: WebAssembly.Module
let httpCaller: WebAssembly.Module

beforeAll(async () => {
  ;[probe, trap, unknownImport, httpCaller] = await Promise.all([
    compileTestFilter('abi-probe'),
    compileTestFilter('trap-filter'),
    compileTestFilter('unknown-import'),
    compileTestFilter('http-call'),
  ])
})

const request = {
  method: 'POST',
  path: '/orders/7?x=1',
  authority: 'orders.weft',
  sourcePrincipal: 'spiffe://weft/t/acme/svc/frontend',
  destinationService: 'orders',
}

describe('proxy-wasm host through a real guest (abi-probe)', () => {
  it('serves properties, whole-map get/set and single-value operations as the spec describes', async () => {
    const host = createFilterHost({ module: probe, rootId: 'probe-root' })
    const stream = host.startStream(request)
    // As a client's UTF-8 arrives in fetch Headers: one Latin-1 char per byte.
    const wireEcho = bytesToByteString(new TextEncoder().encode('Zoë 🚀'))
    const result = await stream.onRequestHeaders([
      ['x-echo', wireEcho],
      ['x-replace', 'old1'],
      ['x-replace', 'old2'],
      ['x-remove', 'gone'],
      ['set-cookie', 'a=1'],
      ['set-cookie', 'b=2'],
    ])
    stream.finish()
    expect(result.action).toBe('continue')
    if (result.action !== 'continue') return
    const h = result.headers
    // 4 pseudo-headers + 6 headers, unchanged through get_header_map_pairs → set_header_map_pairs.
    expect(h.get('x-probe-count')).toBe('10')
    expect(h.get('x-probe-num-headers')).toBe('10')
    expect(h.get('x-probe-path')).toBe('/orders/7?x=1')
    expect(h.get('x-probe-method')).toBe('POST')
    expect(h.get('x-probe-principal')).toBe('spiffe://weft/t/acme/svc/frontend')
    expect(h.get('x-probe-service')).toBe('orders')
    expect(h.get('x-probe-root')).toBe('probe-root')
    expect(h.get('x-probe-missing')).toBe('none')
    expect(h.get('x-probe-echo')).toBe(wireEcho)
    expect(h.get('x-replace')).toBe('new')
    expect(h.has('x-remove')).toBe(false)
    expect(h.getSetCookie()).toEqual(['a=1', 'b=2'])
    expect(result.pseudoHeaders[':authority']).toBe('orders.weft')
  })

  it('a result\'s list handed to the next filter gives it the map a Headers would have (repeats combined, sorted)', async () => {
    const host = createFilterHost({ module: probe, rootId: 'probe-root' })
    const first = host.startStream(request)
    const result = await first.onRequestHeaders([['x-b', ' 2 '], ['x-a', '1'], ['x-a', '3'], ['set-cookie', 'a=1'], ['set-cookie', 'b=2']])
    first.finish()
    if (result.action !== 'continue') throw new Error('probe refused')
    expect(result.list.pairs).toEqual([...result.headers.entries()])
    const viaList = host.startStream(request)
    const viaHeaders = host.startStream(request)
    const a = await viaList.onRequestHeaders(result.list)
    const b = await viaHeaders.onRequestHeaders(result.headers)
    viaList.finish()
    viaHeaders.finish()
    if (a.action !== 'continue' || b.action !== 'continue') throw new Error('probe refused')
    // x-probe-counter counts the probe's requests, so it differs between the two streams; all else is the same.
    const withoutCounter = (pairs: Array<[string, string]>) => pairs.filter(([k]) => k !== 'x-probe-counter')
    expect(withoutCounter(a.list.pairs)).toEqual(withoutCounter(b.list.pairs))
    expect(a.headers.get('x-a')).toBe('1, 3')
    expect(a.headers.getSetCookie()).toEqual(['a=1', 'b=2'])
  })

  it('shared data: a write with a stale CAS token is refused, and the store outlives a VM', async () => {
    const sharedData = new SharedData()
    const run = async () => {
      const host = createFilterHost({ module: probe, rootId: 'probe', sharedData })
      const stream = host.startStream(request)
      const result = await stream.onRequestHeaders({})
      stream.finish()
      return result.headers
    }
    const first = await run()
    expect(first.get('x-probe-counter')).toBe('1')
    expect(first.get('x-probe-cas')).toBe('ok,ok') // first write: no token yet, both unconditional
    const second = await run()
    expect(second.get('x-probe-counter')).toBe('2')
    expect(second.get('x-probe-cas')).toBe('ok,conflict')
  })

  it('sends a local response with its headers and body', async () => {
    const host = createFilterHost({ module: probe, rootId: 'probe' })
    const stream = host.startStream(request)
    const result = await stream.onRequestHeaders({ 'x-probe-respond': '1' })
    stream.finish()
    expect(result).toMatchObject({ action: 'respond', status: 418, details: 'probe_teapot' })
    if (result.action !== 'respond') return
    expect(result.headers.get('x-local')).toBe('yes')
    expect(new TextDecoder().decode(result.body)).toBe('short and stout')
  })

  it('a Pause resumed by proxy_continue_stream continues with the filter\'s changes', async () => {
    const host = createFilterHost({ module: probe, rootId: 'probe' })
    const stream = host.startStream(request)
    const result = await stream.onRequestHeaders({ 'x-probe-pause-continue': '1' })
    stream.finish()
    expect(result.action).toBe('continue')
    expect(result.headers.get('x-probe-continued')).toBe('yes')
  })

  it('onRequestHeadersNow answers at once when the filter continues or responds, and with a promise when it pauses', async () => {
    const host = createFilterHost({ module: probe, rootId: 'probe' })
    const plain = host.startStream(request)
    const now = plain.onRequestHeadersNow({ 'x-a': '1' })
    plain.finish()
    expect(now).not.toBeInstanceOf(Promise)
    expect((now as FilterResult).action).toBe('continue')
    const answering = host.startStream(request)
    const local = answering.onRequestHeadersNow({ 'x-probe-respond': '1' })
    answering.finish()
    expect(local).toMatchObject({ action: 'respond', status: 418 })
    const pausing = host.startStream(request)
    const later = pausing.onRequestHeadersNow({ 'x-probe-pause-continue': '1' })
    expect(later).toBeInstanceOf(Promise)
    const result = await later
    pausing.finish()
    expect(result.action).toBe('continue')
    expect(result.headers.get('x-probe-continued')).toBe('yes')
  })

  it('a Pause never resumed fails by policy after the pause deadline', async () => {
    const host = createFilterHost({ module: probe, rootId: 'probe', pauseTimeoutMs: 20 })
    const stream = host.startStream(request)
    const result = await stream.onRequestHeaders({ 'x-probe-pause': '1' })
    stream.finish()
    expect(result).toMatchObject({ action: 'respond', status: 503 })
    expect(result.failure?.error).toMatch(/paused for more than 20 ms/)
  })

  it('hands the request body to proxy_on_request_body and forwards it as the filter rewrote it', async () => {
    const host = createFilterHost({ module: probe, rootId: 'probe' })
    const stream = host.startStream(request)
    await stream.onRequestHeaders({ 'content-type': 'text/plain' })
    const result = await stream.onRequestBody(new TextEncoder().encode('hello'), { endOfStream: true })
    stream.finish()
    expect(result.action).toBe('continue')
    expect(new TextDecoder().decode(result.body)).toBe('probe:hello:5')
  })

  it('runs response headers in the same stream context', async () => {
    const host = createFilterHost({ module: probe, rootId: 'probe' })
    const stream = host.startStream(request)
    await stream.onRequestHeaders({})
    const result = await stream.onResponseHeaders({ 'content-type': 'text/plain' }, { status: 200 })
    stream.finish()
    if (result.action !== 'continue') throw new Error(`expected continue, got ${result.action}`)
    expect(result.headers.get('x-probe-response')).toBe('2') // :status + content-type
    expect(result.pseudoHeaders[':status']).toBe('200')
  })
})

describe('memory, ticks and metrics', () => {
  it('survives guest memory growth inside host calls (views re-created): a 1 MiB header round-trips', async () => {
    const host = createFilterHost({ module: probe, rootId: 'probe' })
    const big = 'v'.repeat(1024 * 1024)
    const stream = host.startStream(request)
    const result = await stream.onRequestHeaders({ 'x-echo': big })
    stream.finish()
    expect(result.action).toBe('continue')
    expect(result.headers.get('x-probe-echo')).toBe(big)
  })

  it('records the tick period, drives proxy_on_tick, and keeps counter, gauge and histogram', () => {
    const host = createFilterHost({ module: probe, rootId: 'probe' })
    expect(host.tickPeriodMs).toBe(250)
    host.tick()
    host.tick()
    expect(host.metrics.byName('probe_ticks_total')).toMatchObject({ kind: 'counter', value: 2n })
    expect(host.metrics.byName('probe_gauge')).toMatchObject({ kind: 'gauge', value: 5n })
    expect(host.metrics.byName('probe_latency_ms')).toMatchObject({ kind: 'histogram', count: 2, sum: 60n })
  })
})

describe('HTTP calls (proxy_http_call → Pause → proxy_on_http_call_response)', () => {
  const enc = new TextEncoder()

  it('dispatches through the injected client and continues with what the answer added', async () => {
    const calls: unknown[] = []
    const host = createFilterHost({
      module: httpCaller,
      rootId: 'authz',
      httpCall: async (call) => {
        calls.push(call)
        return { headers: [[':status', '200']], body: enc.encode('allowed') }
      },
    })
    const stream = host.startStream(request)
    const result = await stream.onRequestHeaders({})
    stream.finish()
    expect(result.action).toBe('continue')
    expect(result.headers.get('x-authz')).toBe('allowed')
    expect(calls).toMatchObject([
      { upstream: 'authz', headers: [[':method', 'GET'], [':path', '/check'], [':authority', 'authz']], timeoutMs: 1000 },
    ])
  })

  it('lets the answer turn into a local response', async () => {
    const host = createFilterHost({
      module: httpCaller,
      rootId: 'authz',
      httpCall: async () => ({ headers: [[':status', '403']], body: new Uint8Array(0) }),
    })
    const stream = host.startStream(request)
    const result = await stream.onRequestHeaders({})
    stream.finish()
    expect(result).toMatchObject({ action: 'respond', status: 403, details: 'authz_denied' })
  })

  it('reports a failed call to the filter with zero headers', async () => {
    const host = createFilterHost({
      module: httpCaller,
      rootId: 'authz',
      httpCall: async () => {
        throw new Error('connect refused')
      },
    })
    const stream = host.startStream(request)
    const result = await stream.onRequestHeaders({})
    stream.finish()
    expect(result).toMatchObject({ action: 'respond', status: 503, details: 'authz_unavailable' })
    expect(result.failure).toBeUndefined()
  })

  it('answers BAD_ARGUMENT (unknown upstream) when the proxy gave the host no HTTP client', async () => {
    const host = createFilterHost({ module: httpCaller, rootId: 'authz' })
    const stream = host.startStream(request)
    const result = await stream.onRequestHeaders({})
    stream.finish()
    expect(result).toMatchObject({ action: 'respond', status: 500, details: 'authz_dispatch_failed' })
  })
})

describe('isolation: a trapping filter', () => {
  it('fails closed: 503 with Weft-Reason, counted, logged, and the VM re-instantiated', async () => {
    const errors: object[] = []
    const host = createFilterHost({
      module: trap,
      rootId: 'auth-like',
      failurePolicy: 'closed',
      logger: { ...silentLogger, error: (obj) => errors.push(obj) },
    })
    const bad = host.startStream(request)
    const failed = await bad.onRequestHeaders({ 'x-trap': '1' })
    bad.finish()
    expect(failed).toMatchObject({ action: 'respond', status: 503 })
    if (failed.action !== 'respond') return
    expect(failed.headers.get('weft-reason')).toBe('filter-failure')
    expect(failed.failure).toMatchObject({ filter: 'auth-like', policy: 'closed' })
    expect(failed.failure?.error).toMatch(/unreachable/)
    expect(errors).toHaveLength(1)

    const good = host.startStream(request)
    const ok = await good.onRequestHeaders({})
    good.finish()
    expect(ok.action).toBe('continue')
    expect(ok.headers.get('x-trap-filter')).toBe('ok')
    expect(host.stats).toEqual({ requests: 2, failures: 1, reinstantiations: 1 })
    // Metrics live outside the VM: the counter defined by the first VM keeps counting in the second.
    expect(host.metrics.byName('trap_filter_requests_total')?.value).toBe(2n)
  })

  it('fails open: the request continues unchanged, flagged with the failure', async () => {
    const host = createFilterHost({ module: trap, rootId: 'telemetry-like', failurePolicy: 'open' })
    const stream = host.startStream(request)
    const result = await stream.onRequestHeaders({ 'x-trap': '1', accept: 'text/html' })
    stream.finish()
    expect(result.action).toBe('continue')
    expect(result.headers.get('accept')).toBe('text/html')
    expect(result.headers.has('x-trap-filter')).toBe(false)
    expect(result.failure).toMatchObject({ policy: 'open' })
    expect(host.stats.failures).toBe(1)

    const next = host.startStream(request)
    expect((await next.onRequestHeaders({})).headers.get('x-trap-filter')).toBe('ok')
    next.finish()
    expect(host.stats.reinstantiations).toBe(1)
  })

  it('an AssemblyScript abort is logged through proxy_log and handled like a trap', async () => {
    const logs: string[] = []
    const host = createFilterHost({
      module: trap,
      rootId: 'x',
      logger: { ...silentLogger, error: (_obj, msg) => logs.push(msg) },
    })
    const stream = host.startStream(request)
    const result = await stream.onRequestHeaders({ 'x-abort': '1' })
    stream.finish()
    expect(result).toMatchObject({ action: 'respond', status: 503 })
    expect(logs[0]).toMatch(/^abort: boom at testdata\/trap-filter\/index\.ts:\d+:\d+$/)
    expect(host.stats.failures).toBe(1)
  })

  it('later callbacks of a failed stream fail by policy without touching the new VM', async () => {
    const host = createFilterHost({ module: trap, rootId: 'x', failurePolicy: 'closed' })
    const stream = host.startStream(request)
    await stream.onRequestHeaders({ 'x-trap': '1' })
    const response = await stream.onResponseHeaders({}, { status: 200 })
    stream.finish()
    expect(response).toMatchObject({ action: 'respond', status: 503 })
    expect(host.stats.failures).toBe(1)
  })
})

describe('loading', () => {
  it('fails on an unknown import, naming it', () => {
    expect(() => createFilterHost({ module: unknownImport, rootId: 'x' })).toThrow(UnknownImportError)
    expect(() => createFilterHost({ module: unknownImport, rootId: 'x' })).toThrow(/env\.weft_not_a_host_function/)
  })

  it('refuses a module without a proxy_abi_version marker', () => {
    const empty = new WebAssembly.Module(new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]))
    expect(() => createFilterHost({ module: empty, rootId: 'x' })).toThrow(FilterLoadError)
    expect(() => createFilterHost({ module: empty, rootId: 'x' })).toThrow(/proxy_abi_version_0_2_1/)
  })
})
