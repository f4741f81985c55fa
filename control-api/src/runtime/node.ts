// The Node entry: embedded PGlite by default, PostgreSQL with DATABASE_URL. Everything runtime-specific
// for Node lives here; the app itself is Web-standard.
import { serve, type ServerType } from '@hono/node-server'
import { pino } from 'pino'
import { pathToFileURL } from 'node:url'
import { createApp } from '../app'
import { bootstrapOperatorKey } from '../auth/operator-bootstrap'
import { ConfigError, DEFAULT_DATA_DIR, loadConfig, type Config } from '../config'
import { importMasterKey } from '../identity/master-key'
import { scheduleKeyRotation } from '../identity/rotation-schedule'
import { devMasterKey } from './dev-master-key'
import type { PGlite } from '@electric-sql/pglite'
import { scheduleEndpointExpiry } from '../distribution/endpoint-expiry'
import { scheduleTelemetryRetention } from '../telemetry/telemetry-retention'
import { scheduleAlerting } from '../slo/schedule-alerting'
import { webhookFetch } from './node-webhook-fetch'
import { pgliteNotifications, postgresNotifications, revisionReader } from '../distribution/notify-sources'
import { createRevisionBus } from '../distribution/revision-bus'
import type { Database } from '../db/client'
import { connectPglite } from '../db/connect-pglite'
import { connectPostgres } from '../db/connect-postgres'
import { migrate } from '../db/migrate'
import { migrations } from '../db/migrations.generated'
import type { Logger } from '../logger'

/** Long enough for a normal API request to finish, short enough for an orchestrator's stop timeout. */
const SHUTDOWN_GRACE_MS = 10_000

export async function connect(config: Config): Promise<Database> {
  return config.database.kind === 'postgres' ? connectPostgres(config.database.url) : connectPglite(config.database.dataDir)
}

export type RunningServer = { url: string; port: number; close(): Promise<void> }

export async function startNode(env: Record<string, string | undefined>, out: (s: string) => void = (s) => process.stdout.write(s)): Promise<RunningServer> {
  const config = loadConfig(env)
  const logger = pino({ level: config.logLevel, base: { component: 'weft-control-api' } }) as unknown as Logger
  const database = await connect(config)
  const applied = await migrate(database.db, migrations)
  logger.info({ applied, database: config.database.kind }, applied.length ? 'migrations applied' : 'database schema up to date')

  if (!config.operatorKey) {
    const secret = await bootstrapOperatorKey(database.db)
    if (secret) {
      out(
        `\n  Weft generated an operator key. It is shown only this once; store it now:\n\n` +
          `    WEFT_OPERATOR_KEY=${secret}\n\n` +
          `  (only its hash is kept; set WEFT_OPERATOR_KEY to choose your own)\n\n`,
      )
    }
  }

  const dataDir = config.database.kind === 'pglite' ? config.database.dataDir : (env.WEFT_DATA_DIR || DEFAULT_DATA_DIR)
  const masterKey = await importMasterKey(config.masterKey ?? devMasterKey(dataDir, logger))
  const revisions = await createRevisionBus({
    readRevisions: revisionReader(database.db),
    subscribe: 'pglite' in database ? pgliteNotifications(database.pglite as PGlite) : postgresNotifications((config.database as { url: string }).url, logger),
    // With NOTIFY the poll is only a safety net; it is one query for all waiting proxies.
    pollIntervalMs: 5_000,
    logger,
  })
  const app = createApp({ config, logger, masterKey, revisions, getDb: () => database.db })
  const rotation = scheduleKeyRotation({ db: database.db, masterKey, logger, periodMs: config.keyRotationMs })
  const expiry = scheduleEndpointExpiry({ db: database.db, logger })
  const telemetry = scheduleTelemetryRetention({ db: database.db, logger })
  const hooks = webhookFetch({ allowPrivate: config.webhookAllowPrivate })
  const alerting = scheduleAlerting({ db: database.db, masterKey, logger, fetch: hooks.fetch })
  const server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, () => resolve(s))
  })
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : config.port
  const url = `http://localhost:${port}`
  out(`Weft control API listening on ${url} (database: ${config.database.kind === 'postgres' ? 'PostgreSQL' : config.database.dataDir ? `PGlite in ${config.database.dataDir}` : 'PGlite in memory'}; docs at ${url}/docs)\n`)
  return {
    url,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        // In-flight requests get a grace period to finish; keep-alive sockets do not hold shutdown hostage.
        const http = server as unknown as { closeIdleConnections?: () => void; closeAllConnections?: () => void }
        http.closeIdleConnections?.()
        setTimeout(() => http.closeAllConnections?.(), SHUTDOWN_GRACE_MS).unref()
      }).then(() => {
        rotation.stop()
        expiry.stop()
        telemetry.stop()
        alerting.stop()
        return Promise.all([hooks.close(), revisions.close()]).then(() => database.close())
      }),
  }
}

async function main(): Promise<void> {
  let running: RunningServer
  try {
    running = await startNode(process.env)
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`weft: ${err.message}\n`)
      process.exit(78) // EX_CONFIG
    }
    throw err
  }
  const stop = (signal: string) => {
    process.stderr.write(`weft: ${signal}, shutting down\n`)
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  process.once('SIGINT', () => stop('SIGINT'))
  process.once('SIGTERM', () => stop('SIGTERM'))
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void main()
}
