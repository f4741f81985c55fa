import { defineConfig } from 'drizzle-kit'

// drizzle-kit only diffs the schema against the committed snapshots in migrations/meta;
// it never needs a live database here.
export default defineConfig({
  dialect: 'postgresql',
  schema: './control-api/src/db/schema.ts',
  out: './migrations',
  casing: 'snake_case',
})
