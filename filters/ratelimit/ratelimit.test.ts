import { beforeAll, describe, expect, it } from 'vitest'
import { createFilterHost, type FilterHost, type FilterResult } from '../../edge-proxy/src/wasm/filter-host'
import { SharedData } from '../../edge-proxy/src/wasm/shared-data'
import { FilterConfigError } from '../../edge-proxy/src/wasm/wasm-errors'
import { compileFilter } from '../test-helpers'

let module: WebAssembly.Module
beforeAll(async () => {
  module = await compileFilter('ratelimit')
})

/** A host on a clock the test moves by hand: the guest reads time through proxy_get_current_time_nanoseconds. */
function limiter(config: object, sharedData?: SharedData) {
  const clock = { ms: Date.UTC(2026, 0, 1) }
  const host = createFilterHost({ module, rootId: 'ratelimit', config: JSON.stringify(config), now: () => clock.ms, sharedData })
  return { host, clock }
}

/** One request through the filter, with its response phase when it passed. */
async function send(host: FilterHost, headers: Record<string, string> = {}) {
  const stream = host.startStream({ method: 'GET', path: '/orders' })
  const request = await stream.onRequestHeaders(headers)
  let response: FilterResult | undefined
  if (request.action === 'continue') response = await stream.onResponseHeaders({ 'content-type': 'text/plain' }, { status: 200 })
  stream.finish()
  return { request, response }
}

const rateHeaders = (h: Headers) => [h.get('ratelimit-limit'), h.get('ratelimit-remaining'), h.get('ratelimit-reset')]

