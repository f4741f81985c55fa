import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Command } from 'commander'
import { Unauthorized } from '../../index.js'
import type { Context } from '../context.js'
import { CliFailure, EXIT, UsageError } from '../exit.js'
import { labelsOf } from '../output.js'

// `weft edge build|deploy`: the Worker proxy for one service, built and deployed with wrangler. Like `weft
// sidecar`, it runs from a checkout of the Weft repository (scripts/build-edge-worker.ts and its wrangler).

/** What scripts/build-edge-worker.ts's buildEdgeBundle takes. */
export type EdgeBuildOptions = {
  service: string
  controlUrl: string
  origin: string
  outdir: string
  name?: string
  labels?: Record<string, string>
  endpointUrl?: string
  logLevel?: string
  bindings?: Record<string, string>
  kvNamespace?: string
  crons?: string[]
  filters?: { filter: string; version: string; sha256: string; bytes: Uint8Array }[]
}

type EdgeBundle = Omit<EdgeBuildOptions, 'filters'> & {
  name: string
  config: string
  script: string
  vars: Record<string, string>
  serviceBindings: Record<string, string>
  crons: string[]
  filters: { filter: string; version: string; sha256: string; file: string }[]
  filterLimits: { fuel: number; maxMemoryBytes: number }
}
type DeployResult = { ok: boolean; dryRun: boolean; outdir?: string; exitCode: number; output: string }
type EdgeBuildScript = {
  buildEdgeBundle(o: EdgeBuildOptions): Promise<EdgeBundle>
  deployEdgeBundle(dir: string, o: { dryRun?: boolean; outdir?: string; joinToken?: string }): Promise<DeployResult>
}

