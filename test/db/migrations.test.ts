import { execFileSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sql } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { connectPglite } from '../../control-api/src/db/connect-pglite'
import { connectPostgres } from '../../control-api/src/db/connect-postgres'
import { migrate } from '../../control-api/src/db/migrate'
import { readMigrationsFolder } from '../../control-api/src/db/migrations-folder'
import { migrations } from '../../control-api/src/db/migrations.generated'
import { createScratchDatabase, TEST_DATABASE_URL } from '../support/databases'

const root = fileURLToPath(new URL('../..', import.meta.url))
const allTags = migrations.map((m) => m.tag)

describe('migrations', () => {
  it('the embedded bundle matches migrations/ (run `npm run db:generate` after changing the schema)', () => {
    expect(migrations).toEqual(readMigrationsFolder(join(root, 'migrations')))
  })

  it('migrations/ is up to date with the drizzle schema', () => {
    // drizzle-kit prefixes --out with "./" and exits 0 on errors, so: a relative folder, and read what it says.
    mkdirSync(join(root, '.weft'), { recursive: true })
    const out = relative(root, mkdtempSync(join(root, '.weft', 'drift-')))
    try {
      cpSync(join(root, 'migrations'), join(root, out), { recursive: true })
      const before = readdirSync(join(root, out)).sort()
      const said = execFileSync(
        join(root, 'node_modules/.bin/drizzle-kit'),
        ['generate', '--dialect=postgresql', '--schema=./control-api/src/db/schema.ts', `--out=${out}`, '--casing=snake_case'],
        { cwd: root, stdio: 'pipe', encoding: 'utf8' },
      )
      expect(said).toContain('No schema changes')
      expect(readdirSync(join(root, out)).sort()).toEqual(before)
    } finally {
      rmSync(join(root, out), { recursive: true, force: true })
    }
  })

  it('on PGlite: the first start applies everything, a second start is a no-op', async () => {
    const d = await connectPglite(null)
    try {
      expect(await migrate(d.db, migrations)).toEqual(allTags)
      expect(await migrate(d.db, migrations)).toEqual([])
      const rows = (await d.db.execute(sql`select count(*)::int as n from weft_migrations`)) as unknown as { rows: { n: number }[] }
      expect(rows.rows[0]!.n).toBe(allTags.length)
    } finally {
      await d.close()
    }
  })

  it('a failing migration leaves nothing behind', async () => {
    const d = await connectPglite(null)
    try {
      const broken = [...migrations, { tag: '9999_broken', sql: 'create table weft_half (id int);\n--> statement-breakpoint\nselect no_such_function();' }]
      await expect(migrate(d.db, broken)).rejects.toThrow()
      const tables = (await d.db.execute(sql`select count(*)::int as n from pg_tables where tablename in ('weft_half', 'tenants')`)) as unknown as { rows: { n: number }[] }
      expect(tables.rows[0]!.n).toBe(0)
      expect(await migrate(d.db, migrations)).toEqual(allTags)
    } finally {
      await d.close()
    }
  })

  describe.skipIf(!TEST_DATABASE_URL)('on PostgreSQL', () => {
    it('two instances starting at once apply each migration exactly once; a later start is a no-op', async () => {
      const scratch = await createScratchDatabase(TEST_DATABASE_URL!)
      const a = connectPostgres(scratch.url)
      const b = connectPostgres(scratch.url)
      try {
        const results = await Promise.all([migrate(a.db, migrations), migrate(b.db, migrations)])
        expect(results.map((r) => r.length).sort()).toEqual([0, allTags.length])
        expect(await migrate(a.db, migrations)).toEqual([])
        const rows = (await a.db.execute(sql`select count(*)::int as n from weft_migrations`)) as unknown as { rows: { n: number }[] }
        expect(rows.rows[0]!.n).toBe(allTags.length)
      } finally {
        await a.close()
        await b.close()
        await scratch.drop()
      }
    })
  })
})
