// The backends every database suite runs against: embedded PGlite always, and a real PostgreSQL
// server when TEST_DATABASE_URL is set (.ci/run sets it). Each suite gets its own fresh database.
import type { PGlite } from '@electric-sql/pglite'
import pg from 'pg'
import { describe } from 'vitest'
import type { Database } from '../../control-api/src/db/client'
import { connectPglite } from '../../control-api/src/db/connect-pglite'
import { connectPostgres } from '../../control-api/src/db/connect-postgres'
import { migrate } from '../../control-api/src/db/migrate'
import { migrations } from '../../control-api/src/db/migrations.generated'

/** 'neon': PostgreSQL reached with Neon's driver through a WebSocket bridge (test/db/neon-driver.test.ts). */
export type Backend = { name: 'pglite' | 'postgres' | 'neon'; open(): Promise<TestDatabase> }
export type TestDatabase = Database & { url: string | null; pglite?: PGlite }

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL

/**
 * `describe` for a suite that needs a real PostgreSQL server (workerd against node-postgres or Neon's driver):
 * without TEST_DATABASE_URL it is skipped and its title says why; `.ci/run` always sets it.
 */
export function describeWithPostgres(title: string, body: () => void): void {
  if (TEST_DATABASE_URL) describe(title, body)
  else describe.skip(`${title} (skipped: set TEST_DATABASE_URL to a PostgreSQL server; CI does)`, body)
}

if (!TEST_DATABASE_URL && !process.env.WEFT_QUIET_SKIP) {
  console.warn('TEST_DATABASE_URL is not set: database suites run on PGlite only (.ci/run runs both)')
}

/** Creates an empty database on the server and returns its URL; dropped by the returned close. */
export async function createScratchDatabase(serverUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `weft_test_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`
  const admin = new pg.Client({ connectionString: serverUrl })
  await admin.connect()
  await admin.query(`create database ${name}`)
  await admin.end()
  const url = new URL(serverUrl)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: serverUrl })
      await c.connect()
      await c.query(`drop database if exists ${name} with (force)`)
      await c.end()
    },
  }
}

export const backends: Backend[] = [
  {
    name: 'pglite',
    async open() {
      const d = await connectPglite(null)
      await migrate(d.db, migrations)
      return { ...d, url: null }
    },
  },
  ...(TEST_DATABASE_URL
    ? [
        {
          name: 'postgres' as const,
          async open(): Promise<TestDatabase> {
            const scratch = await createScratchDatabase(TEST_DATABASE_URL)
            const d = connectPostgres(scratch.url)
            await migrate(d.db, migrations)
            return {
              db: d.db,
              url: scratch.url,
              async close() {
                await d.close()
                await scratch.drop()
              },
            }
          },
        },
      ]
    : []),
]
