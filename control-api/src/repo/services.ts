import { and, eq } from 'drizzle-orm'
import type { Queryable } from '../db/client'
import { services } from '../db/schema'
import { NotFound } from '../errors'

/** Every service lookup takes the tenant: another tenant's service is simply not found. */
export async function findService(db: Queryable, tenantId: string, name: string, opts: { forUpdate?: boolean } = {}) {
  const q = db.select().from(services).where(and(eq(services.tenantId, tenantId), eq(services.name, name)))
  const [row] = opts.forUpdate ? await q.for('update') : await q
  if (!row) throw new NotFound(`no service "${name}"`)
  return row
}
