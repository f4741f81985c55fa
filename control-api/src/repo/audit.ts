import { eq, sql } from 'drizzle-orm'
import type { Queryable } from '../db/client'
import { auditEvents, tenants, type Actor } from '../db/schema'
import { NOTIFY_CHANNEL } from '../distribution/revision-bus'
import { noteRevision } from '../distribution/revision-commits'

export type Change = {
  tenantId: string | null
  actor: Actor
  action: string
  resourceType: string
  resourceId?: string | null
  resourceName?: string | null
  before?: unknown
  after?: unknown
  requestId?: string | null
  /** False for changes that do not alter what proxies see (API keys): no new revision. */
  bumpsRevision?: boolean
}

/**
 * Records a change in the audit log and, for mesh changes, bumps the tenant revision. Call it inside
 * the transaction that makes the change, so the change, its revision and its audit entry land together.
 * Returns the tenant revision after the change.
 */
export async function recordChange(tx: Queryable, change: Change): Promise<number | null> {
  let revision: number | null = null
  if (change.tenantId) {
    const [row] =
      change.bumpsRevision === false
        ? await tx.select({ revision: tenants.revision }).from(tenants).where(eq(tenants.id, change.tenantId))
        : await tx
            .update(tenants)
            .set({ revision: sql`${tenants.revision} + 1` })
            .where(eq(tenants.id, change.tenantId))
            .returning({ revision: tenants.revision })
    revision = row?.revision ?? null
    if (change.bumpsRevision !== false && revision !== null) {
      // Transactional: delivered to every LISTENing control API instance when (and only if) this commits.
      await tx.execute(sql`select pg_notify(${NOTIFY_CHANNEL}, ${`${change.tenantId}:${revision}`})`)
      // Where nothing LISTENs (Workers), the runtime announces it after the commit instead.
      noteRevision(change.tenantId, revision)
    }
  }
  await tx.insert(auditEvents).values({
    tenantId: change.tenantId,
    actor: change.actor,
    action: change.action,
    resourceType: change.resourceType,
    resourceId: change.resourceId ?? null,
    resourceName: change.resourceName ?? null,
    before: change.before ?? null,
    after: change.after ?? null,
    revision,
    requestId: change.requestId ?? null,
  })
  return revision
}
