import pg from 'pg'
import { drizzle } from 'drizzle-orm/node-postgres'
import * as schema from './schema'
import type { Database, Db } from './client'

// Short: a control API that cannot reach its database should say so (503) rather than hang callers.
const CONNECT_TIMEOUT_MS = 5_000

/** A pooled connection to a PostgreSQL server (node-postgres). Used by Node and, over TCP sockets, by Workers. */
export function connectPostgres(url: string, options: { max?: number } = {}): Database & { pool: pg.Pool } {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
  })
  // An idle client losing its server must not crash the process; the next query reports it.
  pool.on('error', () => {})
  const db = drizzle(pool, { schema, casing: 'snake_case' }) as unknown as Db
  return { db, pool, close: () => pool.end() }
}
