import type { Command } from 'commander'
import type { Weft } from '../../index.js'
import type { Convergence } from '../../resources/revisions.js'
import type { Context } from '../context.js'
import { CliFailure, EXIT, UsageError } from '../exit.js'
import { intOf, render } from '../output.js'

// Policies reach watching proxies within a second (DESIGN.md); a minute covers proxies between long polls.
export const DEFAULT_WAIT_TIMEOUT_SECONDS = 60
const POLL_INTERVAL_MS = 500

/** Polls until every live proxy has applied `revision`; a timeout is exit 69 (the mesh did not converge). */
export async function waitConverged(weft: Weft, revision: number, timeoutSeconds: number, onPoll?: (c: Convergence) => void): Promise<Convergence> {
  const deadline = Date.now() + timeoutSeconds * 1000
  for (;;) {
    const c = await weft.revisions.convergence(revision)
    onPoll?.(c)
    if (c.converged) return c
    if (Date.now() >= deadline) {
      throw new CliFailure(`revision ${revision} not converged after ${timeoutSeconds}s: ${c.pending} of ${c.applied + c.pending} proxies pending (${c.proxies.filter((p) => !p.applied).map((p) => `${p.service}/${p.id.slice(0, 8)}`).join(', ')})`, EXIT.unavailable)
    }
    await new Promise((r) => setTimeout(r, POLL_INTERVAL_MS))
  }
}

export function timeoutOf(value: string | undefined): number {
  return value === undefined ? DEFAULT_WAIT_TIMEOUT_SECONDS : intOf(value, '--timeout', 1, 3600)
}

export function printConvergence(ctx: Context, cmd: Command, c: Convergence): void {
  const format = ctx.format(cmd)
  if (format !== 'table') return render(ctx.io, format, c, [])
  ctx.io.out(`revision ${c.revision} (current ${c.currentRevision}): ${c.converged ? 'converged' : 'not converged'}, ${c.applied} applied, ${c.pending} pending\n`)
  if (c.proxies.length) {
    render(ctx.io, 'table', c.proxies, [
      { header: 'PROXY', value: (p) => p.id },
      { header: 'SERVICE', value: (p) => p.service },
      { header: 'APPLIED REVISION', value: (p) => p.appliedRevision },
      { header: 'APPLIED', value: (p) => (p.applied ? 'yes' : 'no') },
      { header: 'LATENCY', value: (p) => (p.latencyMs === null ? null : `${p.latencyMs}ms`) },
    ])
  }
}

export function registerConvergence(program: Command, ctx: Context): void {
  program
    .command('convergence <revision>')
    .description('which live proxies have applied a revision; --wait polls until all have')
    .option('--wait', 'poll until converged (exit 69 on timeout)')
    .option('--timeout <seconds>', `with --wait (default ${DEFAULT_WAIT_TIMEOUT_SECONDS})`)
    .action(async (rev: string, o: { wait?: boolean; timeout?: string }, cmd: Command) => {
      if (!/^\d+$/.test(rev) || Number(rev) < 1) throw new UsageError(`REVISION must be a positive integer (got ${JSON.stringify(rev)})`)
      const weft = await ctx.client(cmd)
      const c = o.wait ? await waitConverged(weft, Number(rev), timeoutOf(o.timeout)) : await weft.revisions.convergence(Number(rev))
      printConvergence(ctx, cmd, c)
    })
}
