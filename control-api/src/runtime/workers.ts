// The Cloudflare Workers entry. Like node.ts it only builds `deps`; the app is the same. What differs:
// no file system (so no PGlite: PostgreSQL, Neon or Hyperdrive only), no stdout to show a generated
// operator key, no I/O object (socket, pool) may outlive the request that opened it, and no LISTEN: long
// polls wait in a Durable Object per tenant (distribution/tenant-revisions.ts).
import type { ExecutionContext } from 'hono'
import { createApp } from '../app'
import { ConfigError } from '../config'
import type { Database } from '../db/client'
import { migrate } from '../db/migrate'
import { migrations } from '../db/migrations.generated'
import { durableRevisionBus, type DurableRevisionBus } from '../distribution/durable-revision-bus'
import { announcingCommits } from '../distribution/revision-commits'
import { NotConfigured, toProblem } from '../errors'
import { importMasterKey } from '../identity/master-key'
import { rotateDueKeys } from '../identity/rotation-schedule'
import { HOUR_MS } from '../telemetry/record-telemetry'
import { sweepTelemetry } from '../telemetry/telemetry-retention'
import { runAlerting } from '../slo/schedule-alerting'
import { jsonLogger, type Logger } from '../logger'
import { connectWorkerDatabase, workerConfig, workerLogger, type Env } from './worker-env'

export type { Env } from './worker-env'

/** wrangler.jsonc's per-minute trigger; the other one (hourly) does the slow housekeeping. */
// Not exported: workerd takes every export of the entry module for a handler or a Durable Object class.
const EVERY_MINUTE_CRON = '* * * * *'
/** The Durable Object class wrangler.jsonc binds as TENANT_REVISIONS: it must be exported by the entry. */
export { TenantRevisions } from '../distribution/tenant-revisions'

/** The request's ExecutionContext plus the connections it opened, so they close after its response. */
type RequestScope = ExecutionContext & { opened: Database[] }

type App = ReturnType<typeof createApp>

// Per isolate: env does not change between requests of one isolate. Both reset on failure so a later
// request retries instead of the isolate staying broken until Cloudflare recycles it.
let app: Promise<App> | undefined
let migrated: Promise<void> | undefined

/**
 * The database of one request (or cron run), whose committed revisions are announced to each tenant's
 * TenantRevisions object; waitUntil keeps the announcement going after the response is out.
 */
function announced(d: Database, revisions: DurableRevisionBus | undefined, ctx: ExecutionContext, logger: Logger): Database['db'] {
  if (!revisions) return d.db
  return announcingCommits(d.db, (tenantId, revision) =>
    ctx.waitUntil(
      revisions.announce(tenantId, revision).catch((err: unknown) => logger.warn({ err: describe(err), tenantId, revision }, 'could not announce a revision')),
    ),
  )
}

async function build(env: Env): Promise<App> {
  const config = workerConfig(env)
  const logger = workerLogger(config)
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
  if (!env.TENANT_REVISIONS) {
    logger.warn(
      {},
      'TENANT_REVISIONS is not bound: each long-polling proxy reads its tenant revision once a second; bind the TenantRevisions Durable Object (wrangler.jsonc) so a tenant costs one read per second however many proxies watch',
    )
  }
  const revisions = env.TENANT_REVISIONS ? durableRevisionBus(env.TENANT_REVISIONS, logger) : undefined
  const masterKey = config.masterKey ? await importMasterKey(config.masterKey) : null

  return createApp({
    config,
    logger,
    masterKey,
    revisions,
    async getDb(c) {
      let d: Database
      try {
        d = await connectWorkerDatabase(database.url, config.neonWsProxy)
      } catch (err) {
        // The app answers 503 and logs only its own error; the driver's reason is what an operator needs.
        c.var.log.warn({ err: describe(err) }, 'cannot connect to the database')
        throw err
      }
      ;(c.executionCtx as RequestScope).opened.push(d)
      await (migrated ??= applyMigrations(d, logger))
      return announced(d, revisions, c.executionCtx, c.var.log)
    },
    // Only where a TenantRevisions object holds the wait: the fallback polls through the connection.
    releaseDb: revisions
      ? async (c) => {
          const scope = c.executionCtx as RequestScope
          await Promise.allSettled(scope.opened.splice(0).map((d) => d.close()))
        }
      : undefined,
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

  /**
   * The cron triggers in wrangler.jsonc: every minute, SLO evaluation and webhook deliveries; hourly, telemetry
   * downsampling and retention, and rotation of signing keys that have signed for a whole period.
   */
  async scheduled(controller: { cron?: string; scheduledTime?: number } | undefined, env: Env, ctx: ExecutionContext): Promise<void> {
    const config = workerConfig(env)
    const logger = workerLogger(config)
    if (config.database.kind !== 'postgres') {
      logger.warn({}, 'scheduled work skipped: DATABASE_URL is needed')
      return
    }
    const d = await connectWorkerDatabase(config.database.url, config.neonWsProxy)
    const revisions = env.TENANT_REVISIONS ? durableRevisionBus(env.TENANT_REVISIONS, logger) : undefined
    try {
      await (migrated ??= applyMigrations(d, logger))
      const now = new Date(controller?.scheduledTime ?? Date.now())
      const masterKey = config.masterKey ? await importMasterKey(config.masterKey) : null
      if (controller?.cron === EVERY_MINUTE_CRON) {
        // SLO burn rates are per minute, and so is the retry schedule of their webhooks. A failure is logged as
        // Node's timer logs it (JSON, beside the other lines), and rethrown so the cron run shows as failed.
        try {
          await runAlerting({ db: d.db, masterKey, logger, now })
        } catch (err) {
          logger.warn({ err: String(err) }, 'slo evaluation or webhook delivery failed')
          throw err
        }
        return
      }
      // The hourly cron: downsample what the last period may have changed (with margin), expire old rows.
      await sweepTelemetry(d.db, now, new Date(now.getTime() - 2 * HOUR_MS))
      // A rotation publishes a new JWKS: a new revision that watching proxies must hear of.
      if (masterKey) await rotateDueKeys(announced(d, revisions, ctx, logger), masterKey, now, config.keyRotationMs, logger)
      else logger.warn({}, 'scheduled key rotation skipped: WEFT_MASTER_KEY is needed')
    } finally {
      ctx.waitUntil(d.close())
    }
  },
}
