import { describe, expect, it } from 'vitest'
import type { OutboundService, SnapshotEndpoint } from '../snapshot/types'
import { chooseWeighted, pickBackendSubsets } from './backends'
import { RouteRule } from './schemas'

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

const endpoint = (id: string, labels: Record<string, string>, health: SnapshotEndpoint['health'] = 'healthy'): SnapshotEndpoint => ({
  id,
  address: '127.0.0.1',
  port: 15006,
  zone: null,
  labels,
  weight: 1,
  health,
})
const service = (name: string, endpoints: SnapshotEndpoint[]): OutboundService => ({
  name,
  spiffeId: `spiffe://acme.weft/svc/${name}`,
  protocol: 'http',
  port: 8080,
  labels: {},
  endpoints,
  routes: [],
  backendPolicy: null,
})

const payments = service('payments', [
  endpoint('p1', { version: 'v1', zone: 'a' }),
  endpoint('p2', { version: 'v1', zone: 'b' }),
  endpoint('p3', { version: 'v2' }),
  endpoint('p4', { version: 'v3' }, 'draining'),
])
const ledger = service('ledger', [endpoint('l1', {})])
const rule = (spec: unknown) => RouteRule.parse(spec)
const ids = (s: { endpoints: readonly SnapshotEndpoint[] }) => s.endpoints.map((e) => e.id)

describe('pickBackendSubsets', () => {
  it.each<[string, ReturnType<typeof rule> | null, [service: string, weight: number, endpoints: string[]][], boolean]>([
    ['no rule (pass-through): all endpoints, weight 1', null, [['payments', 1, ['p1', 'p2', 'p3']]], false],
    ['a rule without backendRefs: the same', rule({}), [['payments', 1, ['p1', 'p2', 'p3']]], false],
    [
      'a 90/10 split by version',
      rule({ backendRefs: [{ labels: { version: 'v1' }, weight: 90 }, { labels: { version: 'v2' }, weight: 10 }] }),
      [
        ['payments', 90, ['p1', 'p2']],
        ['payments', 10, ['p3']],
      ],
      false,
    ],
    ['all selector labels must match', rule({ backendRefs: [{ labels: { version: 'v1', zone: 'b' } }] }), [['payments', 1, ['p2']]], false],
    [
      'a subset selecting no endpoint is kept (its traffic is refused), the other still routes',
      rule({ backendRefs: [{ labels: { version: 'v1' }, weight: 50 }, { labels: { version: 'v9' }, weight: 50 }] }),
      [
        ['payments', 50, ['p1', 'p2']],
        ['payments', 50, []],
      ],
      false,
    ],
    ['only draining endpoints: used, since none is healthy', rule({ backendRefs: [{ labels: { version: 'v3' } }] }), [['payments', 1, ['p4']]], false],
    ['another service from the snapshot', rule({ backendRefs: [{ service: 'ledger' }] }), [['ledger', 1, ['l1']]], false],
    ['a service not in the snapshot: empty, unroutable', rule({ backendRefs: [{ service: 'nowhere' }] }), [['nowhere', 1, []]], true],
    [
      'every weight 0: unroutable',
      rule({ backendRefs: [{ labels: { version: 'v1' }, weight: 0 }] }),
      [['payments', 0, ['p1', 'p2']]],
      true,
    ],
    [
      'the only weighted subset is empty: unroutable',
      rule({ backendRefs: [{ labels: { version: 'v1' }, weight: 0 }, { labels: { version: 'v9' }, weight: 5 }] }),
      [
        ['payments', 0, ['p1', 'p2']],
        ['payments', 5, []],
      ],
      true,
    ],
  ])('%s', (_, r, expected, unroutable) => {
    const selection = pickBackendSubsets(r, payments, { payments, ledger })
    expect(selection.subsets.map((s) => [s.service, s.weight, ids(s)])).toEqual(expected)
    expect(selection.unroutable).toBe(unroutable)
    expect(selection.reason).toEqual(expect.any(String))
    for (const s of selection.subsets) expect(s.reason).toEqual(expect.any(String))
  })

  it('explains the split', () => {
    const selection = pickBackendSubsets(rule({ backendRefs: [{ labels: { version: 'v1' }, weight: 90 }, { labels: { version: 'v9' }, weight: 10 }] }), payments)
    expect(selection.reason).toBe('split by weight: payments{version=v1} 90%, payments{version=v9} 10%')
    expect(selection.subsets[1]!.reason).toBe('no endpoint of "payments" with version=v9: requests sent here are refused (no-healthy-upstream)')
  })
})

describe('chooseWeighted', () => {
  it('splits 90/10 within ±2 points over 10 000 seeded draws', () => {
    const items = [
      { name: 'v1', weight: 90 },
      { name: 'v2', weight: 10 },
    ]
    const random = seeded(2024)
    let v2 = 0
    for (let i = 0; i < 10_000; i++) if (chooseWeighted(items, random)!.name === 'v2') v2++
    expect(Math.abs(v2 / 10_000 - 0.1)).toBeLessThanOrEqual(0.02)
  })

  it('never chooses weight 0, whatever the draw', () => {
    const items = [
      { name: 'zero-first', weight: 0 },
      { name: 'one', weight: 1 },
      { name: 'zero-last', weight: 0 },
    ]
    for (const draw of [0, 0.5, 0.999999, 1]) expect(chooseWeighted(items, () => draw)!.name).toBe('one')
  })

  it.each([
    [0, 'a'],
    [0.2499, 'a'],
    [0.25, 'b'],
    [0.9999, 'b'],
  ])('is deterministic: draw %s picks %s from 1:3', (draw, name) => {
    expect(chooseWeighted([{ name: 'a', weight: 1 }, { name: 'b', weight: 3 }], () => draw)!.name).toBe(name)
  })

  it('returns null when nothing can be chosen', () => {
    expect(chooseWeighted([], Math.random)).toBeNull()
    expect(chooseWeighted([{ weight: 0 }], Math.random)).toBeNull()
  })
})
