import type { Command } from 'commander'
import type { GraphEdge, ServiceGraph, TelemetryDuration } from '../../index.js'
import type { Context } from '../context.js'
import { UsageError } from '../exit.js'
import { intOf, table } from '../output.js'

// Two seconds: proxies push every 5 s, so faster redraws would mostly repeat themselves.
export const DEFAULT_TOP_INTERVAL_SECONDS = 2
// One minute: short enough to show a change as it happens, long enough to smooth a 5 s push rhythm.
export const DEFAULT_TOP_WINDOW = '1m'

const SORTS = ['rps', 'success', 'p99', 'name'] as const
type Sort = (typeof SORTS)[number]

/** "0.75ms", "35.7ms", "1.25s": enough digits to compare, no more. */
export function formatMs(ms: number | null): string | null {
  if (ms === null) return null
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)}s`
  return `${ms.toFixed(ms < 10 ? 2 : 1)}ms`
}

function sortEdges(edges: GraphEdge[], by: Sort): GraphEdge[] {
  const name = (a: GraphEdge, b: GraphEdge) => a.source.localeCompare(b.source) || a.destination.localeCompare(b.destination)
  const key: Record<Sort, (e: GraphEdge) => number> = {
    rps: (e) => -e.rps,
    // Worst first: what someone running top is looking for.
    success: (e) => e.successRate ?? 2,
    p99: (e) => -(e.latencyMs.p99 ?? -1),
    name: () => 0,
  }
  return [...edges].sort((a, b) => key[by](a) - key[by](b) || name(a, b))
}

/** The table of service pairs `weft top` prints. */
export function topTable(graph: ServiceGraph, opts: { sort: Sort; service?: string }): string {
  const edges = sortEdges(
    graph.edges.filter((e) => !opts.service || e.source === opts.service || e.destination === opts.service),
    opts.sort,
  )
  if (edges.length === 0) return `no traffic in the last ${Math.round(graph.window.seconds)}s${opts.service ? ` to or from ${opts.service}` : ''}\n`
  return table(edges, [
    { header: 'SOURCE', value: (e) => e.source },
    { header: 'DESTINATION', value: (e) => e.destination },
    { header: 'RPS', value: (e) => e.rps.toFixed(2) },
    { header: 'SUCCESS', value: (e) => (e.successRate === null ? null : `${(e.successRate * 100).toFixed(2)}%`) },
    { header: 'P50', value: (e) => formatMs(e.latencyMs.p50) },
    { header: 'P99', value: (e) => formatMs(e.latencyMs.p99) },
    { header: 'REQUESTS', value: (e) => e.requests },
    { header: 'PROXY ERRORS', value: (e) => e.reasons },
  ])
}

export function registerTop(program: Command, ctx: Context): void {
  program
    .command('top')
    .description('live golden metrics per service pair (rps, success rate, p50/p99 latency) from the proxies')
    .option('--window <duration>', `how far back each line looks, 1m–24h (default ${DEFAULT_TOP_WINDOW})`, DEFAULT_TOP_WINDOW)
    .option('--interval <seconds>', `seconds between refreshes (default ${DEFAULT_TOP_INTERVAL_SECONDS})`)
    .option('--once', 'print once and exit (for scripts)')
    .option('--service <name>', 'only pairs this service calls or is called by')
    .option('--sort <key>', `${SORTS.join(', ')} (default rps)`, 'rps')
    .action(async (o: { window: string; interval?: string; once?: boolean; service?: string; sort: string }, cmd: Command) => {
      if (!/^\d+[mhd]$/.test(o.window)) throw new UsageError(`--window is a duration such as 1m, 15m or 1h (got ${JSON.stringify(o.window)})`)
      if (!SORTS.includes(o.sort as Sort)) throw new UsageError(`--sort must be one of ${SORTS.join(', ')} (got ${JSON.stringify(o.sort)})`)
      const intervalMs = (o.interval === undefined ? DEFAULT_TOP_INTERVAL_SECONDS : intOf(o.interval, '--interval', 1, 3600)) * 1000
      const json = ctx.format(cmd) === 'json'
      const weft = await ctx.client(cmd)
      const read = () => weft.telemetry.graph({ window: o.window as TelemetryDuration })
      const opts = { sort: o.sort as Sort, service: o.service }
      if (o.once) {
        const g = await read()
        return ctx.io.out(json ? JSON.stringify(g, null, 2) + '\n' : topTable(g, opts))
      }
      // Live: redraw in place on a terminal; one block (or one JSON line) per refresh when piped.
      for (;;) {
        const g = await read()
        if (json) ctx.io.out(JSON.stringify(g) + '\n')
        else if (ctx.io.isTTY) ctx.io.out(`\x1b[H\x1b[2J${new Date().toISOString()}  window ${o.window}  refresh ${intervalMs / 1000}s  (Ctrl-C quits)\n\n${topTable(g, opts)}`)
        else ctx.io.out(`${new Date().toISOString()}\n${topTable(g, opts)}\n`)
        await new Promise((r) => setTimeout(r, intervalMs))
      }
    })
}
