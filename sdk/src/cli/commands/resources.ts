import { readFile, stat } from 'node:fs/promises'
import type { Command } from 'commander'
import type { Context } from '../context.js'
import { UsageError } from '../exit.js'
import { details, intOf, labelsOf, render } from '../output.js'
import { filterKind, keyKind, policyKind, serviceKind, tenantKind, endpointKind, type ResourceKind } from '../resource-kinds.js'
import { uploadProgress } from '../progress.js'
import { showList, showOne, withOutput } from './show.js'

const collect = (v: string, prev: string[] = []) => [...prev, v]

function listAndGet(ctx: Context, group: Command, kind: ResourceKind): void {
  withOutput(group.command('list').alias('ls').description(`list ${kind.names[0]}`)).action((_o, cmd: Command) => showList(ctx, cmd, kind))
  if (kind.get) withOutput(group.command('get <name>').description(`show one of ${kind.names[0]}`)).action((name: string, _o, cmd: Command) => showOne(ctx, cmd, kind, name))
}

/** Writes a changed resource: JSON with `--json`, else one line for people. */
function done(ctx: Context, cmd: Command, data: unknown, line: string): void {
  if (ctx.format(cmd) === 'json') ctx.io.out(JSON.stringify(data ?? null, null, 2) + '\n')
  else ctx.io.out(line + '\n')
}

