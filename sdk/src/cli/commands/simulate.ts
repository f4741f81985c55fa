import type { Command } from 'commander'
import type { SimulateResponse } from '../../index.js'
import type { Context } from '../context.js'
import { UsageError } from '../exit.js'

const collect = (v: string, prev: string[] = []) => [...prev, v]
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'CONNECT', 'TRACE']

export function registerSimulate(program: Command, ctx: Context): void {
  program
    .command('simulate')
    .description('dry-run a request through the mesh: route, backends, authorization, rate limits, faults, filters')
    .requiredOption('--from <service>', 'the calling service, or a SPIFFE ID (spiffe://…) for a caller outside the mesh')
    .requiredOption('--to <service>', 'the service called')
    .option('--method <method>', 'HTTP method', 'GET')
    .requiredOption('--path <path>', 'request path, with an optional ?query')
    .option('-H, --header <name:value>', 'a request header; repeat for more', collect)
    .action(async (o: { from: string; to: string; method: string; path: string; header?: string[] }, cmd: Command) => {
      const method = o.method.toUpperCase()
      if (!METHODS.includes(method)) throw new UsageError(`--method must be one of ${METHODS.join(', ')} (got ${o.method})`)
      if (!o.path.startsWith('/')) throw new UsageError(`--path must start with / (got ${JSON.stringify(o.path)})`)
      const headers: Record<string, string> = {}
      for (const h of o.header ?? []) {
        const colon = h.indexOf(':')
        if (colon <= 0) throw new UsageError(`-H takes name:value (got ${JSON.stringify(h)})`)
        headers[h.slice(0, colon).trim().toLowerCase()] = h.slice(colon + 1).trim()
      }
      const url = new URL(o.path, 'http://x')
      const query = Object.fromEntries(url.searchParams)
      const source = o.from.startsWith('spiffe://') ? { principal: o.from } : { service: o.from }
      const weft = await ctx.client(cmd)
      const r = await weft.policies.simulate({
        source,
        destination: { service: o.to },
        request: { method: method as 'GET', path: url.pathname, headers, query },
      })
      if (ctx.format(cmd) === 'json') return ctx.io.out(JSON.stringify(r, null, 2) + '\n')
      ctx.io.out(explain(r, `${method} ${o.path}`, o.from, o.to))
    })
}

/** The simulation for people, one section per step a proxy takes. */
export function explain(r: SimulateResponse, request: string, from: string, to: string): string {
  const lines: string[] = [`${request}  ${from} → ${to}  (revision ${r.revision})`]
  const routing = r.routing as { outcome?: string; reason?: string }
  lines.push('', 'Route:')
  lines.push(r.route ? `  ${r.route.policy} rule ${r.route.rule}${r.route.match === null ? '' : ` match ${r.route.match}`}` : '  none')
  if (routing.reason) lines.push(`  ${routing.outcome ?? ''}: ${routing.reason}`.replace(/^ {2}: /, '  '))
  lines.push('', 'Backends:')
  if (r.backends.length === 0) lines.push('  none')
  for (const b of r.backends as { service?: string; labels?: Record<string, string>; weight?: number; percent?: number; endpoints?: number; reason?: string }[]) {
    const labels = Object.entries(b.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(',') || 'all endpoints'
    lines.push(`  ${String(b.percent ?? 0).padStart(6)}%  ${b.service ?? to} [${labels}]  weight ${b.weight ?? '-'}, ${b.endpoints ?? 0} endpoint(s)${b.reason ? ` — ${b.reason}` : ''}`)
  }
  const a = r.authorization
  lines.push('', 'Authorization:')
  lines.push(`  ${a.decision}${a.policy ? ` by ${a.policy}${a.rule === null ? '' : ` rule ${a.rule}`}` : ''}`)
  if (a.reason) lines.push(`  ${a.reason}`)
  // dryRun policies only log what they would have decided; show it, since that is what their author wants to see.
  const dryRuns = Array.isArray(a.dryRun) ? (a.dryRun as { policy: string; rule: number | null; wouldBe: string }[]) : []
  for (const d of dryRuns) lines.push(`  dry run: ${d.policy} would ${d.wouldBe}${d.rule === null ? '' : ` (rule ${d.rule})`}`)
  section(lines, 'Rate limits', r.rateLimits)
  section(lines, 'Faults', r.faults)
  section(lines, 'Filters', r.filters)
  if (r.reason) {
    lines.push('', `The proxy would answer itself: Weft-Reason: ${r.reason}`)
    if (r.detail) lines.push(`  ${r.detail}`)
  } else {
    lines.push('', `The request would be forwarded to ${to}.`)
  }
  return lines.join('\n') + '\n'
}

function section(lines: string[], title: string, items: readonly unknown[]): void {
  lines.push('', `${title}:`)
  if (items.length === 0) return void lines.push('  none')
  for (const item of items) {
    if (typeof item !== 'object' || item === null) {
      lines.push(`  ${String(item)}`)
      continue
    }
    const { policy, reason, ...rest } = item as Record<string, unknown>
    const fields = Object.entries(rest)
      .filter(([, v]) => v !== null && v !== undefined)
      .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
      .join(' ')
    lines.push(`  ${policy ? `${String(policy)}: ` : ''}${fields}`)
    if (typeof reason === 'string') lines.push(`    ${reason}`)
  }
}
