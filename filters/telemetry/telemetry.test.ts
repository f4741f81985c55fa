import { beforeAll, describe, expect, it } from 'vitest'
import { createFilterHost, type FilterHost } from '../../edge-proxy/src/wasm/filter-host'
import type { FilterLogger } from '../../edge-proxy/src/wasm/filter-logger'
import { FilterConfigError } from '../../edge-proxy/src/wasm/wasm-errors'
import { compileFilter } from '../test-helpers'

let module: WebAssembly.Module
beforeAll(async () => {
  module = await compileFilter('telemetry')
})

type LogRecord = { level: string; obj: object; msg: string }

function telemetry(config: object) {
  const clock = { ms: Date.UTC(2026, 0, 1) }
  const records: LogRecord[] = []
  const at = (level: string) => (obj: object, msg: string) => void records.push({ level, obj, msg })
  const logger: FilterLogger = { trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
  const host = createFilterHost({ module, rootId: 'telemetry', config: JSON.stringify(config), now: () => clock.ms, logger, failurePolicy: 'open' })
  return { host, clock, records }
}

/** A request taking `ms` on the host clock, answered with `status`. */
async function exchange(t: { host: FilterHost; clock: { ms: number } }, headers: Record<string, string>, status: number, ms: number) {
  const stream = t.host.startStream({ method: 'POST', path: '/orders?id=7' })
  expect((await stream.onRequestHeaders(headers)).action).toBe('continue')
  t.clock.ms += ms
  expect((await stream.onResponseHeaders({}, { status })).action).toBe('continue')
  stream.finish()
}

const value = (host: FilterHost, name: string) => host.metrics.byName(name)

describe('telemetry filter', () => {
  it('writes the access log line byte for byte: escapes, UTF-8, long paths, a long duration', async () => {
    const t = telemetry({ prefix: 'shop', logFields: { tenant: { header: 'x-tenant' } } })
    // :path crosses as a byte string: these are the UTF-8 bytes of "/ü/🚀".
    const paths = ['/a"b\\c\td\u0001e\u001f\n', '/\u00c3\u00bc/\u00f0\u009f\u009a\u0080', `/${'x'.repeat(600)}`]
    for (const path of paths) {
      const stream = t.host.startStream({ method: 'GE"T', path })
      await stream.onRequestHeaders({ 'x-tenant': 'a"c' })
      t.clock.ms += 12_345_678
      await stream.onResponseHeaders({}, { status: 204 })
      stream.finish()
    }
    const lines = t.records.filter((r) => r.level === 'info').map((r) => r.msg)
    const tail = ',"status":204,"duration_us":12345678000,"tenant":"a\\"c"}'
    expect(lines).toEqual([
      '{"msg":"access","method":"GE\\"T","path":"/a\\"b\\\\c\\td\\u0001e\\u001f\\n"' + tail,
      '{"msg":"access","method":"GE\\"T","path":"/ü/🚀"' + tail,
      `{"msg":"access","method":"GE\\"T","path":"/${'x'.repeat(600)}"` + tail,
    ])
  })

  it('counts requests by a header value and responses by status class, in the host metrics', async () => {
    const t = telemetry({ prefix: 'shop', countBy: { header: 'x-tenant' } })
    await exchange(t, { 'x-tenant': 'acme' }, 200, 1)
    await exchange(t, { 'x-tenant': 'acme' }, 201, 1)
    await exchange(t, { 'x-tenant': 'beta co' }, 503, 1)
    await exchange(t, {}, 404, 1)
    const counters = Object.fromEntries(t.host.metrics.snapshot().filter((m) => m.kind === 'counter').map((m) => [m.name, m.value]))
    expect(counters).toEqual({
      'shop_requests_total{x_tenant="acme"}': 2n,
      'shop_requests_total{x_tenant="beta_co"}': 1n,
      'shop_requests_total{x_tenant="none"}': 1n,
      'shop_responses_total{class="2xx"}': 2n,
      'shop_responses_total{class="5xx"}': 1n,
      'shop_responses_total{class="4xx"}': 1n,
    })
  })

  it('records request latency in a histogram, from the host clock', async () => {
    const t = telemetry({ prefix: 'shop' })
    await exchange(t, {}, 200, 12)
    await exchange(t, {}, 200, 30)
    const histogram = value(t.host, 'shop_request_duration_us')!
    expect(histogram.kind).toBe('histogram')
    expect(histogram.count).toBe(2)
    expect(histogram.sum).toBe(42_000n)
    expect(value(t.host, 'shop_requests_total')!.value).toBe(2n)
  })

  it('bounds label cardinality: past maxValues distinct values, new ones count as "other"', async () => {
    const t = telemetry({ prefix: 'p', countBy: { claim: 'sub' }, maxValues: 2, latency: false, accessLog: false })
    for (const sub of ['u1', 'u2', 'u3', 'u4', 'u1']) await exchange(t, { 'x-jwt-claim-sub': sub }, 200, 1)
    expect(t.host.metrics.snapshot().filter((m) => m.name.startsWith('p_requests_total')).map((m) => [m.name, m.value])).toEqual([
      ['p_requests_total{sub="u1"}', 2n],
      ['p_requests_total{sub="u2"}', 1n],
      ['p_requests_total{sub="other"}', 2n],
    ])
    expect(value(t.host, 'p_request_duration_us')).toBeUndefined()
    expect(t.records.filter((r) => r.level === 'info')).toEqual([])
  })

  it('writes one access-log record per request with the configured fields, JSON-escaped', async () => {
    const t = telemetry({ prefix: 'shop', logFields: { tenant: { header: 'x-tenant' }, user: { claim: 'sub' }, ab: { cookie: 'ab' } } })
    await exchange(t, { 'x-tenant': 'acme "inc"', 'x-jwt-claim-sub': 'u-1', cookie: 'ab=B' }, 200, 5)
    await exchange(t, {}, 500, 1)
    const access = t.records.filter((r) => r.level === 'info').map((r) => JSON.parse(r.msg))
    expect(access).toEqual([
      { msg: 'access', method: 'POST', path: '/orders?id=7', status: 200, duration_us: 5000, tenant: 'acme "inc"', user: 'u-1', ab: 'B' },
      { msg: 'access', method: 'POST', path: '/orders?id=7', status: 500, duration_us: 1000 },
    ])
  })

  it('still counts and logs a request that never got a response (answered by an earlier filter)', async () => {
    const t = telemetry({ prefix: 'shop' })
    const stream = t.host.startStream({ method: 'GET', path: '/' })
    await stream.onRequestHeaders({})
    stream.finish()
    expect(value(t.host, 'shop_responses_total{class="none"}')!.value).toBe(1n)
    expect(JSON.parse(t.records.find((r) => r.level === 'info')!.msg)).toMatchObject({ status: null })
  })

  it.each([
    ['a bad prefix', { prefix: 'a b' }],
    ['a bad countBy', { countBy: 'x-tenant' }],
    ['zero maxValues', { maxValues: 0 }],
    ['a bad log field', { logFields: { a: { query: 'x' } } }],
  ])('rejects a configuration with %s', (_case, config) => {
    expect(() => telemetry(config)).toThrow(FilterConfigError)
  })
})
