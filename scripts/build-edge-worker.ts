// Bundles the edge proxy Worker as `wrangler deploy` would, without uploading (the edge proxy is
// Web-standard: no nodejs_compat). Same offline build as the control API's: scripts/build-worker.ts.
// `buildEdgeBundle` turns that bundle into a deployable directory for one service (what `weft edge build`
// writes) and `deployEdgeBundle` runs `wrangler deploy` on such a directory (`weft edge deploy`).
import { execFile } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { bindingName } from '../edge-proxy/src/runtime/binding-name'
import { buildWorker, type BuiltWorker } from './build-worker'

const root = fileURLToPath(new URL('..', import.meta.url))
export const EDGE_WORKER_CONFIG = join(root, 'edge-proxy/wrangler.jsonc')
export const DEFAULT_EDGE_OUTDIR = join(root, 'dist/edge-proxy-worker')
const WRANGLER = join(root, 'node_modules/.bin/wrangler')
// Offline and quiet: no metrics, no banner (the banner is what checks npm for a newer wrangler).
const WRANGLER_ENV = { WRANGLER_SEND_METRICS: 'false', WRANGLER_HIDE_BANNER: 'true', NO_COLOR: '1', FORCE_COLOR: '0', CI: 'true' }
/** The manifest `weft edge build` writes beside the bundle; `weft edge deploy` refuses a directory without it. */
export const EDGE_MANIFEST = 'weft-edge.json'
// Every minute: heartbeats the endpoint (TTL 180 s) and syncs while the Worker gets no requests.
export const DEFAULT_EDGE_CRON = '* * * * *'

export function buildEdgeWorker(outdir: string = DEFAULT_EDGE_OUTDIR): Promise<BuiltWorker> {
  return buildWorker(EDGE_WORKER_CONFIG, outdir)
}

export type EdgeBundleOptions = {
  /** The mesh service the Worker fronts (WEFT_SERVICE). */
  service: string
  controlUrl: string
  /** Where admitted inbound requests go (WEFT_ORIGIN). */
  origin: string
  outdir: string
  /** The Worker's name on Cloudflare; default `weft-<service>`. */
  name?: string
  labels?: Record<string, string>
  /** The Worker's public URL (WEFT_ENDPOINT_URL): registered as an endpoint of the service. */
  endpointUrl?: string
  logLevel?: string
  /** Callee service -> the Worker that serves it: a service binding each. */
  bindings?: Record<string, string>
  /** A KV namespace id for WEFT_STATE (default: the Cache API). */
  kvNamespace?: string
  /** Cron schedules; default every minute. An empty list: none. */
  crons?: string[]
}

export type EdgeBundle = {
  outdir: string
  name: string
  service: string
  /** The generated wrangler config, for `wrangler deploy --config`. */
  config: string
  script: string
  compatibilityDate: string
  compatibilityFlags: string[]
  vars: Record<string, string>
  /** Binding name -> Worker name. */
  serviceBindings: Record<string, string>
  crons: string[]
}

/**
 * A directory `wrangler deploy` can upload as it is: the bundle (no_bundle: it is already built), a wrangler
 * config carrying the service's settings as vars, and a manifest. The join token is not in it: it is a secret
 * (`weft edge deploy --join-token`, or `wrangler secret put WEFT_JOIN_TOKEN`).
 */
