import { addBuckets, emptyBuckets } from '../../../mesh/src/telemetry/latency-histogram'

/** One rollup row before it is written: a series' key and what it adds. */
export type RollupRow = {
  reporter: 'inbound' | 'outbound'
  source: string
  destination: string
  route: string
  statusClass: string
  reason: string
  requests: number
  latencyBuckets: number[]
  latencySumSeconds: number
}

type Key = Pick<RollupRow, 'reporter' | 'source' | 'destination' | 'route' | 'statusClass' | 'reason'>

/**
 * Sums rows that share a key. One INSERT … ON CONFLICT DO UPDATE may not touch the same row twice, and a push
 * can carry two series that become one key (the reporter's own name is rewritten from its token). Sorted by
 * key, so that concurrent pushes lock rows in the same order and cannot deadlock.
 */
export class RollupAccumulator {
  readonly #rows = new Map<string, RollupRow>()

  #row(k: Key): RollupRow {
    // "\u0001" is in no name the schemas allow.
    const id = [k.reporter, k.source, k.destination, k.route, k.statusClass, k.reason].join('\u0001')
    let row = this.#rows.get(id)
    if (!row) {
      row = { ...k, requests: 0, latencyBuckets: emptyBuckets(), latencySumSeconds: 0 }
      this.#rows.set(id, row)
    }
    return row
  }

  addRequests(k: Key, count: number): void {
    this.#row(k).requests += count
  }

  addLatency(k: Omit<Key, 'reason'>, buckets: readonly number[], sumSeconds: number): void {
    const row = this.#row({ ...k, reason: '' })
    addBuckets(row.latencyBuckets, buckets)
    row.latencySumSeconds += sumSeconds
  }

  get size(): number {
    return this.#rows.size
  }

  rows(): RollupRow[] {
    const keyOf = (r: RollupRow) => [r.reporter, r.source, r.destination, r.route, r.statusClass, r.reason]
    return [...this.#rows.values()].sort((a, b) => {
      const ka = keyOf(a)
      const kb = keyOf(b)
      for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i]! < kb[i]! ? -1 : 1
      return 0
    })
  }
}
