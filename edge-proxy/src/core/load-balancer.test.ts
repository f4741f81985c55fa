import { describe, expect, it } from 'vitest'
import { endpoint } from '../../test-support/snapshots'
import { seededRandom } from '../../test-support/loopback'
import { EndpointPool, type CandidateSet } from './endpoint-pool'
import { EndpointRegistry } from './endpoint-state'
import { leastRequest } from './least-request'
import { hashKeyOf, loadBalancerFor, type LoadBalancer } from './load-balancer'
import { buildMaglevTable, maglev } from './maglev'
import { randomChoice } from './random-choice'
import { roundRobin } from './round-robin'

function setOf(weights: number[], registry = new EndpointRegistry()): CandidateSet {
  const endpoints = weights.map((w, i) => endpoint(`e${i}`, 9000 + i, {}, { address: `10.0.0.${i + 1}`, weight: w }))
  return new EndpointPool('svc', endpoints, registry).candidates(0, null)
}

function counts(lb: LoadBalancer, set: CandidateSet, n: number, key: (i: number) => string | null = () => null, random = seededRandom(7)) {
  const out = new Map<string, number>()
  for (let i = 0; i < n; i++) {
    const c = lb.pick(set, { random, hashKey: key(i) })
    out.set(c.endpoint.id, (out.get(c.endpoint.id) ?? 0) + 1)
  }
  return Object.fromEntries([...out].sort())
}

describe('RoundRobin', () => {
  it('rotates evenly over equal weights', () => {
    const set = setOf([1, 1, 1])
    const order = Array.from({ length: 6 }, () => roundRobin.pick(set, { random: Math.random, hashKey: null }).endpoint.id)
    expect(new Set(order.slice(0, 3)).size).toBe(3)
    expect(order.slice(3)).toEqual(order.slice(0, 3))
  })

  it('follows endpoint weights exactly, spread out (smooth WRR)', () => {
    const set = setOf([5, 1, 1])
    const order = Array.from({ length: 7 }, () => roundRobin.pick(set, { random: Math.random, hashKey: null }).endpoint.id)
    expect(order).toEqual(['e0', 'e0', 'e1', 'e0', 'e2', 'e0', 'e0'])
    expect(counts(roundRobin, set, 700)).toEqual({ e0: 500, e1: 100, e2: 100 })
  })
})

describe('Random', () => {
  it('spreads by weight', () => {
    const c = counts(randomChoice, setOf([3, 1]), 4000)
    expect(c.e0! / 4000).toBeGreaterThan(0.72)
    expect(c.e0! / 4000).toBeLessThan(0.78)
  })

  it('is uniform when every weight is 0', () => {
    const c = counts(randomChoice, setOf([0, 0]), 2000)
    expect(c.e0! / 2000).toBeGreaterThan(0.45)
    expect(c.e0! / 2000).toBeLessThan(0.55)
  })
})

describe('LeastRequest (P2C over EWMA latency × in flight)', () => {
  it('spreads evenly across identical idle endpoints', () => {
    const c = counts(leastRequest, setOf([1, 1, 1, 1]), 4000)
    for (const n of Object.values(c)) expect(n / 4000).toBeGreaterThan(0.2)
  })

  it('avoids a slow endpoint and a loaded one', () => {
    const registry = new EndpointRegistry()
    const set = setOf([1, 1, 1], registry)
    const [fast, slow, busy] = set.list.map((c) => c.state)
    fast!.recordLatency(2, 1)
    slow!.recordLatency(200, 1)
    busy!.recordLatency(2, 1)
    busy!.inFlight = 100
    const c = counts(leastRequest, set, 3000)
    // Costs: fast 3, slow 201, busy 303. The worse of the two drawn never wins: busy never, the fast idle one every draw it is in (2 in 3).
    expect(c.e2).toBeUndefined()
    expect(c.e0! / 3000).toBeGreaterThan(0.62)
    expect(c.e0! / 3000).toBeLessThan(0.72)
  })

  it('peak EWMA: a slow sample counts at once, fast ones pull it down over time', () => {
    const registry = new EndpointRegistry()
    const s = setOf([1], registry).list[0]!.state
    s.recordLatency(10, 1_000)
    s.recordLatency(100, 1_001)
    expect(s.latencyMs).toBe(100)
    s.recordLatency(10, 11_001)
    expect(s.latencyMs).toBeGreaterThan(10)
    expect(s.latencyMs).toBeLessThan(100 * Math.exp(-1) + 10)
  })
})

describe('ConsistentHash (Maglev)', () => {
  it('maps a key to the same endpoint every time', () => {
    const set = setOf([1, 1, 1, 1, 1])
    for (const key of ['alice', 'bob', 'carol', 'dave']) {
      const first = maglev.pick(set, { random: Math.random, hashKey: key }).endpoint.id
      for (let i = 0; i < 20; i++) expect(maglev.pick(set, { random: Math.random, hashKey: key }).endpoint.id).toBe(first)
    }
  })

  it('spreads distinct keys evenly', () => {
    const c = counts(maglev, setOf([1, 1, 1]), 6000, (i) => `user-${i}`)
    for (const n of Object.values(c)) expect(Math.abs(n / 6000 - 1 / 3)).toBeLessThan(0.03)
  })

  it('gives each endpoint table slots in proportion to its weight', () => {
    const set = setOf([2, 1, 1])
    const table = buildMaglevTable(set.list)
    const share = [0, 0, 0]
    for (const i of table) share[i]!++
    expect(share[0]! / table.length).toBeCloseTo(0.5, 2)
    expect(share[1]! / table.length).toBeCloseTo(0.25, 2)
  })

  it('moves only the keys of an endpoint that leaves', () => {
    const all = setOf([1, 1, 1, 1])
    const fewer: CandidateSet = { list: all.list.filter((c) => c.endpoint.id !== 'e3'), scratch: {} }
    let moved = 0
    const keys = 4000
    for (let i = 0; i < keys; i++) {
      const before = maglev.pick(all, { random: Math.random, hashKey: `k${i}` }).endpoint.id
      const after = maglev.pick(fewer, { random: Math.random, hashKey: `k${i}` }).endpoint.id
      if (before !== 'e3' && before !== after) moved++
    }
    // Maglev trades a little disruption for balance; the paper measures a few percent.
    expect(moved / keys).toBeLessThan(0.06)
  })

  it('falls back to random without a key', () => {
    const c = counts(maglev, setOf([1, 1]), 2000, () => null)
    expect(c.e0! / 2000).toBeGreaterThan(0.4)
    expect(c.e0! / 2000).toBeLessThan(0.6)
  })

  it('reads the key from the configured header or cookie', () => {
    const byHeader = { loadBalancer: { type: 'ConsistentHash' as const, hashOn: { header: 'x-user' } } }
    const byCookie = { loadBalancer: { type: 'ConsistentHash' as const, hashOn: { cookie: 'session' } } }
    expect(hashKeyOf(byHeader, new Headers({ 'x-user': 'u1' }))).toBe('u1')
    expect(hashKeyOf(byHeader, new Headers())).toBeNull()
    expect(hashKeyOf(byCookie, new Headers({ cookie: 'a=1; session=s-42; b=2' }))).toBe('s-42')
    expect(hashKeyOf(byCookie, new Headers({ cookie: 'a=1' }))).toBeNull()
    expect(hashKeyOf({ loadBalancer: { type: 'RoundRobin' } }, new Headers({ 'x-user': 'u1' }))).toBeNull()
    expect(loadBalancerFor(undefined).type).toBe('RoundRobin')
    expect(loadBalancerFor(byHeader).type).toBe('ConsistentHash')
  })
})
