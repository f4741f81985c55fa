// Number and time formatting shared by the views, charts and the graph.

export function rps(v: number): string {
  if (v === 0) return '0'
  if (v < 0.01) return '<0.01'
  return v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : Math.round(v).toString()
}

export function percent(rate: number | null): string {
  if (rate === null) return '–'
  const p = rate * 100
  return `${p === 100 ? '100' : p.toFixed(p >= 99 ? 2 : 1)} %`
}

export function ms(v: number | null): string {
  if (v === null) return '–'
  if (v === 0) return '0 ms'
  return v < 10 ? `${v.toFixed(1)} ms` : v < 10_000 ? `${Math.round(v)} ms` : `${(v / 1000).toFixed(1)} s`
}

export function time(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' })
}

export function ago(iso: string, now = Date.now()): string {
  const s = Math.round((now - new Date(iso).getTime()) / 1000)
  if (s < 60) return `${Math.max(s, 0)} s ago`
  if (s < 3600) return `${Math.round(s / 60)} min ago`
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`
  return `${Math.round(s / 86_400)} d ago`
}

export type Health = 'good' | 'warn' | 'bad' | 'idle'

/** Health colours of the graph: green at 99 % or better, amber at 95 %, red below; grey without traffic. */
export function health(successRate: number | null): Health {
  if (successRate === null) return 'idle'
  return successRate >= 0.99 ? 'good' : successRate >= 0.95 ? 'warn' : 'bad'
}