type BuildFlags = {
  service?: string
  controlUrl?: string
  origin?: string
  out?: string
  name?: string
  labels?: string
  endpointUrl?: string
  logLevel?: string
  bind?: string[]
  kvNamespace?: string
  cron?: string[]
  noCron?: boolean
  filters?: boolean
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/
// Cloudflare's rule for Worker names: lowercase letters, digits and dashes, at most 63.
const WORKER_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/
const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent']

const httpUrl = (v: string) => URL.canParse(v) && /^https?:$/.test(new URL(v).protocol)

/** Flags over env (`WEFT_SERVICE`, `WEFT_URL`, `WEFT_ORIGIN`); every problem is reported at once. */
export function edgeBuildOptions(flags: BuildFlags, env: Record<string, string | undefined>): EdgeBuildOptions {
  const problems: string[] = []
  const service = flags.service ?? env.WEFT_SERVICE
  const controlUrl = flags.controlUrl ?? env.WEFT_URL
  const origin = flags.origin ?? env.WEFT_ORIGIN
  if (!service) problems.push('--service (or WEFT_SERVICE) is required')
  else if (!DNS_LABEL.test(service)) problems.push(`--service must be a DNS label (got ${service})`)
  if (!controlUrl) problems.push('--control-url (or WEFT_URL) is required')
  else if (!httpUrl(controlUrl)) problems.push(`--control-url must be an http(s) URL (got ${controlUrl})`)
  if (!origin) problems.push('--origin (or WEFT_ORIGIN) is required: the URL the Worker forwards admitted requests to')
  else if (!httpUrl(origin)) problems.push(`--origin must be an http(s) URL (got ${origin})`)
  if (flags.endpointUrl !== undefined && !httpUrl(flags.endpointUrl)) problems.push(`--endpoint-url must be an http(s) URL (got ${flags.endpointUrl})`)
  if (flags.name !== undefined && !WORKER_NAME.test(flags.name)) problems.push(`--name must be lowercase letters, digits and dashes (got ${flags.name})`)
  if (flags.logLevel !== undefined && !LOG_LEVELS.includes(flags.logLevel)) problems.push(`--log-level must be one of ${LOG_LEVELS.join(', ')}`)
  let labels: Record<string, string> | undefined
  try {
    labels = labelsOf(flags.labels ? [flags.labels] : [], '--labels')
  } catch (err) {
    problems.push((err as Error).message)
  }
  const bindings: Record<string, string> = {}
  for (const pair of flags.bind ?? []) {
    const m = /^([a-z0-9-]+)=([a-z0-9-]+)$/.exec(pair)
    if (!m) problems.push(`--bind takes SERVICE=WORKER (got ${pair})`)
    else bindings[m[1]!] = m[2]!
  }
  if (problems.length) throw new UsageError(`weft edge build:\n  ${problems.join('\n  ')}`)
  return {
    service: service!,
    controlUrl: controlUrl!,
    origin: origin!,
    outdir: flags.out ?? `weft-edge-${service}`,
    ...(flags.name ? { name: flags.name } : {}),
    labels: labels!,
    ...(flags.endpointUrl ? { endpointUrl: flags.endpointUrl } : {}),
    ...(flags.logLevel ? { logLevel: flags.logLevel } : {}),
    bindings,
    ...(flags.kvNamespace ? { kvNamespace: flags.kvNamespace } : {}),
    ...(flags.noCron ? { crons: [] } : flags.cron?.length ? { crons: flags.cron } : {}),
  }
}

const collect = (v: string, acc: string[] = []) => [...acc, v]

export function registerEdge(program: Command, ctx: Context): void {
  const edge = program.command('edge').description('the Worker proxy: build a deployable bundle for a service, deploy it with wrangler')

  edge
    .command('build')
    .description('bundle the Worker proxy for one service into a directory wrangler can deploy')
    .option('--service <name>', 'the mesh service the Worker fronts (else WEFT_SERVICE)')
    .option('--control-url <url>', 'the control API the Worker syncs from (else WEFT_URL)')
    .option('--origin <url>', 'where admitted inbound requests go (else WEFT_ORIGIN)')
    .option('--out <dir>', 'the bundle directory (default ./weft-edge-<service>)')
    .option('--name <worker>', 'the Worker name on Cloudflare (default weft-<service>)')
    .option('--labels <k=v,…>', 'labels reported in GET /v1/proxies and on the endpoint')
    .option('--endpoint-url <url>', "the Worker's public URL, registered as an endpoint of the service")
    .option('--log-level <level>', 'debug | info | warn | error | silent (default info)')
    .option('--bind <service=worker>', 'call this callee service through a service binding to that Worker (repeatable)', collect)
    .option('--kv-namespace <id>', 'keep the snapshot in this KV namespace (default: the Cache API)')
    .option('--cron <schedule>', 'cron trigger (repeatable; default every minute)', collect)
    .option('--no-cron', 'no cron trigger')
    .option('--no-filters', "build without the service's FilterChain (no API key needed)")
    .action(async (flags: Omit<BuildFlags, 'cron'> & { cron?: string[] | false }, cmd: Command) => {
      // commander turns --no-cron into cron: false.
      const options = edgeBuildOptions({ ...flags, cron: flags.cron === false ? undefined : flags.cron, noCron: flags.cron === false }, ctx.io.env)
      if (flags.filters !== false) options.filters = await fetchFilters(ctx, cmd, options.service)
      const script = await loadBuildScript()
      let bundle: EdgeBundle
      try {
        bundle = await script.buildEdgeBundle(options)
      } catch (err) {
        throw new CliFailure(`the Worker could not be built: ${(err as Error).message}`, EXIT.software)
      }
      if (ctx.format(cmd) !== 'table') {
        ctx.io.out(JSON.stringify(bundle, null, 2) + '\n')
        return
      }
      ctx.io.out(
        `built the Worker proxy for ${bundle.service} in ${bundle.outdir}\n` +
          `  worker   ${bundle.name}\n  script   ${bundle.script}\n  config   ${bundle.config}\n` +
          Object.entries(bundle.vars)
            .map(([k, v]) => `  var      ${k}=${v}\n`)
            .join('') +
          Object.entries(bundle.serviceBindings)
            .map(([k, v]) => `  binding  ${k} -> ${v}\n`)
            .join('') +
          bundle.filters.map((f) => `  filter   ${f.filter}@${f.version} ${f.sha256.slice(0, 12)}…\n`).join('') +
          (bundle.filters.length ? `  metered  ${bundle.filterLimits.fuel} fuel per call, ${bundle.filterLimits.maxMemoryBytes / 1048576} MiB memory per filter\n` : '') +
          `next: npx weft edge deploy ${bundle.outdir} --join-token wfj_…   (a join token with many uses: every isolate joins)\n`,
      )
    })

  edge
    .command('deploy <dir>')
    .description('deploy a bundle from weft edge build with wrangler (needs CLOUDFLARE_API_TOKEN or wrangler login)')
    .option('--join-token <token>', 'upload as the WEFT_JOIN_TOKEN secret with the deployment (else WEFT_JOIN_TOKEN; omit if already set)')
    .option('--dry-run', 'bundle and check without uploading (wrangler deploy --dry-run; works offline)')
    .option('--outdir <dir>', 'with --dry-run: where wrangler writes what it would upload (default <dir>/dry-run)')
    .action(async (dir: string, o: { joinToken?: string; dryRun?: boolean; outdir?: string }, cmd: Command) => {
      const joinToken = o.joinToken ?? ctx.io.env.WEFT_JOIN_TOKEN
      if (joinToken !== undefined && !joinToken.startsWith('wfj_')) throw new UsageError('--join-token must be a join token (wfj_…)')
      if (o.outdir && !o.dryRun) throw new UsageError('--outdir goes with --dry-run')
      if (!existsSync(dir)) throw new UsageError(`${dir} does not exist: run weft edge build --out ${dir} first`)
      const script = await loadBuildScript()
      let result: DeployResult
      try {
        result = await script.deployEdgeBundle(dir, { dryRun: o.dryRun, outdir: o.outdir, ...(o.dryRun || !joinToken ? {} : { joinToken }) })
      } catch (err) {
        throw new UsageError((err as Error).message)
      }
      if (ctx.format(cmd) !== 'table') ctx.io.out(JSON.stringify(result, null, 2) + '\n')
      else ctx.io.out(result.output.endsWith('\n') ? result.output : result.output + '\n')
      if (!result.ok) {
        const auth = /api[_ ]token|not logged in|authenticat|wrangler login/i.test(result.output)
        throw new CliFailure(
          `wrangler deploy failed (exit ${result.exitCode})` + (auth ? '\nhint: set CLOUDFLARE_API_TOKEN (and CLOUDFLARE_ACCOUNT_ID), or run npx wrangler login' : ''),
          auth ? EXIT.usage : EXIT.apiError,
        )
      }
      if (!o.dryRun && !joinToken) ctx.io.err('note: no --join-token given; the Worker uses the WEFT_JOIN_TOKEN secret already set on it\n')
    })
}

/**
 * The service's FilterChain as the control API compiled it (GET /v1/proxy/config with the CLI's key), and each
 * module's bytes by digest (GET /v1/filters/blobs/{sha256}); the build verifies every digest.
 */
async function fetchFilters(ctx: Context, cmd: Command, service: string): Promise<NonNullable<EdgeBuildOptions['filters']>> {
  const hint = "hint: the build reads the service's FilterChain from the control API (weft login, or WEFT_URL and WEFT_API_KEY); pass --no-filters to build without it"
  let config
  try {
    config = await (await ctx.client(cmd)).proxy.config({ service })
  } catch (err) {
    if (err instanceof UsageError) throw new UsageError(`${err.message}\n${hint}`)
    if (err instanceof Unauthorized) throw new CliFailure(`${err.message}\n${hint}`, EXIT.apiError)
    throw err
  }
  const weft = await ctx.client(cmd)
  const chain = config.snapshot?.inbound.filterChain
  const filters: NonNullable<EdgeBuildOptions['filters']> = []
  for (const f of chain?.filters ?? []) {
    filters.push({ filter: f.filter, version: f.version, sha256: f.sha256, bytes: await weft.filters.blob(f.sha256) })
  }
  return filters
}

async function loadBuildScript(): Promise<EdgeBuildScript> {
  const url = new URL('../../../../scripts/build-edge-worker.ts', import.meta.url)
  const file = fileURLToPath(url)
  if (!existsSync(file)) {
    throw new CliFailure(`the Worker build is not available: ${file} does not exist (weft edge runs from a checkout of the Weft repository)`, EXIT.software)
  }
  // A variable specifier keeps tsc from resolving (and typing) a script outside the SDK package.
  const specifier = url.href
  return (await import(specifier)) as EdgeBuildScript
}
