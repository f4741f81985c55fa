// The service graph as an SVG picture: a layered layout (callers left of callees), nodes coloured by success
// rate, edges labelled with requests per second and p99 latency. Clicking a node opens its service view.
import type { GraphEdge, GraphNode } from './api'
import { s } from './dom'
import { health, ms, percent, rps } from './format'

const NODE_W = 160
const NODE_H = 54
const COL_GAP = 180
const ROW_GAP = 46
const PAD = 24

/** Column of each service: the longest call chain leading to it (bounded, so cycles terminate). */
export function layers(names: string[], edges: { source: string; destination: string }[]): Map<string, number> {
  const depth = new Map(names.map((n) => [n, 0]))
  const limit = Math.max(names.length - 1, 0)
  for (let round = 0; round < names.length; round++) {
    let changed = false
    for (const e of edges) {
      if (e.source === e.destination) continue
      const next = Math.min((depth.get(e.source) ?? 0) + 1, limit)
      if (next > (depth.get(e.destination) ?? 0)) {
        depth.set(e.destination, next)
        changed = true
      }
    }
    if (!changed) break
  }
  return depth
}

export function serviceGraphSvg(nodes: GraphNode[], edges: GraphEdge[], open: (service: string) => void): SVGSVGElement {
  const depth = layers(
    nodes.map((n) => n.name),
    edges,
  )
  const columns: GraphNode[][] = []
  for (const n of nodes) (columns[depth.get(n.name) ?? 0] ??= []).push(n)
  const rows = Math.max(...columns.map((c) => c?.length ?? 0), 1)
  const width = PAD * 2 + columns.length * NODE_W + Math.max(columns.length - 1, 0) * COL_GAP
  const height = PAD * 2 + rows * NODE_H + (rows - 1) * ROW_GAP
  const pos = new Map<string, { x: number; y: number }>()
  columns.forEach((col = [], ci) => {
    const offset = ((rows - col.length) * (NODE_H + ROW_GAP)) / 2
    col.forEach((n, ri) => pos.set(n.name, { x: PAD + ci * (NODE_W + COL_GAP), y: PAD + offset + ri * (NODE_H + ROW_GAP) }))
  })

  const svg = s('svg', {
    class: 'graph',
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: 'img',
    'aria-label': `Service graph: ${nodes.length} services, ${edges.length} connections`,
  })
  svg.append(
    s('defs', {}, s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, s('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' }))),
  )

  for (const e of edges) {
    const a = pos.get(e.source)
    const b = pos.get(e.destination)
    if (!a || !b || e.source === e.destination) continue
    const forward = b.x > a.x
    const x1 = forward ? a.x + NODE_W : a.x + NODE_W / 2
    const y1 = forward ? a.y + NODE_H / 2 : a.y + NODE_H
    const x2 = forward ? b.x : b.x + NODE_W / 2
    const y2 = forward ? b.y + NODE_H / 2 : b.y + NODE_H
    // Backward or same-column calls bend below the nodes so they do not cross them.
    const bend = forward ? `C${x1 + COL_GAP / 2},${y1} ${x2 - COL_GAP / 2},${y2} ` : `C${x1},${Math.max(y1, y2) + 60} ${x2},${Math.max(y1, y2) + 60} `
    const label = `${rps(e.rps)} rps · p99 ${ms(e.latencyMs.p99)}`
    const mx = forward ? (x1 + x2) / 2 : (x1 + x2) / 2
    const my = forward ? (y1 + y2) / 2 - 8 : Math.max(y1, y2) + 40
    const w = label.length * 6.4 + 10
    svg.append(
      s(
        'g',
        { class: `edge ${health(e.successRate)}`, 'data-source': e.source, 'data-destination': e.destination },
        s('title', {}, `${e.source} → ${e.destination}: ${e.requests} requests, success ${percent(e.successRate)}, p50 ${ms(e.latencyMs.p50)}, p95 ${ms(e.latencyMs.p95)}, p99 ${ms(e.latencyMs.p99)}`),
        s('path', { d: `M${x1},${y1} ${bend}${x2},${y2}`, 'marker-end': 'url(#arrow)' }),
        s('rect', { class: 'edge-label-bg', x: mx - w / 2, y: my - 11, width: w, height: 16, rx: 4 }),
        s('text', { x: mx, y: my + 1, 'text-anchor': 'middle', class: 'edge-label' }, label),
      ),
    )
  }

  for (const n of nodes) {
    const p = pos.get(n.name)!
    const hl = health(n.successRate)
    // A pure caller (a frontend, a job) serves nothing, so it has no success rate: say what it sends instead.
    const out = edges.filter((e) => e.source === n.name).reduce((sum, e) => sum + e.rps, 0)
    const sub = n.successRate !== null ? `${percent(n.successRate)} ok · ${rps(n.rps)} rps` : out > 0 ? `caller · ${rps(out)} rps out` : 'no traffic'
    const g = s(
      'g',
      {
        class: `node ${hl}`,
        'data-service': n.name,
        tabindex: 0,
        role: 'link',
        'aria-label': `${n.name}: ${sub}. Open the service`,
        onclick: () => open(n.name),
        onkeydown: (ev) => {
          if ((ev as KeyboardEvent).key === 'Enter') open(n.name)
        },
      },
      s('title', {}, `${n.name}: ${sub}; p99 ${ms(n.latencyMs.p99)}. Click for its metrics.`),
      s('rect', { x: p.x, y: p.y, width: NODE_W, height: NODE_H, rx: 10 }),
      s('text', { x: p.x + NODE_W / 2, y: p.y + 22, 'text-anchor': 'middle', class: 'node-name' }, n.name),
      s('text', { x: p.x + NODE_W / 2, y: p.y + 41, 'text-anchor': 'middle', class: 'node-sub' }, sub),
    )
    svg.append(g)
  }
  return svg
}
