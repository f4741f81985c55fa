// Small SVG line charts for golden-signal time series: one or more series over shared timestamps, gaps where
// a step had no data, a point per step with its exact value on hover.
import { h, s } from './dom'

export type Series = { name: string; values: (number | null)[]; cls: string }

const W = 380
const H = 170
const L = 56
const R = 12
const T = 12
const B = 28

/** A round upper bound for the y axis (1, 2, 2.5 or 5 times a power of ten). */
export function niceMax(v: number): number {
  if (!(v > 0)) return 1
  const p = 10 ** Math.floor(Math.log10(v))
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p
  return 10 * p
}

function clock(iso: string): string {
  return new Date(iso).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })
}

export function lineChart(opts: { title: string; times: string[]; series: Series[]; format: (v: number) => string; yMin?: number; yMax?: number }): HTMLElement {
  const { times, series, format } = opts
  const all = series.flatMap((x) => x.values.filter((v): v is number => v !== null))
  const lo = opts.yMin ?? 0
  const hi = opts.yMax ?? niceMax(Math.max(...all, 0))
  const x = (i: number) => L + (times.length <= 1 ? (W - L - R) / 2 : (i * (W - L - R)) / (times.length - 1))
  const y = (v: number) => T + (H - T - B) * (1 - (Math.min(Math.max(v, lo), hi) - lo) / (hi - lo || 1))

  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': opts.title })
  for (const frac of [0, 0.5, 1]) {
    const v = lo + (hi - lo) * frac
    svg.append(s('line', { class: 'grid', x1: L, x2: W - R, y1: y(v), y2: y(v) }), s('text', { class: 'axis', x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, format(v)))
  }
  if (times.length) {
    svg.append(
      s('text', { class: 'axis', x: L, y: H - 8, 'text-anchor': 'start' }, clock(times[0]!)),
      s('text', { class: 'axis', x: W - R, y: H - 8, 'text-anchor': 'end' }, clock(times[times.length - 1]!)),
    )
  }
  for (const ser of series) {
    let d = ''
    let pen = false
    ser.values.forEach((v, i) => {
      if (v === null) return void (pen = false)
      d += `${pen ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)} `
      pen = true
    })
    const g = s('g', { class: `series ${ser.cls}` }, s('path', { d: d.trim() }))
    ser.values.forEach((v, i) => {
      if (v !== null) g.append(s('circle', { cx: x(i), cy: y(v), r: 2.5 }, s('title', {}, `${clock(times[i]!)} ${ser.name}: ${format(v)}`)))
    })
    svg.append(g)
  }
  const empty = all.length === 0
  if (empty) svg.append(s('text', { class: 'axis', x: (L + W - R) / 2, y: H / 2, 'text-anchor': 'middle' }, 'no requests in this window'))
  return h(
    'figure',
    { class: 'chart-box', 'data-chart': opts.title },
    h('figcaption', {}, opts.title, ...(series.length > 1 ? series.map((x) => h('span', { class: `legend ${x.cls}` }, x.name)) : [])),
    svg,
  )
}

export type Bar = { label: string; value: number | null; cls: string; title?: string }

/** Horizontal bars, one per row (a call between two services), for comparing edges at a glance. */
export function barChart(opts: { title: string; bars: Bar[]; format: (v: number) => string }): HTMLElement {
  const LABEL = 170
  const ROW = 24
  const VALUE = 70
  const width = 380
  const height = opts.bars.length * ROW + 8
  const max = niceMax(Math.max(0, ...opts.bars.map((b) => b.value ?? 0)))
  const span = width - LABEL - VALUE
  const svg = s('svg', { class: 'chart bars', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': opts.title })
  opts.bars.forEach((b, i) => {
    const y = 4 + i * ROW
    const w = b.value === null ? 0 : Math.max(1, (b.value / max) * span)
    svg.append(
      s(
        'g',
        { class: `bar ${b.cls}` },
        s('title', {}, b.title ?? `${b.label}: ${b.value === null ? 'no data' : opts.format(b.value)}`),
        s('text', { class: 'axis bar-label', x: LABEL - 8, y: y + 15, 'text-anchor': 'end' }, b.label),
        s('rect', { x: LABEL, y: y + 3, width: w, height: ROW - 8, rx: 3 }),
        s('text', { class: 'axis', x: LABEL + w + 6, y: y + 15 }, b.value === null ? '–' : opts.format(b.value)),
      ),
    )
  })
  return h('figure', { class: 'chart-box', 'data-chart': opts.title }, h('figcaption', {}, opts.title), svg)
}
