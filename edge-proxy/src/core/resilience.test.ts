import { describe, expect, it } from 'vitest'
import { endpoint } from '../../test-support/snapshots'
import { CircuitBreakers } from './circuit-breaker'
import { EndpointRegistry } from './endpoint-state'
import { OutlierDetector, outlierConfigOf } from './outlier-detector'
import { replayableBody } from './replayable-body'
import { RetryBudget } from './retry-budget'
import { backoffMs, isRetriable } from './retry-policy'

describe('OutlierDetector', () => {
  const config = outlierConfigOf({ outlierDetection: { consecutive5xx: 3, interval: '10s', baseEjectionTime: '30s', maxEjectionPercent: 50 } })!
  const states = (n: number) => {
    const registry = new EndpointRegistry()
    return Array.from({ length: n }, (_, i) => registry.stateOf('svc', endpoint(`e${i}`, 1000 + i)))
  }
  const fail = { kind: 'response', status: 503 } as const
  const ok = { kind: 'response', status: 200 } as const

  it('ejects after consecutive 5xx, for base × times ejected, and brings the endpoint back', () => {
    const d = new OutlierDetector()
    const [a] = states(4)
    expect(d.record(a!, fail, config, 4, 0)).toBe(false)
    expect(d.record(a!, { kind: 'local-error' }, config, 4, 1)).toBe(false)
    expect(d.record(a!, fail, config, 4, 2)).toBe(true)
    expect(a!.ejected).toBe(true)
    expect(a!.ejectedUntil).toBe(30_002)
    d.refresh(30_001)
    expect(a!.ejected).toBe(true)
    d.refresh(30_002)
    expect(a!.ejected).toBe(false)
    for (let i = 0; i < 3; i++) d.record(a!, fail, config, 4, 30_010 + i)
    expect(a!.ejectedUntil).toBe(30_012 + 60_000)
  })

  it('a success breaks the run; failures spread beyond the interval start a new one', () => {
    const d = new OutlierDetector()
    const [a] = states(2)
    d.record(a!, fail, config, 2, 0)
    d.record(a!, fail, config, 2, 1)
    d.record(a!, ok, config, 2, 2)
    d.record(a!, fail, config, 2, 3)
    d.record(a!, fail, config, 2, 4)
    expect(a!.ejected).toBe(false)
    d.record(a!, fail, config, 2, 20_000)
    expect(a!.ejected).toBe(false)
    expect(a!.consecutive5xx).toBe(1)
  })

  it('never ejects more than maxEjectionPercent of a service, but at least one', () => {
    const d = new OutlierDetector()
    const s = states(4)
    for (const st of s) for (let i = 0; i < 3; i++) d.record(st, fail, config, 4, i)
    expect(s.filter((x) => x.ejected)).toHaveLength(2)
    const low = outlierConfigOf({ outlierDetection: { consecutive5xx: 1, interval: '10s', baseEjectionTime: '30s', maxEjectionPercent: 10 } })!
    const d2 = new OutlierDetector()
    const t = states(3)
    for (const st of t) d2.record(st, fail, low, 3, 0)
    expect(t.filter((x) => x.ejected)).toHaveLength(1)
  })

  it('counts gateway errors separately and bumps the epoch on every change', () => {
    const gw = outlierConfigOf({ outlierDetection: { consecutiveGatewayErrors: 2, interval: '10s', baseEjectionTime: '1s', maxEjectionPercent: 100 } })!
    const d = new OutlierDetector()
    const [a] = states(1)
    d.record(a!, { kind: 'response', status: 500 }, gw, 1, 0)
    d.record(a!, { kind: 'response', status: 500 }, gw, 1, 0)
    expect(a!.ejected).toBe(false)
    const e0 = d.epoch
    d.record(a!, { kind: 'response', status: 502 }, gw, 1, 0)
    d.record(a!, { kind: 'response', status: 504 }, gw, 1, 0)
    expect(a!.ejected).toBe(true)
    expect(d.epoch).toBe(e0 + 1)
    d.refresh(1000)
    expect(d.epoch).toBe(e0 + 2)
  })

  it('defaults to five consecutive 5xx when no threshold is given', () => {
    expect(outlierConfigOf({ outlierDetection: { interval: '10s', baseEjectionTime: '30s', maxEjectionPercent: 10 } })).toMatchObject({ consecutive5xx: 5, consecutiveGatewayErrors: null })
    expect(outlierConfigOf({})).toBeNull()
  })
})

