import type { Candidate, CandidateSet } from './endpoint-pool'
import { hash32 } from './hash'
import type { LoadBalancer } from './load-balancer'
import { randomChoice } from './random-choice'

// Maglev asks for a prime table size well above the endpoint count (the paper: M > 100 N) for even shares.
const TABLE_SIZES = [211, 503, 1009, 2003, 5003, 10007, 20011, 50021, 65537] as const

/**
 * Consistent hashing with Maglev (Eisenbud et al., NSDI 2016), as Envoy's `MAGLEV` policy: a lookup table in
 * which every endpoint owns a share of slots proportional to its weight, so keys spread evenly (within a slot
 * or two per endpoint) and one endpoint leaving moves little more than its own keys. The table is built per
 * candidate list (O(M log M), M ≥ 100 × endpoints, ≤ 65537) and cached with it: an ejection rebuilds it over
 * the remaining endpoints. Endpoints are named by address:port, so a key keeps its endpoint across snapshots.
 * Requests without a key get a random endpoint.
 */
export const maglev: LoadBalancer = {
  type: 'ConsistentHash',
  pick(set, ctx) {
    const list = set.list
    if (list.length === 1) return list[0]!
    if (ctx.hashKey === null) return randomChoice.pick(set, ctx)
    const table = tableOf(set)
    return list[table[hash32(ctx.hashKey) % table.length]!]!
  },
}

function tableOf(set: CandidateSet): Uint16Array | Uint32Array {
  let table = set.scratch.maglev as Uint16Array | Uint32Array | undefined
  if (table === undefined) table = set.scratch.maglev = buildMaglevTable(set.list)
  return table
}

/** Slot → index into `candidates`. Exported for tests. */
export function buildMaglevTable(candidates: readonly Candidate[]): Uint16Array | Uint32Array {
  const n = candidates.length
  const size = TABLE_SIZES.find((m) => m >= 100 * n) ?? TABLE_SIZES[TABLE_SIZES.length - 1]!
  const table = n <= 0xffff ? new Uint16Array(size) : new Uint32Array(size)
  const filled = new Uint8Array(size)
  const names = candidates.map((c) => `${c.endpoint.address}:${c.endpoint.port}`)
  const offset = names.map((name) => hash32(name, 0x9e3779b9) % size)
  const skip = names.map((name) => (hash32(name, 0x85ebca6b) % (size - 1)) + 1)
  const next = new Uint32Array(n)
  const weights = candidates.map((c) => c.weight)
  const maxWeight = Math.max(...weights)
  // Every weight 0: treat all as equal rather than building an empty table.
  const share = maxWeight > 0 ? weights.map((w) => w / maxWeight) : weights.map(() => 1)
  const credit = new Float64Array(n)
  let count = 0
  while (count < size) {
    for (let i = 0; i < n && count < size; i++) {
      // A weight w of the maximum fills a slot on w of the rounds (Envoy's weighted Maglev).
      credit[i]! += share[i]!
      if (credit[i]! < 1) continue
      credit[i]! -= 1
      let slot = (offset[i]! + next[i]! * skip[i]!) % size
      while (filled[slot]) {
        next[i]!++
        slot = (offset[i]! + next[i]! * skip[i]!) % size
      }
      table[slot] = i
      filled[slot] = 1
      next[i]!++
      count++
    }
  }
  return table
}
