/**
 * Gateway API durations ("500ms", "2s", "1m", "1h") in milliseconds. Apart from the schemas (schemas.ts
 * validates them with zod): the proxies read durations per request and must not load zod to do it.
 */
export function durationMs(d: string): number {
  const m = /^([0-9.]+)(ms|s|m|h)$/.exec(d)
  if (!m) throw new RangeError(`not a duration: ${d}`)
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h']
  return Math.round(Number(m[1]) * unit)
}
