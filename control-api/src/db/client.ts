import type { PgDatabase, PgQueryResultHKT, PgTransaction } from 'drizzle-orm/pg-core'
import type { ExtractTablesWithRelations } from 'drizzle-orm'
import type * as schema from './schema'

export type Schema = typeof schema
/** A drizzle database over any of the drivers Weft runs on: PGlite, node-postgres, Neon serverless. */
export type Db = PgDatabase<PgQueryResultHKT, Schema>
export type Tx = PgTransaction<PgQueryResultHKT, Schema, ExtractTablesWithRelations<Schema>>
/** Either a database or an open transaction: repository functions accept both. */
export type Queryable = Db | Tx

/** A connected database and how to let go of it. */
export type Database = { db: Db; close(): Promise<void> }