describe('RetryBudget', () => {
  it('allows percent of the requests in the window plus the per-second floor', () => {
    const b = new RetryBudget(10_000, 0)
    const budget = { percent: 20, minRetriesPerSecond: 0 }
    let allowed = 0
    for (let i = 0; i < 100; i++) {
      b.deposit(i)
      if (b.tryWithdraw(budget, i)) allowed++
    }
    expect(allowed).toBe(20)
    const floor = new RetryBudget(10_000, 0)
    let withFloor = 0
    for (let i = 0; i < 100; i++) if (floor.tryWithdraw({ percent: 0, minRetriesPerSecond: 1 }, i)) withFloor++
    expect(withFloor).toBe(10)
  })

  it('forgets traffic older than the window', () => {
    const b = new RetryBudget(10_000, 0)
    const budget = { percent: 100, minRetriesPerSecond: 0 }
    for (let i = 0; i < 10; i++) b.deposit(0)
    for (let i = 0; i < 10; i++) expect(b.tryWithdraw(budget, 0)).toBe(true)
    expect(b.tryWithdraw(budget, 0)).toBe(false)
    b.deposit(11_000)
    expect(b.tryWithdraw(budget, 11_000)).toBe(true)
    expect(b.tryWithdraw(budget, 11_000)).toBe(false)
  })
})

describe('retry policy', () => {
  const retry = { attempts: 2, retryOn: ['gateway-error', 'retriable-status-codes'] as ('gateway-error' | 'retriable-status-codes')[], retriableStatusCodes: [409] }
  it.each([
    [{ status: 500 }, false],
    [{ status: 503 }, true],
    [{ status: 409 }, true],
    [{ status: 404 }, false],
    [{ failure: 'reset' as const }, true],
    [{ failure: 'connect-failure' as const }, true],
    [{ failure: 'per-try-timeout' as const }, true],
  ])('gateway-error + retriable-status-codes: %j → %s', (outcome, expected) => {
    expect(isRetriable(retry, outcome)).toBe(expected)
  })

  it('connect-failure alone retries only connect failures', () => {
    const r = { attempts: 1, retryOn: ['connect-failure' as const] }
    expect(isRetriable(r, { failure: 'connect-failure' })).toBe(true)
    expect(isRetriable(r, { failure: 'reset' })).toBe(false)
    expect(isRetriable(r, { status: 503 })).toBe(false)
  })

  it('backs off exponentially with full jitter, capped', () => {
    const r = { attempts: 5, retryOn: ['5xx' as const], backoff: { base: '10ms', max: '50ms' } }
    expect(backoffMs(r, 1, () => 0.999)).toBeCloseTo(9.99)
    expect(backoffMs(r, 3, () => 0.5)).toBe(20)
    expect(backoffMs(r, 10, () => 0.999)).toBeCloseTo(49.95)
    expect(backoffMs({ attempts: 1, retryOn: ['5xx'] }, 1, () => 1)).toBe(25)
  })
})

describe('CircuitBreakers', () => {
  it('admits up to maxRequests, queues up to maxPendingRequests, refuses the rest', async () => {
    const b = new CircuitBreakers()
    const limits = { maxRequests: 2, maxPendingRequests: 1, maxRetries: 1 }
    expect(b.acquire('s', limits, null)).toBe('admitted')
    expect(b.acquire('s', limits, null)).toBe('admitted')
    const queued = b.acquire('s', limits, null)
    expect(queued).toBeInstanceOf(Promise)
    expect(b.acquire('s', limits, null)).toBe('circuit-open')
    b.release('s')
    expect(await queued).toBe('admitted')
    expect(b.active('s')).toBe(2)
    expect(b.tryStartRetry('s', limits)).toBe(true)
    expect(b.tryStartRetry('s', limits)).toBe(false)
  })

  it('lets a waiter leave the queue when its signal aborts', async () => {
    const b = new CircuitBreakers()
    const limits = { maxRequests: 1, maxPendingRequests: 5, maxRetries: Infinity }
    b.acquire('s', limits, null)
    const ac = new AbortController()
    const waiting = b.acquire('s', limits, ac.signal)
    ac.abort()
    expect(await waiting).toBe('aborted')
    b.release('s')
    expect(b.active('s')).toBe(0)
  })
})

describe('replayableBody', () => {
  const chunked = (parts: string[]) =>
    new Request('http://x/', {
      method: 'POST',
      body: new ReadableStream({
        start(c) {
          for (const p of parts) c.enqueue(new TextEncoder().encode(p))
          c.close()
        },
      }),
      duplex: 'half',
    } as RequestInit)

  it('buffers a small body of known length', async () => {
    const b = await replayableBody(new Request('http://x/', { method: 'POST', body: 'hello' }), 10)
    expect(b.replayable && new TextDecoder().decode(b.bytes!)).toBe('hello')
  })

  it('streams a body whose Content-Length is over the cap without reading it', async () => {
    const r = new Request('http://x/', { method: 'POST', body: 'x'.repeat(20) })
    const b = await replayableBody(r, 10)
    expect(b.replayable).toBe(false)
  })

  it('buffers a chunked body that ends within the cap, streams one that does not, losing nothing', async () => {
    const small = await replayableBody(chunked(['ab', 'cd']), 10)
    expect(small.replayable && new TextDecoder().decode(small.bytes!)).toBe('abcd')
    const big = await replayableBody(chunked(['abcdef', 'ghijkl', 'mnop']), 10)
    expect(big.replayable).toBe(false)
    if (!big.replayable) expect(await new Response(big.stream).text()).toBe('abcdefghijklmnop')
  })
})
