// What the Worker entry and its Durable Object share: the bindings they read and how they reach the database.
import { loadConfig, type Config } from '../config'
import type { Database } from '../db/client'
import { connectNeon } from '../db/connect-neon'
import { connectPgClient } from '../db/connect-pg-client'
import type { DurableObjectNamespaceLike } from '../distribution/durable-revision-bus'
import { jsonLogger, type Logger } from '../logger'

/** The bindings this Worker reads (wrangler.jsonc). Declared here so the repo needs no global workers-types. */
export interface Env {
  DATABASE_URL?: string
  /** Cloudflare's pooler in front of PostgreSQL; wins over DATABASE_URL when bound. */
  HYPERDRIVE?: { connectionString: string }
  /** The TenantRevisions Durable Object: one per tenant, holding that tenant's long polls. */
  TENANT_REVISIONS?: DurableObjectNamespaceLike
  WEFT_OPERATOR_KEY?: string
  WEFT_MASTER_KEY?: string
  WEFT_PUBLIC_URL?: string
  WEFT_LOG_LEVEL?: string
  [binding: string]: unknown
}

/** The configuration from the string bindings (secrets and vars), with a Hyperdrive binding as DATABASE_URL. */
export function workerConfig(env: Env): Config {
  const strings = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => typeof e[1] === 'string'))
  if (env.HYPERDRIVE) strings.DATABASE_URL = env.HYPERDRIVE.connectionString
  return loadConfig(strings)
}

export function workerLogger(config: Pick<Config, 'logLevel'>, bindings: object = {}): Logger {
  return jsonLogger({ level: config.logLevel, bindings: { component: 'weft-control-api', runtime: 'workers', ...bindings } })
}

/** One connection for the caller to close: Neon's driver for a *.neon.tech host, node-postgres otherwise. */
export function connectWorkerDatabase(url: string): Promise<Database> {
  return new URL(url).hostname.endsWith('.neon.tech') ? connectNeon(url) : connectPgClient(url)
}