export function registerResources(program: Command, ctx: Context): void {
  // --- tenants (operator) ---
  const tenants = program.command('tenants').alias('tenant').description('onboard and remove tenants (operator key)')
  listAndGet(ctx, tenants, tenantKind)
  tenants
    .command('create <slug>')
    .description('onboard a tenant; prints its first admin key once')
    .option('--display-name <name>', 'a name for people')
    .action(async (slug: string, o: { displayName?: string }, cmd: Command) => {
      const weft = await ctx.client(cmd, { operator: true })
      const created = await weft.tenants.create({ slug, displayName: o.displayName })
      if (ctx.format(cmd) === 'json') return ctx.io.out(JSON.stringify(created, null, 2) + '\n')
      ctx.io.out(`tenant ${created.tenant.slug} created (trust domain ${created.tenant.trustDomain})\n`)
      ctx.io.out(`admin key (shown once, keep it safe): ${created.adminKey.secret}\n`)
    })
  tenants
    .command('delete <slug>')
    .alias('rm')
    .description('delete a tenant and everything it owns')
    .action(async (slug: string, _o, cmd: Command) => {
      const weft = await ctx.client(cmd, { operator: true })
      await weft.tenants.delete(slug)
      done(ctx, cmd, { deleted: slug }, `tenant ${slug} deleted`)
    })

  // --- services ---
  const services = program.command('services').alias('svc').description('services: name, protocol, port, labels')
  listAndGet(ctx, services, serviceKind)
  services
    .command('create <name>')
    .description('register a service')
    .option('--port <port>', 'the port the application listens on (default 80)')
    .option('--protocol <protocol>', 'http or grpc (default http)')
    .option('--label <key=value>', 'a label; repeat or comma-separate', collect)
    .option('--description <text>', 'a description')
    .action(async (name: string, o: { port?: string; protocol?: string; label?: string[]; description?: string }, cmd: Command) => {
      const body = {
        name,
        port: o.port === undefined ? undefined : intOf(o.port, '--port'),
        protocol: protocolOf(o.protocol),
        labels: labelsOf(o.label),
        description: o.description,
      }
      const weft = await ctx.client(cmd)
      const svc = await weft.services.create(body)
      done(ctx, cmd, svc, `service ${svc.name} created (${svc.protocol}, port ${svc.port})`)
    })
  services
    .command('delete <name>')
    .alias('rm')
    .description('delete a service and its endpoints')
    .action(async (name: string, _o, cmd: Command) => {
      const weft = await ctx.client(cmd)
      await weft.services.delete(name)
      done(ctx, cmd, { deleted: name }, `service ${name} deleted`)
    })

  // --- endpoints ---
  const endpoints = program.command('endpoints').alias('ep').description("a service's instances")
  withOutput(endpoints.command('list <service>').alias('ls').description("list a service's live endpoints")).action((service: string, _o, cmd: Command) =>
    showList(ctx, cmd, endpointKind, service),
  )

  // --- API keys ---
  const keys = program.command('keys').alias('api-keys').description("the tenant's API keys (admin)")
  listAndGet(ctx, keys, keyKind)
  keys
    .command('create <name>')
    .description('create a key; prints its secret once')
    .requiredOption('--role <role>', 'admin, editor or viewer')
    .action(async (name: string, o: { role: string }, cmd: Command) => {
      if (!['admin', 'editor', 'viewer'].includes(o.role)) throw new UsageError(`--role must be admin, editor or viewer (got ${JSON.stringify(o.role)})`)
      const weft = await ctx.client(cmd)
      const key = await weft.apiKeys.create({ name, role: o.role as 'admin' | 'editor' | 'viewer' })
      if (ctx.format(cmd) === 'json') return ctx.io.out(JSON.stringify(key, null, 2) + '\n')
      ctx.io.out(`key ${key.name} (${key.role}) created, id ${key.id}\nsecret (shown once, keep it safe): ${key.secret}\n`)
    })
  keys
    .command('revoke <id>')
    .description('revoke a key; it stops working at once')
    .action(async (id: string, _o, cmd: Command) => {
      const weft = await ctx.client(cmd)
      await weft.apiKeys.revoke(id)
      done(ctx, cmd, { revoked: id }, `key ${id} revoked`)
    })

  // --- policies ---
  const policies = program.command('policies').alias('policy').description('Route, BackendPolicy, AuthorizationPolicy, RateLimitPolicy, FaultPolicy, FilterChain')
  listAndGet(ctx, policies, policyKind)
  policies
    .command('delete <name>')
    .alias('rm')
    .description('delete a policy (its history stays, so it can be rolled back)')
    .action(async (name: string, _o, cmd: Command) => {
      const weft = await ctx.client(cmd)
      await weft.policies.delete(name)
      done(ctx, cmd, { deleted: name }, `policy ${name} deleted`)
    })
  withOutput(policies.command('history <name>').description("a policy's versions, newest first, with what changed")).action(async (name: string, _o, cmd: Command) => {
    const weft = await ctx.client(cmd)
    const versions = await weft.policies.history(name).toArray()
    render(ctx.io, ctx.format(cmd), versions, [
      { header: 'VERSION', value: (v) => v.version },
      { header: 'OPERATION', value: (v) => v.operation },
      { header: 'REVISION', value: (v) => v.revision },
      { header: 'ACTOR', value: (v) => v.actor.name ?? v.actor.type },
      { header: 'CREATED', value: (v) => v.createdAt },
      { header: 'CHANGES', value: (v) => v.diff.map((d) => `${d.op} ${d.path || '/'}`).join(', ') },
    ])
  })
  policies
    .command('rollback <name>')
    .description('restore an earlier version, as a new version')
    .requiredOption('--version <n>', 'the version to restore')
    .action(async (name: string, o: { version: string }, cmd: Command) => {
      const version = intOf(o.version, '--version', 1, Number.MAX_SAFE_INTEGER)
      const weft = await ctx.client(cmd)
      const p = await weft.policies.rollback(name, version)
      done(ctx, cmd, p, `policy ${p.name} rolled back to version ${version} (now version ${p.version}, revision ${p.revision})`)
    })

  // --- filters ---
  const filters = program.command('filters').alias('filter').description('the proxy-wasm filter registry')
  withOutput(filters.command('list').alias('ls').description('every version of every filter')).action((_o, cmd: Command) => showList(ctx, cmd, filterKind))
  withOutput(filters.command('get <name>').description("one filter's versions")).action(async (name: string, _o, cmd: Command) => {
    const weft = await ctx.client(cmd)
    const f = await weft.filters.get(name)
    const format = ctx.format(cmd)
    if (format === 'table') render(ctx.io, 'table', f.versions, filterKind.columns)
    else details(ctx.io, format, f)
  })
  filters
    .command('push <file>')
    .description('upload a proxy-wasm module as a new filter version')
    .requiredOption('--name <name>', 'the filter name')
    .requiredOption('--version <version>', 'the version (immutable once pushed)')
    .action(async (file: string, o: { name: string; version: string }, cmd: Command) => {
      let bytes: Uint8Array
      try {
        if (!(await stat(file)).isFile()) throw new Error('not a file')
        bytes = new Uint8Array(await readFile(file))
      } catch (err) {
        throw new UsageError(`cannot read ${file}: ${(err as Error).message}`)
      }
      const base = await ctx.client(cmd)
      const weft = base.withOptions({ fetch: uploadProgress(ctx.io, `${o.name}@${o.version}`, ctx.format(cmd) !== 'json') })
      const pushed = await weft.filters.push({ name: o.name, version: o.version }, bytes)
      done(ctx, cmd, pushed, `filter ${pushed.name}@${pushed.version} pushed: sha256 ${pushed.sha256} (${pushed.size} bytes, ABI ${pushed.abiVersion})`)
    })
}

function protocolOf(p: string | undefined): 'http' | 'grpc' | undefined {
  if (p === undefined || p === 'http' || p === 'grpc') return p
  throw new UsageError(`--protocol must be http or grpc (got ${JSON.stringify(p)})`)
}
