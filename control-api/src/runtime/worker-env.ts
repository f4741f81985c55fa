// What the Worker entry and its Durable Object share: the bindings they read and how they reach the database.
import { ConfigError, loadConfig, type Config } from '../config'
import type { Database } from '../db/client'
import { connectNeon, viaWsProxy } from '../db/connect-neon'
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
  /** A WebSocket proxy in front of PostgreSQL (ws://HOST:PORT/PATH): Neon's driver through it, for any host. */
  WEFT_NEON_WS_PROXY?: string
  [binding: string]: unknown
}

/** The configuration from the string bindings (secrets and vars), with a Hyperdrive binding as DATABASE_URL. */
export function workerConfig(env: Env): Config {
  const strings = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => typeof e[1] === 'string'))
  if (env.HYPERDRIVE) strings.DATABASE_URL = env.HYPERDRIVE.connectionString
  const config = loadConfig(strings)
  // Hyperdrive speaks TCP to the Worker: a WebSocket proxy in front of it has nothing to proxy.
  if (env.HYPERDRIVE && config.neonWsProxy) throw new ConfigError(['WEFT_NEON_WS_PROXY: unset it when HYPERDRIVE is bound (Hyperdrive is reached over TCP)'])
  return config
}

export function workerLogger(config: Pick<Config, 'logLevel'>, bindings: object = {}): Logger {
  return jsonLogger({ level: config.logLevel, bindings: { component: 'weft-control-api', runtime: 'workers', ...bindings } })
}

/**
 * One connection for the caller to close: Neon's driver for a *.neon.tech host or through a configured
 * WebSocket proxy (WEFT_NEON_WS_PROXY), node-postgres over TCP otherwise.
 */
export function connectWorkerDatabase(url: string, neonWsProxy: Config['neonWsProxy']): Promise<Database> {
  if (neonWsProxy) return connectNeon(url, viaWsProxy(neonWsProxy))
  return new URL(url).hostname.endsWith('.neon.tech') ? connectNeon(url) : connectPgClient(url)
}
