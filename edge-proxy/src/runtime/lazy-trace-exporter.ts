// A TraceExporter whose implementation is loaded by its first export. The OpenTelemetry exporter and the SDK
// parts it pulls in (otlp-transformer, sdk-metrics, resources) cost a sidecar ≈ 5 MiB of resident memory
// when loaded, and most tenants configure no collector: with none, nothing is ever exported, so they load never.
import type { TraceExporter } from '../core/tracing'

export function lazyTraceExporter(load: () => Promise<TraceExporter>): TraceExporter {
  let loading: Promise<TraceExporter> | null = null
  const exporter = () => {
    // A failed load (e.g. a module missing from a broken install) fails that batch, and the next one tries again.
    loading ??= load().catch((err: unknown) => {
      loading = null
      throw err
    })
    return loading
  }
  return {
    async export(spans, target) {
      return (await exporter()).export(spans, target)
    },
    async shutdown() {
      if (loading === null) return
      const loaded = await loading.catch(() => null)
      await loaded?.shutdown?.()
    },
  }
}
