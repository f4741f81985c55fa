import { sql } from 'drizzle-orm'
import type { Db } from './client'

export type Migration = { tag: string; sql: string }

// Any constant works as long as every Weft instance uses the same one: it serialises concurrent starts.
const MIGRATION_LOCK_ID = 0x77656674 // "weft"

/**
 * Applies pending migrations in one transaction under a transaction-scoped advisory lock, so two
 * instances starting together apply each migration exactly once and a failed migration leaves nothing
 * behind. Returns the tags it applied (empty on an up-to-date database).
 */
export async function migrate(db: Db, migrations: readonly Migration[]): Promise<string[]> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${MIGRATION_LOCK_ID})`)
    await tx.execute(sql`create table if not exists weft_migrations (
      tag text primary key,
      applied_at timestamptz not null default now()
    )`)
    const result = (await tx.execute(sql`select tag from weft_migrations`)) as unknown as { rows: { tag: string }[] }
    const done = new Set(result.rows.map((r) => r.tag))
    const applied: string[] = []
    for (const m of migrations) {
      if (done.has(m.tag)) continue
      for (const statement of m.sql.split('--> statement-breakpoint')) {
        if (statement.trim()) await tx.execute(sql.raw(statement))
      }
      await tx.execute(sql`insert into weft_migrations (tag) values (${m.tag})`)
      applied.push(m.tag)
    }
    return applied
  })
}
