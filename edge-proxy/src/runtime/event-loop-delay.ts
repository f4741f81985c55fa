// How late the sidecar's event loop runs (node:perf_hooks' monitorEventLoopDelay): every request waits behind
// whatever else the one thread does — GC, a large snapshot being applied, a filter — so this is where a Node
// proxy's p99 comes from (issue 6 asks to measure it). Exported on /metrics as gauges over the time since the
// previous scrape (each scrape resets the histogram): the delay beyond schedule of a timer that fires every
// `resolutionMs`. (Node's histogram holds the whole interval between fires; the interval itself is taken off,
// so an idle loop reads ≈ 0, not ≈ 10 ms as prom-client's nodejs_eventloop_lag_* do.)
import { monitorEventLoopDelay } from 'node:perf_hooks'

export type EventLoopDelay = { render(): string; stop(): void }

export function eventLoopDelayMetrics(resolutionMs = 10): EventLoopDelay {
  const h = monitorEventLoopDelay({ resolution: resolutionMs })
  h.enable()
  const late = (ns: number) => (h.count > 0 && Number.isFinite(ns) ? Math.max(0, ns / 1e6 - resolutionMs) / 1000 : 0)
  const gauge = (name: string, help: string, seconds: number) => `# HELP ${name} ${help}\n# TYPE ${name} gauge\n${name} ${seconds}\n`
  return {
    render() {
      const text =
        gauge('weft_event_loop_delay_p50_seconds', 'Median event-loop delay beyond schedule since the previous scrape.', late(h.percentile(50))) +
        gauge('weft_event_loop_delay_p99_seconds', '99th percentile event-loop delay beyond schedule since the previous scrape.', late(h.percentile(99))) +
        gauge('weft_event_loop_delay_max_seconds', 'Longest event-loop delay beyond schedule since the previous scrape.', late(h.max))
      h.reset()
      return text
    },
    stop() {
      h.disable()
    },
  }
}
