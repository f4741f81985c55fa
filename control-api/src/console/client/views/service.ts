// One service: golden-signal charts over time, its calls in and out, and the policies that target it.
import { api, type Page, type Policy, type ServiceGraph, type ServiceMetrics } from '../api'
import { lineChart } from '../charts'
import { h, table } from '../dom'
import { health, ms, percent, rps, time } from '../format'
import { empty, errorBox, every, section, SIDECAR_HINT, type View } from '../view'

const RANGES: Record<string, string> = { '15m': '1m', '1h': '1m', '6h': '5m', '24h': '15m' }

export const service: View = async (root, ctx) => {
  const name = decodeURIComponent(ctx.params[0] ?? '')
  const chosen = ctx.query.get('window') ?? '15m'
  const window = chosen in RANGES ? chosen : '15m'
  const picker = h(
    'div',
    { class: 'windows', role: 'group', 'aria-label': 'Time window' },
    'Window: ',
    ...Object.keys(RANGES).map((w) =>
      h('button', { type: 'button', class: w === window ? 'on' : '', 'aria-pressed': String(w === window), onclick: () => ctx.go(`#/services/${encodeURIComponent(name)}?window=${w}`) }, w),
    ),
  )
  const summary = h('div', { class: 'summary' })
  const charts = h('div', { class: 'charts' }, h('p', { class: 'loading' }, 'Loading metrics…'))
  const calls = h('div', {})
  const policies = h('div', {})
  root.append(
    h('p', { class: 'crumbs' }, h('a', { href: '#/overview' }, '← Service graph')),
    h('div', { class: 'toolbar' }, h('h1', {}, 'Service ', h('span', { class: 'mono' }, name)), picker),
    summary,
    charts,
    section('Calls in and out (last 15 minutes)', calls),
    section('Policies targeting this service', policies),
  )

  const loadMetrics = async () => {
    let m: ServiceMetrics
    try {
      m = await api<ServiceMetrics>(`/v1/telemetry/services/${encodeURIComponent(name)}?window=${window}&step=${RANGES[window]}`)
    } catch (err) {
      charts.replaceChildren(errorBox(err, `the metrics of ${name}`))
      return
    }
    const t = m.total
    summary.replaceChildren(
      ...[
        ['Requests/s', rps(t.rps)],
        ['Success', percent(t.successRate)],
        ['p50', ms(t.latencyMs.p50)],
        ['p95', ms(t.latencyMs.p95)],
        ['p99', ms(t.latencyMs.p99)],
        ['Requests', String(t.requests)],
      ].map(([k, v]) => h('div', { class: `stat ${k === 'Success' ? health(t.successRate) : ''}` }, h('span', { class: 'stat-label' }, k!), h('span', { class: 'stat-value' }, v!))),
    )
    if (t.requests === 0) {
      charts.replaceChildren(empty(`${name} served no requests in the last ${window}.`, SIDECAR_HINT))
      return
    }
    const times = m.points.map((p) => p.time)
    charts.replaceChildren(
      lineChart({ title: 'Requests per second', times, series: [{ name: 'rps', cls: 's1', values: m.points.map((p) => p.rps) }], format: rps }),
      lineChart({
        title: 'Success rate',
        times,
        series: [{ name: 'success', cls: 's2', values: m.points.map((p) => p.successRate) }],
        format: (v) => `${Math.round(v * 1000) / 10} %`,
        yMin: Math.min(0.9, ...m.points.map((p) => p.successRate ?? 1)),
        yMax: 1,
      }),
      lineChart({
        title: 'Latency',
        times,
        series: (['p50', 'p95', 'p99'] as const).map((q, i) => ({ name: q, cls: `s${i + 3}`, values: m.points.map((p) => p.latencyMs[q]) })),
        format: ms,
      }),
    )
  }
  const loadCalls = async () => {
    try {
      const g = await api<ServiceGraph>('/v1/telemetry/graph?window=15m')
      const mine = g.edges.filter((e) => e.source === name || e.destination === name)
      calls.replaceChildren(
        mine.length
          ? table(
              ['Direction', 'Peer', 'Requests/s', 'Success', 'p50', 'p95', 'p99'],
              mine.map((e) => {
                const out = e.source === name
                const peer = out ? e.destination : e.source
                return [
                  out ? 'calls →' : '← called by',
                  h('a', { href: `#/services/${encodeURIComponent(peer)}` }, peer),
                  rps(e.rps),
                  h('span', { class: `pill ${health(e.successRate)}` }, percent(e.successRate)),
                  ms(e.latencyMs.p50),
                  ms(e.latencyMs.p95),
                  ms(e.latencyMs.p99),
                ]
              }),
            )
          : h('p', { class: 'hint' }, 'No calls to or from this service in the last 15 minutes.'),
      )
    } catch (err) {
      calls.replaceChildren(errorBox(err, 'the calls of this service'))
    }
  }
  const loadPolicies = async () => {
    try {
      const page = await api<Page<Policy>>('/v1/policies?limit=500')
      const mine = page.items.filter((p) => p.targetRef.service === name)
      policies.replaceChildren(
        mine.length
          ? table(
              ['Name', 'Kind', 'Version', 'Revision', 'Updated'],
              mine.map((p) => [h('a', { href: `#/policies/${encodeURIComponent(p.name)}` }, p.name), p.kind, p.version, p.revision, time(p.updatedAt)]),
            )
          : h('p', { class: 'hint' }, 'No policies target this service. Routes, retries, rate limits and filters are added with `npx weft apply -f mesh.yaml` or `POST /v1/policies`.'),
      )
    } catch (err) {
      policies.replaceChildren(errorBox(err, 'policies'))
    }
  }
  await Promise.all([loadMetrics(), loadCalls(), loadPolicies()])
  every(15_000, ctx, async () => void (await Promise.all([loadMetrics(), loadCalls()])))
}
