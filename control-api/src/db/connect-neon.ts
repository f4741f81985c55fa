import { Client, Pool, type NeonConfig } from '@neondatabase/serverless'
import { drizzle } from 'drizzle-orm/neon-serverless'
import * as schema from './schema'
import type { Database, Db } from './client'

const CONNECT_TIMEOUT_MS = 5_000

/** How each connection's WebSocket is opened; unset fields keep the driver's defaults (Neon's own endpoint). */
export type NeonSocketSettings = Partial<Pick<NeonConfig, 'wsProxy' | 'useSecureWebSocket' | 'pipelineConnect' | 'pipelineTLS' | 'webSocketConstructor'>>

/**
 * The settings for a self-run WebSocket proxy (WEFT_NEON_WS_PROXY: Neon's wsproxy, or the tests' bridge) as
 * Neon documents them for local development: the proxy URL without its scheme (the driver appends
 * `?address=HOST:PORT` of DATABASE_URL), plain ws: unless the URL says wss:, and no pipelining. Neon's
 * endpoints accept a cleartext password pipelined with the startup message; an ordinary PostgreSQL
 * behind a proxy asks for its own authentication (trust, SCRAM), so the driver must wait to be asked.
 */
export function viaWsProxy(proxyUrl: string): NeonSocketSettings {
  const secure = proxyUrl.startsWith('wss:')
  return {
    wsProxy: proxyUrl.slice(secure ? 'wss://'.length : 'ws://'.length),
    useSecureWebSocket: secure,
    pipelineConnect: false,
    pipelineTLS: false,
  }
}

/**
 * A Pool whose clients open their WebSocket with `settings`. Per connection rather than on the driver's global
 * neonConfig, so one isolate (or test process) can hold pools with different settings.
 */
function poolWith(url: string, settings: NeonSocketSettings): Pool {
  const pool = new Pool({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS })
  if (Object.keys(settings).length) {
    pool.Client = class extends Client {
      constructor(config: ConstructorParameters<typeof Client>[0]) {
        super(config)
        // neonConfig is the connection's socket; its setters override the driver's defaults for it alone.
        Object.assign(this.neonConfig, settings)
      }
    }
  }
  return pool
}

/**
 * Neon over its WebSocket driver: the Pool variant (not the HTTP `neon()` one) because migrations and
 * repositories need interactive transactions. On Workers make one per request and close it after the
 * response. The first connection is opened now so an unreachable database fails here (503), and the
 * pool keeps it for the request's queries, so this costs no extra round trip.
 */
export async function connectNeon(url: string, settings: NeonSocketSettings = {}): Promise<Database & { pool: Pool }> {
  const pool = poolWith(url, settings)
  pool.on('error', () => {})
  try {
    ;(await pool.connect()).release()
  } catch (err) {
    await pool.end().catch(() => {})
    throw err
  }
  const db = drizzle(pool, { schema, casing: 'snake_case' }) as unknown as Db
  return { db, pool, close: () => pool.end() }
}
