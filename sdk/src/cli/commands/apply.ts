import { readFile } from 'node:fs/promises'
import type { Command } from 'commander'
import type { Weft } from '../../index.js'
import { parseManifest, plan, type Manifest, type PlanEntry } from '../apply-plan.js'
import type { Context } from '../context.js'
import { UsageError } from '../exit.js'
import { printConvergence, timeoutOf, waitConverged } from './convergence.js'

type ApplyFlags = { file: string; dryRun?: boolean; prune?: boolean; pruneServices?: boolean; waitConverged?: boolean; timeout?: string }

const SYMBOL: Record<PlanEntry['action'], string> = { create: '+', change: '~', unchanged: '=', prune: '-' }
const VERB: Record<PlanEntry['action'], string> = { create: 'created', change: 'changed', unchanged: 'unchanged', prune: 'pruned' }

export function registerApply(program: Command, ctx: Context): void {
  program
    .command('apply')
    .description('make the mesh match a YAML file of Service and policy documents; prints what changed')
    .requiredOption('-f, --file <path>', "the mesh file ('-' for stdin)")
    .option('--dry-run', 'show the diff, change nothing')
    .option('--prune', 'delete policies the file does not name')
    .option('--prune-services', 'also delete services the file does not name')
    .option('--wait-converged', 'after applying, wait until every live proxy has the new revision')
    .option('--timeout <seconds>', 'with --wait-converged (default 60)')
    .action(async (_o, cmd: Command) => {
      const o = cmd.opts<ApplyFlags>()
      const manifest = parseManifest(await readInput(o.file), o.file === '-' ? 'stdin' : o.file)
      const timeout = timeoutOf(o.timeout)
      const weft = await ctx.client(cmd)
      const [services, policies] = await Promise.all([weft.services.list({ limit: 100 }).toArray(), weft.policies.list({ limit: 100 }).toArray()])
      const entries = plan(manifest, { services, policies }, { prune: Boolean(o.prune), pruneServices: Boolean(o.pruneServices) })
      const revision = o.dryRun ? null : await execute(weft, manifest, entries)
      report(ctx, cmd, entries, Boolean(o.dryRun), revision)
      if (o.waitConverged && !o.dryRun && revision !== null) {
        const c = await waitConverged(weft, revision, timeout)
        printConvergence(ctx, cmd, c)
      }
    })
}

async function readInput(file: string): Promise<string> {
  try {
    if (file === '-') {
      const chunks: Buffer[] = []
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
      return Buffer.concat(chunks).toString('utf8')
    }
    return await readFile(file, 'utf8')
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as Error).message}`)
  }
}

/**
 * Services first (policies refer to them), then policies, then pruning: policies before services, since a
 * service's policies would otherwise be left pointing at nothing. Returns the last revision written, or null.
 */
async function execute(weft: Weft, manifest: Manifest, entries: PlanEntry[]): Promise<number | null> {
  let revision: number | null = null
  const note = (r: number | null) => {
    if (r !== null && (revision === null || r > revision)) revision = r
  }
  const byKey = new Map(entries.map((e) => [`${e.kind === 'Service' ? 'S' : 'P'}/${e.name}`, e]))
  for (const s of manifest.services) {
    const e = byKey.get(`S/${s.name}`)!
    if (e.action === 'create') note((await weft.services.create(s).withResponse()).revision)
    else if (e.action === 'change') {
      const { name, ...fields } = s
      note((await weft.services.replace(name, fields, { ifMatch: e.version }).withResponse()).revision)
    }
  }
  for (const p of manifest.policies) {
    const e = byKey.get(`P/${p.name}`)!
    // Unchanged ones are PUT as well: the API does nothing when they are the same, and it sees a field that was
    // deleted from the file, which the local diff (blind to server defaults) cannot.
    const r = await weft.policies.apply(p, e.version === undefined ? {} : { ifMatch: e.version }).withResponse()
    if (e.action === 'unchanged' && r.data.version !== e.version) {
      e.action = 'change'
      e.changes = [{ path: 'spec', before: '(a field the file no longer sets)' }]
    }
    if (e.action !== 'unchanged') note(r.revision)
  }
  for (const e of entries.filter((x) => x.action === 'prune' && x.kind !== 'Service')) {
    note((await weft.policies.delete(e.name, { ifMatch: e.version }).withResponse()).revision)
  }
  for (const e of entries.filter((x) => x.action === 'prune' && x.kind === 'Service')) {
    note((await weft.services.delete(e.name, { ifMatch: e.version }).withResponse()).revision)
  }
  return revision
}

function report(ctx: Context, cmd: Command, entries: PlanEntry[], dryRun: boolean, revision: number | null): void {
  const counts = { create: 0, change: 0, unchanged: 0, prune: 0 }
  for (const e of entries) counts[e.action]++
  const summary = { created: counts.create, changed: counts.change, unchanged: counts.unchanged, pruned: counts.prune }
  if (ctx.format(cmd) === 'json') {
    const changes = entries.map(({ version: _v, ...e }) => ({ ...e, action: VERB[e.action] }))
    return ctx.io.out(JSON.stringify({ dryRun, revision, summary, changes }, null, 2) + '\n')
  }
  for (const e of entries) {
    ctx.io.out(`${SYMBOL[e.action]} ${e.kind === 'Service' ? 'service' : e.kind}/${e.name} ${VERB[e.action]}\n`)
    for (const c of e.changes) ctx.io.out(`    ${c.path}: ${show(c.before)} → ${show(c.after)}\n`)
  }
  const line = `${summary.created} created, ${summary.changed} changed, ${summary.unchanged} unchanged, ${summary.pruned} pruned`
  if (dryRun) ctx.io.out(`${line} (dry run: nothing was changed)\n`)
  else ctx.io.out(revision === null ? `${line}; nothing to do\n` : `${line}; now at revision ${revision}\n`)
}

function show(v: unknown): string {
  return v === undefined ? '(none)' : JSON.stringify(v)
}
