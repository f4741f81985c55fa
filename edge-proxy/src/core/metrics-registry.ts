/**
 * A small Prometheus registry (text exposition format 0.0.4) on nothing but Maps, so the same code runs in
 * Node and in workerd; prom-client needs Node. Counters, gauges and histograms with fixed buckets, each
 * keyed by a fixed list of label names. A series is found by one Map lookup per label value: O(labels) per
 * observation, no allocation for a series seen before.
 */

export type Series<V> = { labels: readonly string[]; value: V }

abstract class Metric<V> {
  readonly name: string
  readonly help: string
  readonly labelNames: readonly string[]
  /** Every series in the order first observed (rendering, entries()). */
  protected readonly series: Series<V>[] = []

  constructor(name: string, help: string, labelNames: readonly string[]) {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name)) throw new TypeError(`not a metric name: ${name}`)
    for (const l of labelNames) if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(l) || l.startsWith('__')) throw new TypeError(`not a label name: ${l}`)
    this.name = name
    this.help = help
    this.labelNames = labelNames
  }

  // The same series by label values, one Map level per label. A lookup hashes each value, and a value that comes
  // from the snapshot or a constant is the same string each time, its hash kept; a key joined from the values
  // was a new string to build and hash on every observation (≈ 1–2 µs a request across the four per request).
  readonly #index = new Map<string, unknown>()

  protected entry(labels: readonly string[]): Series<V> {
    if (labels.length !== this.labelNames.length) throw new RangeError(`${this.name} takes ${this.labelNames.length} labels, got ${labels.length}`)
    return this.#walk(labels, true)!
  }

  /** The series of these label values, if observed. */
  protected find(labels: readonly string[]): Series<V> | undefined {
    return labels.length === this.labelNames.length ? this.#walk(labels, false) : undefined
  }

  #walk(labels: readonly string[], create: boolean): Series<V> | undefined {
    const last = labels.length - 1
    let node = this.#index
    for (let i = 0; i < last; i++) {
      let next = node.get(labels[i]!) as Map<string, unknown> | undefined
      if (next === undefined) {
        if (!create) return undefined
        node.set(labels[i]!, (next = new Map()))
      }
      node = next
    }
    const leaf = last < 0 ? '' : labels[last]!
    let s = node.get(leaf) as Series<V> | undefined
    if (s === undefined && create) {
      s = { labels: [...labels], value: this.fresh() }
      node.set(leaf, s)
      this.series.push(s)
    }
    return s
  }

  /** The value of a series not observed before. */
  protected abstract fresh(): V

  /** Every series with its label values: for readers other than the exposition (the telemetry push). */
  entries(): IterableIterator<Readonly<Series<V>>> {
    return this.series.values()
  }

  abstract readonly type: 'counter' | 'gauge' | 'histogram'
  abstract renderSeries(out: string[]): void

  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`)
    out.push(`# TYPE ${this.name} ${this.type}`)
    this.renderSeries(out)
  }

  protected labelText(values: readonly string[], extra?: string): string {
    const parts = values.map((v, i) => `${this.labelNames[i]}="${escapeLabel(v)}"`)
    if (extra !== undefined) parts.push(extra)
    return parts.length === 0 ? '' : `{${parts.join(',')}}`
  }
}

export class Counter extends Metric<{ n: number }> {
  readonly type = 'counter'
  protected fresh(): { n: number } {
    return { n: 0 }
  }
  inc(labels: readonly string[], by = 1): void {
    if (!(by >= 0)) throw new RangeError('a counter only goes up')
    this.entry(labels).value.n += by
  }
  get(labels: readonly string[]): number {
    return this.find(labels)?.value.n ?? 0
  }
  renderSeries(out: string[]): void {
    for (const s of this.series) out.push(`${this.name}${this.labelText(s.labels)} ${formatNumber(s.value.n)}`)
  }
}

