import type { FilterMetric } from '../wasm/index'
import type { FilterChainRunner } from './filter-chain'
import { MetricsRegistry } from './metrics-registry'

/**
 * The filters' own metrics (`proxy_define_metric`) and the hosts' failure counters, in Prometheus text after the
 * proxy's. A filter's metric keeps its name (made a valid Prometheus name) under `weft_filter_`; a histogram
 * is exported as a summary (count and sum): the ABI gives observations without buckets.
 */
export function renderFilterMetrics(filters: FilterChainRunner): string {
  const registry = new MetricsRegistry()
  const stats = filters.stats()
  if (stats.size > 0) {
    const requests = registry.counter('weft_filter_requests_total', 'Requests that reached a filter.', ['filter'])
    const failures = registry.counter('weft_filter_failures_total', 'Filter failures: traps, out of memory, runaway calls, exits.', ['filter'])
    const restarts = registry.counter('weft_filter_vm_restarts_total', 'Filter VMs re-instantiated after a failure.', ['filter'])
    const runaways = registry.counter('weft_filter_runaways_total', 'Filter calls stopped for running past their time budget (fuel).', ['filter'])
    for (const [filter, s] of stats) {
      requests.inc([filter], s.requests)
      failures.inc([filter], s.failures)
      restarts.inc([filter], s.reinstantiations)
      runaways.inc([filter], s.runaways)
    }
  }
  // Shared data is bounded (wasm/shared-data.ts): how full it is, and what it dropped to stay so.
  const shared = filters.sharedData
  if (stats.size > 0 || shared.size > 0) {
    registry.gauge('weft_filter_shared_data_entries', 'Entries in the filters\' shared data.', []).set([], shared.size)
    registry.counter('weft_filter_shared_data_evictions_total', 'Shared-data entries dropped, written longest ago first, to stay within the limits.', []).inc([], shared.evictions)
  }
  const out = [registry.render()]
  // Two filters may define one name (or two names may clean up alike): Prometheus takes one family per name.
  const seen = new Set<string>()
  for (const metric of filters.metrics.snapshot()) {
    const name = `weft_filter_${metric.name.replace(/[^a-zA-Z0-9_:]/g, '_')}`
    if (seen.has(name)) continue
    seen.add(name)
    out.push(renderOne(name, metric))
  }
  return out.join('')
}

function renderOne(name: string, metric: FilterMetric): string {
  const help = `# HELP ${name} Defined by a filter as ${JSON.stringify(metric.name).replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}.\n`
  if (metric.kind === 'histogram') {
    return `${help}# TYPE ${name} summary\n${name}_sum ${metric.sum}\n${name}_count ${metric.count}\n`
  }
  return `${help}# TYPE ${name} ${metric.kind}\n${name} ${metric.value}\n`
}
