// Values of command-line flags. Apart from output.ts so that `weft sidecar` (and a sidecar bundle) loads
// neither yaml nor the table renderer: a sidecar's resident memory is a target (issue 6).
import { UsageError } from './exit.js'

export function labelsOf(pairs: readonly string[] | undefined, flag = '--label'): Record<string, string> {
  const out: Record<string, string> = {}
  for (const pair of (pairs ?? []).flatMap((p) => p.split(','))) {
    if (pair === '') continue
    const eq = pair.indexOf('=')
    if (eq <= 0) throw new UsageError(`${flag} takes key=value (got ${JSON.stringify(pair)})`)
    out[pair.slice(0, eq)] = pair.slice(eq + 1)
  }
  return out
}

export function intOf(value: string, flag: string, min = 1, max = 65535): number {
  const n = Number(value)
  if (!/^\d+$/.test(value) || n < min || n > max) throw new UsageError(`${flag} must be an integer from ${min} to ${max} (got ${JSON.stringify(value)})`)
  return n
}
