// The Cloudflare Workers entry. Like node.ts it only builds `deps`; the app is the same. What differs:
// no file system (so no PGlite: PostgreSQL, Neon or Hyperdrive only), no stdout to show a generated
// operator key, and no I/O object (socket, pool) may outlive the request that opened it.
import type { ExecutionContext } from 'hono'
import { createApp } from '../app'
import { ConfigError, loadConfig } from '../config'
import type { Database } from '../db/client'
import { connectNeon } from '../db/connect-neon'
import { connectPgClient } from '../db/connect-pg-client'
import { migrate } from '../db/migrate'
import { migrations } from '../db/migrations.generated'
import { NotConfigured, toProblem } from '../errors'
import { importMasterKey } from '../identity/master-key'
import { rotateDueKeys } from '../identity/rotation-schedule'
import { HOUR_MS } from '../telemetry/record-telemetry'
import { sweepTelemetry } from '../telemetry/telemetry-retention'
import { jsonLogger, type Logger } from '../logger'

/** The bindings this Worker reads (wrangler.jsonc). Declared here so the repo needs no global workers-types. */
export interface Env {
  DATABASE_URL?: string
  /** Cloudflare's pooler in front of PostgreSQL; wins over DATABASE_URL when bound. */
  HYPERDRIVE?: { connectionString: string }
  WEFT_OPERATOR_KEY?: string
  WEFT_MASTER_KEY?: string
  WEFT_PUBLIC_URL?: string
  WEFT_LOG_LEVEL?: string
  [binding: string]: unknown
}

/** The request's ExecutionContext plus the connections it opened, so they close after its response. */
type RequestScope = ExecutionContext & { opened: Database[] }

type App = ReturnType<typeof createApp>

// Per isolate: env does not change between requests of one isolate. Both reset on failure so a later
// request retries instead of the isolate staying broken until Cloudflare recycles it.
let app: Promise<App> | undefined
let migrated: Promise<void> | undefined

async function build(env: Env): Promise<App> {
  const strings = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => typeof e[1] === 'string'))
  if (env.HYPERDRIVE) strings.DATABASE_URL = env.HYPERDRIVE.connectionString
  const config = loadConfig(strings)
  const logger = jsonLogger({ level: config.logLevel, bindings: { component: 'weft-control-api', runtime: 'workers' } })
  const { database } = config
  if (database.kind !== 'postgres') {
    throw new ConfigError(['DATABASE_URL: must be postgres://… (or bind HYPERDRIVE): a Worker has no file system for the embedded database'])
  }
  if (!config.operatorKey) {
    logger.warn({}, 'WEFT_OPERATOR_KEY is not set: only operator keys already stored in the database are accepted (wrangler secret put WEFT_OPERATOR_KEY)')
  }
  if (!config.masterKey) {
    logger.warn({}, 'WEFT_MASTER_KEY is not set: tenants cannot be created nor signing keys rotated (wrangler secret put WEFT_MASTER_KEY)')
  }
  const masterKey = config.masterKey ? await importMasterKey(config.masterKey) : null
  const neon = new URL(database.url).hostname.endsWith('.neon.tech')

  return createApp({
    config,
    logger,
    masterKey,
    async getDb(c) {
      let d: Database
      try {
        d = neon ? await connectNeon(database.url) : await connectPgClient(database.url)
      } catch (err) {
        // The app answers 503 and logs only its own error; the driver's reason is what an operator needs.
        c.var.log.warn({ err: describe(err) }, 'cannot connect to the database')
        throw err
      }
      ;(c.executionCtx as RequestScope).opened.push(d)
      await (migrated ??= applyMigrations(d, logger))
      return d.db
    },
  })
}

function applyMigrations(d: Database, logger: Logger): Promise<void> {
  return migrate(d.db, migrations).then(
    (applied) => logger.info({ applied }, applied.length ? 'migrations applied' : 'database schema up to date'),
    (err: unknown) => {
      migrated = undefined
      logger.error({ err: describe(err) }, 'migrations failed')
      throw err
    },
  )
}

function describe(err: unknown): { name: string; message: string; code?: unknown } {
  const e = err instanceof Error ? err : new Error(String(err))
  return { name: e.name, message: e.message, code: (e as { code?: unknown }).code }
}

/** Without a working configuration there is no app to answer; say so as problem+json and log the why. */
function misconfigured(err: unknown): Response {
  jsonLogger({ bindings: { component: 'weft-control-api', runtime: 'workers' } }).error({ err: describe(err) }, 'cannot start')
  // The details name the Worker's settings: they go to the logs, not to anonymous callers.
  const problem = new NotConfigured(err instanceof ConfigError ? 'the Worker is misconfigured; its logs say how' : 'the Worker failed to start; its logs say why')
  return new Response(JSON.stringify(toProblem(problem)), { status: problem.status, headers: { 'Content-Type': 'application/problem+json' } })
}

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    let ready: App
    try {
      ready = await (app ??= build(env).catch((err: unknown) => {
        app = undefined
        throw err
      }))
    } catch (err) {
      return misconfigured(err)
    }
    // Wrapped, not extended: workerd's ExecutionContext methods need their own `this`.
    const scope: RequestScope = {
      waitUntil: (p) => ctx.waitUntil(p),
      passThroughOnException: () => ctx.passThroughOnException(),
      props: ctx.props,
      opened: [],
    }
    try {
      return await ready.fetch(request, env, scope)
    } finally {
      if (scope.opened.length) ctx.waitUntil(Promise.allSettled(scope.opened.map((d) => d.close())))
    }
  },

  /** The cron trigger in wrangler.jsonc: telemetry downsampling and retention; rotates signing keys that have signed for a whole period. */
  async scheduled(_controller: unknown, env: Env, ctx: ExecutionContext): Promise<void> {
    const strings = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => typeof e[1] === 'string'))
    if (env.HYPERDRIVE) strings.DATABASE_URL = env.HYPERDRIVE.connectionString
    const config = loadConfig(strings)
    const logger = jsonLogger({ level: config.logLevel, bindings: { component: 'weft-control-api', runtime: 'workers' } })
    if (config.database.kind !== 'postgres') {
      logger.warn({}, 'scheduled work skipped: DATABASE_URL is needed')
      return
    }
    const url = config.database.url
    const d = new URL(url).hostname.endsWith('.neon.tech') ? await connectNeon(url) : await connectPgClient(url)
    try {
      await (migrated ??= applyMigrations(d, logger))
      const now = new Date()
      // The cron is hourly: downsample what the last period may have changed (with margin), expire old rows.
      await sweepTelemetry(d.db, now, new Date(now.getTime() - 2 * HOUR_MS))
      if (config.masterKey) await rotateDueKeys(d.db, await importMasterKey(config.masterKey), now, config.keyRotationMs, logger)
      else logger.warn({}, 'scheduled key rotation skipped: WEFT_MASTER_KEY is needed')
    } finally {
      ctx.waitUntil(d.close())
    }
  },
}