export async function buildEdgeBundle(o: EdgeBundleOptions): Promise<EdgeBundle> {
  const outdir = resolve(o.outdir)
  const staging = mkdtempSync(join(tmpdir(), 'weft-edge-build-'))
  let built: BuiltWorker
  try {
    built = await buildEdgeWorker(staging)
    mkdirSync(outdir, { recursive: true })
    copyFileSync(built.scriptPath, join(outdir, basename(built.scriptPath)))
    if (existsSync(built.scriptPath + '.map')) copyFileSync(built.scriptPath + '.map', join(outdir, basename(built.scriptPath) + '.map'))
  } finally {
    rmSync(staging, { recursive: true, force: true })
  }
  const name = o.name ?? `weft-${o.service}`
  const vars: Record<string, string> = { WEFT_URL: o.controlUrl, WEFT_SERVICE: o.service, WEFT_ORIGIN: o.origin, WEFT_LOG_LEVEL: o.logLevel ?? 'info' }
  const labels = Object.entries(o.labels ?? {})
  if (labels.length) vars.WEFT_LABELS = labels.map(([k, v]) => `${k}=${v}`).join(',')
  if (o.endpointUrl) vars.WEFT_ENDPOINT_URL = o.endpointUrl
  const serviceBindings = Object.fromEntries(Object.entries(o.bindings ?? {}).map(([svc, worker]) => [bindingName(svc), worker]))
  const crons = o.crons ?? [DEFAULT_EDGE_CRON]
  const script = basename(built.scriptPath)
  const config = {
    name,
    main: script,
    // Already bundled by wrangler from edge-proxy/wrangler.jsonc: upload as it is.
    no_bundle: true,
    compatibility_date: built.compatibilityDate,
    compatibility_flags: built.compatibilityFlags,
    observability: { enabled: true },
    vars,
    triggers: { crons },
    ...(o.kvNamespace ? { kv_namespaces: [{ binding: 'WEFT_STATE', id: o.kvNamespace }] } : {}),
    ...(Object.keys(serviceBindings).length ? { services: Object.entries(serviceBindings).map(([binding, service]) => ({ binding, service })) } : {}),
  }
  const configPath = join(outdir, 'wrangler.jsonc')
  const header = `// Generated by \`weft edge build\` for service ${o.service}; rebuild rather than edit. Deploy: npx weft edge deploy ${outdir}\n`
  writeFileSync(configPath, header + JSON.stringify(config, null, 2) + '\n')
  const bundle: EdgeBundle = {
    outdir,
    name,
    service: o.service,
    config: configPath,
    script: join(outdir, script),
    compatibilityDate: built.compatibilityDate,
    compatibilityFlags: built.compatibilityFlags,
    vars,
    serviceBindings,
    crons,
  }
  writeFileSync(join(outdir, EDGE_MANIFEST), JSON.stringify({ ...bundle, builtAt: new Date().toISOString() }, null, 2) + '\n')
  return bundle
}

export function readEdgeBundle(dir: string): EdgeBundle {
  const file = join(resolve(dir), EDGE_MANIFEST)
  if (!existsSync(file)) throw new Error(`${resolve(dir)} is not a bundle from weft edge build (no ${EDGE_MANIFEST})`)
  return JSON.parse(readFileSync(file, 'utf8')) as EdgeBundle
}

export type EdgeDeployResult = { ok: boolean; dryRun: boolean; outdir?: string; exitCode: number; output: string }

/**
 * Runs `wrangler deploy` on a bundle directory. `dryRun` runs `wrangler deploy --dry-run --outdir` (offline: no
 * credentials needed). `joinToken` is uploaded as the WEFT_JOIN_TOKEN secret with the deployment (through a
 * 0600 secrets file that is deleted afterwards). Never throws for wrangler's own failures: `ok` says.
 */
export async function deployEdgeBundle(dir: string, o: { dryRun?: boolean; outdir?: string; joinToken?: string; env?: Record<string, string | undefined> } = {}): Promise<EdgeDeployResult> {
  const bundle = readEdgeBundle(dir)
  const args = ['deploy', '--config', bundle.config]
  let secrets: string | undefined
  if (o.dryRun) {
    const outdir = resolve(o.outdir ?? join(bundle.outdir, 'dry-run'))
    args.push('--dry-run', '--outdir', outdir)
    o = { ...o, outdir }
  } else if (o.joinToken) {
    secrets = mkdtempSync(join(tmpdir(), 'weft-edge-secrets-'))
    writeFileSync(join(secrets, 'secrets.json'), JSON.stringify({ WEFT_JOIN_TOKEN: o.joinToken }), { mode: 0o600 })
    args.push('--secrets-file', join(secrets, 'secrets.json'))
  }
  try {
    const { code, output } = await new Promise<{ code: number; output: string }>((done) => {
      execFile(WRANGLER, args, { cwd: bundle.outdir, env: { ...process.env, ...o.env, ...WRANGLER_ENV }, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
        const e = err as (Error & { code?: number | string }) | null
        done({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, output: `${stdout}${stderr}` })
      })
    })
    return { ok: code === 0, dryRun: Boolean(o.dryRun), ...(o.dryRun ? { outdir: o.outdir } : {}), exitCode: code, output }
  } finally {
    if (secrets) rmSync(secrets, { recursive: true, force: true })
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  buildEdgeWorker(process.argv[2]).then(
    (built) => console.log(JSON.stringify({ level: 30, time: Date.now(), msg: 'edge worker built', ...built })),
    (err: Error) => {
      console.error(JSON.stringify({ level: 50, time: Date.now(), msg: 'edge worker build failed', err: { name: err.name, message: err.message } }))
      process.exit(1)
    },
  )
}
