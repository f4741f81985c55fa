import { mkdirSync } from 'node:fs'
import { PGlite } from '@electric-sql/pglite'
import { drizzle } from 'drizzle-orm/pglite'
import * as schema from './schema'
import type { Database, Db } from './client'

/** The embedded database: real Postgres compiled to WASM, in `dataDir` or in memory when null. */
export async function connectPglite(dataDir: string | null): Promise<Database & { pglite: PGlite }> {
  if (dataDir) mkdirSync(dataDir, { recursive: true })
  const pglite = dataDir ? new PGlite(dataDir) : new PGlite()
  await pglite.waitReady
  const db = drizzle(pglite, { schema, casing: 'snake_case' }) as unknown as Db
  return { db, pglite, close: () => pglite.close() }
}
