import { describe, expect, it } from 'vitest'
import type { Compiled } from '../snapshot/types'
import { applicableFaults, compileFaults, rollFault, rollFaults, type ApplicableFault } from './fault'
import type { MeshRequest } from './mesh-request'
import { FaultPolicySpec } from './schemas'

/** mulberry32: a small seeded PRNG, so every draw sequence here is reproducible. */
function seeded(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
const sequence = (...draws: number[]) => {
  let i = 0
  return () => draws[i++]!
}

const ORDERS = 'spiffe://acme.weft/svc/orders'
let created = Date.UTC(2024, 0, 1)
// Each policy a second younger than the last: applicable faults come oldest first.
const policy = (name: string, spec: unknown): Compiled<FaultPolicySpec> => ({ name, createdAt: new Date((created += 1000)).toISOString(), spec: FaultPolicySpec.parse(spec) })
const req = (method: string, path: string): MeshRequest => ({ method, path, headers: {}, query: {} })

describe('applicableFaults', () => {
  const policies = [
    policy('slow-charges', { match: { path: { type: 'PathPrefix', value: '/charge' }, methods: ['POST'] }, delay: { percent: 50, fixedDelay: '1.5s' } }),
    policy('orders-chaos', { match: { sources: ['spiffe://acme.weft/svc/orders'] }, abort: { percent: 10, httpStatus: 503 } }),
    policy('everything', { delay: { percent: 1, fixedDelay: '10ms' }, abort: { percent: 1, httpStatus: 500 } }),
  ]

  it.each<[string, MeshRequest, string | null, string[]]>([
    ['POST /charge from orders: all three', req('POST', '/charge'), ORDERS, ['slow-charges', 'orders-chaos', 'everything']],
    ['GET /charge from orders: not the POST-only fault', req('GET', '/charge'), ORDERS, ['orders-chaos', 'everything']],
    ['POST /charge anonymously: sources match no unauthenticated caller', req('POST', '/charge'), null, ['slow-charges', 'everything']],
    ['POST /charges: the prefix matches by element', req('POST', '/charges'), 'spiffe://acme.weft/svc/billing', ['everything']],
  ])('%s', (_, request, principal, names) => {
    expect(applicableFaults(policies, request, principal).map((f) => f.policy)).toEqual(names)
  })

  it('converts durations and describes the fault', () => {
    const [fault] = applicableFaults(policies, req('POST', '/charge'), null)
    expect(fault).toEqual({
      policy: 'slow-charges',
      delay: { percent: 50, delayMs: 1500 },
      abort: null,
      reason: 'FaultPolicy "slow-charges": delay 1.5s for 50%, applies to PathPrefix "/charge" and method in [POST]',
    })
  })

  it('skips a policy whose path regex is unsafe', () => {
    const faults = compileFaults([policy('bad', { match: { path: { type: 'RegularExpression', value: '(.+)+' } }, abort: { percent: 100, httpStatus: 500 } })])
    expect(faults.skipped).toHaveLength(1)
    expect(faults.applicable(req('GET', '/'), null)).toEqual([])
  })
})

describe('rollFault', () => {
  const both: ApplicableFault = { policy: 'f', delay: { percent: 25, delayMs: 100 }, abort: { percent: 10, httpStatus: 503 }, reason: '' }

  it.each<[string, number[], number, number | null]>([
    ['both draws under: delay and abort', [0.2, 0.05], 100, 503],
    ['delay draw at the edge is not injected (draw × 100 < percent)', [0.25, 0.5], 0, null],
    ['abort only', [0.9, 0.0999], 0, 503],
    ['neither', [0.99, 0.99], 0, null],
  ])('%s', (_, draws, delayMs, abortStatus) => {
    expect(rollFault(both, sequence(...draws))).toMatchObject({ delayMs, abortStatus })
  })

  it('never injects 0% and always injects 100%', () => {
    const random = seeded(1)
    const never: ApplicableFault = { policy: 'n', delay: { percent: 0, delayMs: 5 }, abort: { percent: 0, httpStatus: 500 }, reason: '' }
    const always: ApplicableFault = { policy: 'a', delay: { percent: 100, delayMs: 5 }, abort: { percent: 100, httpStatus: 500 }, reason: '' }
    for (let i = 0; i < 1000; i++) {
      expect(rollFault(never, random)).toMatchObject({ delayMs: 0, abortStatus: null })
      expect(rollFault(always, random)).toMatchObject({ delayMs: 5, abortStatus: 500 })
    }
  })

  it('is deterministic for a seed and injects close to the percentage', () => {
    const rolls = (seed: number) => {
      const random = seeded(seed)
      return Array.from({ length: 10_000 }, () => rollFault(both, random))
    }
    expect(rolls(42)).toEqual(rolls(42))
    const sample = rolls(7)
    const delayed = sample.filter((r) => r.delayMs > 0).length / sample.length
    const aborted = sample.filter((r) => r.abortStatus !== null).length / sample.length
    expect(Math.abs(delayed - 0.25)).toBeLessThan(0.02)
    expect(Math.abs(aborted - 0.1)).toBeLessThan(0.02)
  })

  it('rollFaults adds delays and keeps the first abort', () => {
    const a: ApplicableFault = { policy: 'a', delay: { percent: 100, delayMs: 100 }, abort: { percent: 100, httpStatus: 503 }, reason: '' }
    const b: ApplicableFault = { policy: 'b', delay: { percent: 100, delayMs: 50 }, abort: { percent: 100, httpStatus: 500 }, reason: '' }
    const result = rollFaults([a, b], seeded(3))
    expect(result.delayMs).toBe(150)
    expect(result.abort).toMatchObject({ policy: 'a', abortStatus: 503 })
    expect(result.rolls).toHaveLength(2)
  })
})
