import { Pool } from '@neondatabase/serverless'
import { drizzle } from 'drizzle-orm/neon-serverless'
import * as schema from './schema'
import type { Database, Db } from './client'

const CONNECT_TIMEOUT_MS = 5_000

/**
 * Neon over its WebSocket driver: the Pool variant (not the HTTP `neon()` one) because migrations and
 * repositories need interactive transactions. On Workers make one per request and close it after the
 * response. The first connection is opened now so an unreachable database fails here (503), and the
 * pool keeps it for the request's queries, so this costs no extra round trip.
 */
export async function connectNeon(url: string): Promise<Database & { pool: Pool }> {
  const pool = new Pool({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS })
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
