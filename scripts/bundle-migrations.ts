// Embeds migrations/*.sql into a TypeScript module so the same migrator runs on Node and in a Worker,
// where there is no file system. `npm run db:generate` runs it after drizzle-kit; a test fails when the
// bundle and the folder disagree.
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { readMigrationsFolder, renderBundle } from '../control-api/src/db/migrations-folder'

const root = fileURLToPath(new URL('..', import.meta.url))
const out = `${root}control-api/src/db/migrations.generated.ts`
writeFileSync(out, renderBundle(readMigrationsFolder(`${root}migrations`)))
console.log(`wrote ${out}`)