export class Gauge extends Metric<{ n: number }> {
  readonly type = 'gauge'
  protected fresh(): { n: number } {
    return { n: 0 }
  }
  set(labels: readonly string[], value: number): void {
    this.entry(labels).value.n = value
  }
  add(labels: readonly string[], by: number): void {
    this.entry(labels).value.n += by
  }
  /** The value of one series, to change in place: a request's +1 and -1 look the series up once. */
  cell(labels: readonly string[]): { n: number } {
    return this.entry(labels).value
  }
  get(labels: readonly string[]): number {
    return this.find(labels)?.value.n ?? 0
  }
  renderSeries(out: string[]): void {
    for (const s of this.series) out.push(`${this.name}${this.labelText(s.labels)} ${formatNumber(s.value.n)}`)
  }
}

/** Per-bucket (not cumulative) counts, one per finite bound; `count` minus their sum is the +Inf bucket. */
export type HistogramValue = { counts: Float64Array; sum: number; count: number }

export class Histogram extends Metric<HistogramValue> {
  readonly type = 'histogram'
  readonly buckets: readonly number[]

  constructor(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]) {
    super(name, help, labelNames)
    if (labelNames.includes('le')) throw new TypeError('"le" is reserved for histogram buckets')
    if (buckets.length === 0 || buckets.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= buckets[i - 1]!))) throw new RangeError('buckets must be finite and strictly increasing')
    this.buckets = [...buckets]
  }

  protected fresh(): HistogramValue {
    return { counts: new Float64Array(this.buckets.length), sum: 0, count: 0 }
  }

  observe(labels: readonly string[], value: number): void {
    const v = this.entry(labels).value
    // Per-bucket (not cumulative) counts here; render() accumulates, so an observation is one increment.
    for (let i = 0; i < this.buckets.length; i++) {
      if (value <= this.buckets[i]!) {
        v.counts[i]!++
        break
      }
    }
    v.sum += value
    v.count++
  }

  /** Observations so far for one label set: count and sum. */
  get(labels: readonly string[]): { count: number; sum: number } {
    const v = this.find(labels)?.value
    return { count: v?.count ?? 0, sum: v?.sum ?? 0 }
  }

  renderSeries(out: string[]): void {
    for (const s of this.series) {
      let cumulative = 0
      for (let i = 0; i < this.buckets.length; i++) {
        cumulative += s.value.counts[i]!
        out.push(`${this.name}_bucket${this.labelText(s.labels, `le="${formatNumber(this.buckets[i]!)}"`)} ${cumulative}`)
      }
      out.push(`${this.name}_bucket${this.labelText(s.labels, 'le="+Inf"')} ${s.value.count}`)
      out.push(`${this.name}_sum${this.labelText(s.labels)} ${formatNumber(s.value.sum)}`)
      out.push(`${this.name}_count${this.labelText(s.labels)} ${s.value.count}`)
    }
  }
}

type Renderable = { readonly name: string; render(out: string[]): void }

export class MetricsRegistry {
  readonly #metrics = new Map<string, Renderable>()

  #add<M extends Renderable>(metric: M): M {
    if (this.#metrics.has(metric.name)) throw new TypeError(`metric ${metric.name} is already registered`)
    this.#metrics.set(metric.name, metric)
    return metric
  }

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.#add(new Counter(name, help, labelNames))
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.#add(new Gauge(name, help, labelNames))
  }

  histogram(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]): Histogram {
    return this.#add(new Histogram(name, help, labelNames, buckets))
  }

  /** The whole registry as `text/plain; version=0.0.4`, ending with a newline. */
  render(): string {
    const out: string[] = []
    for (const m of this.#metrics.values()) m.render(out)
    return out.length === 0 ? '' : out.join('\n') + '\n'
  }
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}

function formatNumber(n: number): string {
  if (Number.isNaN(n)) return 'NaN'
  if (n === Infinity) return '+Inf'
  if (n === -Infinity) return '-Inf'
  return String(n)
}
