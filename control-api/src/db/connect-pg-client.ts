import pg from 'pg'
import { drizzle } from 'drizzle-orm/node-postgres'
import * as schema from './schema'
import type { Database, Db } from './client'

// Short: a control API that cannot reach its database should say so (503) rather than hang callers.
const CONNECT_TIMEOUT_MS = 5_000

/**
 * One node-postgres connection, opened now. On Workers a socket belongs to the request that opened it,
 * so a pool shared across requests cannot work; connecting eagerly makes an unreachable database fail
 * here, where the app turns it into a 503, instead of in the middle of a handler.
 */
export async function connectPgClient(url: string): Promise<Database & { client: pg.Client }> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS })
  // A connection dropped by the server must not become an unhandled error; the next query reports it.
  client.on('error', () => {})
  try {
    await client.connect()
  } catch (err) {
    await client.end().catch(() => {})
    throw err
  }
  const db = drizzle(client, { schema, casing: 'snake_case' }) as unknown as Db
  return { db, client, close: () => client.end() }
}