describe('ratelimit filter', () => {
  it('many distinct keys (one per client) cannot grow shared data past its limit; active buckets keep their state', async () => {
    const sharedData = new SharedData({ maxEntries: 64, maxBytes: 1 << 20 })
    const { host } = limiter({ key: { header: 'x-user' }, rate: 1, periodSeconds: 60, burst: 1 }, sharedData)
    expect((await send(host, { 'x-user': 'ada' })).request.action).toBe('continue')
    for (let i = 0; i < 1000; i++) {
      // ada, kept at zero tokens, stays limited: her bucket is read on each of her requests, so it is not the one dropped.
      if (i % 50 === 0) expect((await send(host, { 'x-user': 'ada' })).request.action).toBe('respond')
      expect((await send(host, { 'x-user': `user-${i}` })).request.action).toBe('continue')
    }
    expect(sharedData.size).toBeLessThanOrEqual(64)
    expect(sharedData.evictions).toBeGreaterThan(900)
  })

  it('refills at rate/period up to burst, with RateLimit-* on passes and a 429 problem+json when empty', async () => {
    const { host, clock } = limiter({ key: { header: 'x-user' }, rate: 2, periodSeconds: 1, burst: 3 })
    const user = { 'x-user': 'ada' }
    // A full bucket of 3; each pass reports what is left and how long until full again at 2 tokens/s.
    for (const [remaining, reset] of [['2', '1'], ['1', '1'], ['0', '2']]) {
      const { request, response } = await send(host, user)
      expect(request.action).toBe('continue')
      expect(rateHeaders(response!.headers)).toEqual(['3', remaining, reset])
    }
    const denied = (await send(host, user)).request
    expect(denied.action).toBe('respond')
    if (denied.action !== 'respond') return
    expect(denied.status).toBe(429)
    expect(denied.details).toBe('rate_limited')
    // One token takes 0.5 s; Retry-After is whole seconds, rounded up.
    expect(denied.headers.get('retry-after')).toBe('1')
    expect(rateHeaders(denied.headers)).toEqual(['3', '0', '2'])
    expect(denied.headers.get('content-type')).toBe('application/problem+json')
    expect(JSON.parse(new TextDecoder().decode(denied.body))).toMatchObject({ status: 429, title: 'Too Many Requests' })

    clock.ms += 499
    expect((await send(host, user)).request.action).toBe('respond')
    clock.ms += 1
    expect((await send(host, user)).request.action).toBe('continue')
    expect((await send(host, user)).request.action).toBe('respond')

    // A long idle refills to burst, never beyond it.
    clock.ms += 60_000
    const after = await send(host, user)
    expect(rateHeaders(after.response!.headers)).toEqual(['3', '2', '1'])
  })

  it('keeps one bucket per key value; requests without the key share one; perKey overrides the limit', async () => {
    const { host } = limiter({ key: { header: 'x-user' }, rate: 1, periodSeconds: 60, perKey: { vip: { burst: 3 } } })
    expect((await send(host, { 'x-user': 'a' })).request.action).toBe('continue')
    expect((await send(host, { 'x-user': 'a' })).request.action).toBe('respond')
    expect((await send(host, { 'x-user': 'b' })).request.action).toBe('continue')
    expect((await send(host, {})).request.action).toBe('continue')
    expect((await send(host, {})).request.action).toBe('respond')
    // Retry-After at 1 token per 60 s.
    const denied = (await send(host, { 'x-user': 'b' })).request
    expect(denied.action === 'respond' && denied.headers.get('retry-after')).toBe('60')
    for (let i = 0; i < 3; i++) expect((await send(host, { 'x-user': 'vip' })).request.action).toBe('continue')
    expect((await send(host, { 'x-user': 'vip' })).request.action).toBe('respond')
  })

  it('stores a long key value under its hash: still one bucket per value, and a small shared-data key', async () => {
    const shared = new SharedData()
    const { host } = limiter({ key: { header: 'x-user' }, rate: 1, periodSeconds: 60, domain: 'long' }, shared)
    const long = 'u'.repeat(5000)
    expect((await send(host, { 'x-user': long })).request.action).toBe('continue')
    expect((await send(host, { 'x-user': long })).request.action).toBe('respond')
    expect((await send(host, { 'x-user': `${long}x` })).request.action).toBe('continue')
    expect(shared.get('ratelimit/long/k:' + long)).toBeUndefined()
  })

  it('keys by a claim jwt-auth forwarded, and by a cookie', async () => {
    const byClaim = limiter({ key: { claim: 'sub' }, rate: 1, periodSeconds: 60 }).host
    expect((await send(byClaim, { 'x-jwt-claim-sub': 'u1' })).request.action).toBe('continue')
    expect((await send(byClaim, { 'x-jwt-claim-sub': 'u1' })).request.action).toBe('respond')
    expect((await send(byClaim, { 'x-jwt-claim-sub': 'u2' })).request.action).toBe('continue')
    const byCookie = limiter({ key: { cookie: 'uid' }, rate: 1, periodSeconds: 60 }).host
    expect((await send(byCookie, { cookie: 'theme=dark; uid=7' })).request.action).toBe('continue')
    expect((await send(byCookie, { cookie: 'uid=7' })).request.action).toBe('respond')
    expect((await send(byCookie, { cookie: 'uid=8' })).request.action).toBe('continue')
  })

  it('shares buckets through shared data: two VMs on one store draw from the same tokens', async () => {
    const shared = new SharedData()
    const a = limiter({ key: { header: 'x-user' }, rate: 1, periodSeconds: 60, burst: 2 }, shared).host
    const b = limiter({ key: { header: 'x-user' }, rate: 1, periodSeconds: 60, burst: 2 }, shared).host
    expect((await send(a, { 'x-user': 'u' })).request.action).toBe('continue')
    expect((await send(b, { 'x-user': 'u' })).request.action).toBe('continue')
    expect((await send(a, { 'x-user': 'u' })).request.action).toBe('respond')
  })

  it('re-reads and retries when another writer changes the bucket between its read and its write (CAS)', async () => {
    // When armed, another worker takes a token between this filter's get and its next set.
    class RacingSharedData extends SharedData {
      armed = false
      mismatches = 0
      override set(key: string, value: Uint8Array, cas: number): number {
        if (this.armed) {
          this.armed = false
          const current = this.get(key)!
          const view = new DataView(current.value.buffer.slice(0))
          view.setFloat64(0, view.getFloat64(0, true) - 1, true)
          super.set(key, new Uint8Array(view.buffer), current.cas)
        }
        const status = super.set(key, value, cas)
        if (status !== 0) this.mismatches += 1
        return status
      }
    }
    const shared = new RacingSharedData()
    const { host } = limiter({ key: { header: 'x-user' }, rate: 1, periodSeconds: 3600, burst: 5 }, shared)
    const first = await send(host, { 'x-user': 'u' })
    expect(rateHeaders(first.response!.headers)[1]).toBe('4')
    // Second request: its first write loses to the racer (4 → 3), it retries on the fresh value → 2 left.
    shared.armed = true
    const second = await send(host, { 'x-user': 'u' })
    expect(shared.mismatches).toBe(1)
    expect(rateHeaders(second.response!.headers)[1]).toBe('2')
    // Third: loses once more (2 → 1), retries → 0 left; then the bucket is empty.
    shared.armed = true
    const third = await send(host, { 'x-user': 'u' })
    expect(shared.mismatches).toBe(2)
    expect(rateHeaders(third.response!.headers)[1]).toBe('0')
    expect((await send(host, { 'x-user': 'u' })).request.action).toBe('respond')
  })

  it.each([
    ['no rate', {}],
    ['zero rate', { rate: 0 }],
    ['burst below one', { rate: 1, burst: 0.5 }],
    ['unknown key source', { rate: 1, key: { query: 'u' } }],
    ['perKey without key', { rate: 1, perKey: { a: { rate: 2 } } }],
    ['bad perKey limit', { rate: 1, key: { header: 'x' }, perKey: { a: { rate: -1 } } }],
  ])('rejects a configuration with %s', (_case, config) => {
    expect(() => createFilterHost({ module, rootId: 'ratelimit', config: JSON.stringify(config) })).toThrow(FilterConfigError)
  })
})
