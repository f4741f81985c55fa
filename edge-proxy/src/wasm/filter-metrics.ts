import { MetricType, Status } from './abi'

export type FilterMetricKind = 'counter' | 'gauge' | 'histogram'

export type FilterMetric = {
  readonly name: string
  readonly kind: FilterMetricKind
  /** Counter and gauge value; for a histogram, the last recorded value. */
  value: bigint
  /** Histogram observations (count and sum); the proxy's exporter buckets them. */
  count: number
  sum: bigint
}

const KINDS: Record<number, FilterMetricKind> = {
  [MetricType.COUNTER]: 'counter',
  [MetricType.GAUGE]: 'gauge',
  [MetricType.HISTOGRAM]: 'histogram',
}

/**
 * Metrics that filters define (`proxy_define_metric`), kept outside the VM so they survive re-instantiation and
 * can be exported with the proxy's own metrics (`snapshot()`). Defining the same name and kind twice returns
 * the same id, as a re-instantiated VM defines its metrics again.
 */
export class FilterMetrics {
  #byId = new Map<number, FilterMetric>()
  #byName = new Map<string, number>()

  define(type: number, name: string): { status: number; id: number } {
    const kind = KINDS[type]
    if (!kind) return { status: Status.BAD_ARGUMENT, id: 0 }
    const key = `${kind}\0${name}`
    let id = this.#byName.get(key)
    if (id === undefined) {
      id = this.#byId.size + 1
      this.#byName.set(key, id)
      this.#byId.set(id, { name, kind, value: 0n, count: 0, sum: 0n })
    }
    return { status: Status.OK, id }
  }

  increment(id: number, delta: bigint): number {
    const metric = this.#byId.get(id)
    if (!metric) return Status.NOT_FOUND
    if (metric.kind === 'counter' && delta < 0n) return Status.BAD_ARGUMENT
    if (metric.kind === 'histogram') return this.record(id, delta)
    metric.value += delta
    return Status.OK
  }

  record(id: number, value: bigint): number {
    const metric = this.#byId.get(id)
    if (!metric) return Status.NOT_FOUND
    metric.value = value
    if (metric.kind === 'histogram') {
      metric.count += 1
      metric.sum += value
    }
    return Status.OK
  }

  get(id: number): bigint | undefined {
    return this.#byId.get(id)?.value
  }

  /** By name, for tests and exporters. */
  byName(name: string): FilterMetric | undefined {
    for (const metric of this.#byId.values()) if (metric.name === name) return metric
    return undefined
  }

  snapshot(): FilterMetric[] {
    return [...this.#byId.values()].map((m) => ({ ...m }))
  }
}
