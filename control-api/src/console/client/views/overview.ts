// The overview: the service graph over a chosen window, and every edge as a table row.
import { api, type ServiceGraph } from '../api'
import { h, table } from '../dom'
import { health, ms, percent, rps } from '../format'
import { barChart } from '../charts'
import { serviceGraphSvg } from '../graph'
import { empty, errorBox, every, section, SIDECAR_HINT, type View } from '../view'

export const WINDOWS = ['5m', '15m', '1h'] as const

/** A picture of thousands of boxes helps nobody: draw the busiest services, list every call in the table. */
const MAX_DRAWN = 60

export function busiest(g: Pick<ServiceGraph, 'nodes' | 'edges'>, max: number): Pick<ServiceGraph, 'nodes' | 'edges'> {
  if (g.nodes.length <= max) return g
  const traffic = new Map<string, number>()
  for (const e of g.edges) for (const n of [e.source, e.destination]) traffic.set(n, (traffic.get(n) ?? 0) + e.rps)
  const keep = new Set([...g.nodes].sort((a, b) => (traffic.get(b.name) ?? 0) - (traffic.get(a.name) ?? 0)).slice(0, max).map((n) => n.name))
  return { nodes: g.nodes.filter((n) => keep.has(n.name)), edges: g.edges.filter((e) => keep.has(e.source) && keep.has(e.destination)) }
}

export const overview: View = async (root, ctx) => {
  const chosen = ctx.query.get('window')
  const window = (WINDOWS as readonly string[]).includes(chosen ?? '') ? chosen! : '15m'
  const picker = h(
    'div',
    { class: 'windows', role: 'group', 'aria-label': 'Time window' },
    'Window: ',
    ...WINDOWS.map((w) => h('button', { type: 'button', class: w === window ? 'on' : '', 'aria-pressed': String(w === window), onclick: () => ctx.go(`#/overview?window=${w}`) }, w)),
  )
  const body = h('div', { class: 'overview-body' }, h('p', { class: 'loading' }, 'Loading the service graph…'))
  root.append(h('div', { class: 'toolbar' }, h('h1', {}, 'Service graph'), picker), body)

  const load = async () => {
    let g: ServiceGraph
    try {
      g = await api<ServiceGraph>(`/v1/telemetry/graph?window=${window}`)
    } catch (err) {
      body.replaceChildren(errorBox(err, 'the service graph'))
      return
    }
    if (g.nodes.length === 0) {
      body.replaceChildren(empty(`No telemetry in the last ${window}.`, SIDECAR_HINT))
      return
    }
    const legend = h(
      'p',
      { class: 'legend-line' },
      h('span', { class: 'swatch good' }), 'success ≥ 99 %  ',
      h('span', { class: 'swatch warn' }), '≥ 95 %  ',
      h('span', { class: 'swatch bad' }), 'below 95 %  ',
      h('span', { class: 'swatch idle' }), 'serves no traffic (a caller only). Click a service for its charts. Refreshes every 10 s.',
    )
    const rows = g.edges.map((e) => [
      h('a', { href: `#/services/${encodeURIComponent(e.source)}` }, e.source),
      h('a', { href: `#/services/${encodeURIComponent(e.destination)}` }, e.destination),
      rps(e.rps),
      h('span', { class: `pill ${health(e.successRate)}` }, percent(e.successRate)),
      ms(e.latencyMs.p50),
      ms(e.latencyMs.p95),
      ms(e.latencyMs.p99),
      e.requests,
      Object.entries(e.reasons).map(([r, n]) => `${r}: ${n}`).join(', ') || '–',
      e.reporter === 'outbound' ? 'caller' : 'callee',
    ])
    const shown = busiest(g, MAX_DRAWN)
    body.replaceChildren(
      h('div', { class: 'graph-box' }, serviceGraphSvg(shown.nodes, shown.edges, (name) => ctx.go(`#/services/${encodeURIComponent(name)}`))),
      ...(shown.nodes.length < g.nodes.length ? [h('p', { class: 'hint' }, `Showing the ${shown.nodes.length} busiest of ${g.nodes.length} services; the table below lists every call.`)] : []),
      legend,
      section(
        'Golden signals per call',
        h(
          'div',
          { class: 'charts' },
          barChart({ title: 'Requests per second by call', format: rps, bars: g.edges.map((e) => ({ label: `${e.source} → ${e.destination}`, value: e.rps, cls: 's1' })) }),
          barChart({
            title: 'Success rate by call',
            format: (v) => percent(v),
            bars: g.edges.map((e) => ({ label: `${e.source} → ${e.destination}`, value: e.successRate, cls: health(e.successRate) })),
          }),
          barChart({
            title: 'p99 latency by call',
            format: ms,
            bars: g.edges.map((e) => ({ label: `${e.source} → ${e.destination}`, value: e.latencyMs.p99, cls: health(e.successRate), title: `${e.source} → ${e.destination}: p50 ${ms(e.latencyMs.p50)}, p95 ${ms(e.latencyMs.p95)}, p99 ${ms(e.latencyMs.p99)}` })),
          }),
        ),
      ),
      section(
        'Calls between services',
        table(['From', 'To', 'Requests/s', 'Success', 'p50', 'p95', 'p99', 'Requests', 'Proxy-made failures', 'Measured by'], rows, { class: 'edges' }),
      ),
    )
  }
  await load()
  every(10_000, ctx, load)
}
