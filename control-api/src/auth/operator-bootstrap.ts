import { isNull, sql } from 'drizzle-orm'
import type { Db } from '../db/client'
import { operatorKeys } from '../db/schema'
import { recordChange } from '../repo/audit'
import { generateSecret, hashSecret, SECRET_PREFIX } from './secrets'

const BOOTSTRAP_LOCK_ID = 0x77656675

/**
 * On a first start without WEFT_OPERATOR_KEY, generates the operator key, stores its hash and returns
 * the secret so the caller can print it, once. Returns null when a key already exists. Serialised by an
 * advisory lock, so two instances starting together cannot both mint one.
 */
export async function bootstrapOperatorKey(db: Db): Promise<string | null> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${BOOTSTRAP_LOCK_ID})`)
    const existing = await tx.select({ id: operatorKeys.id }).from(operatorKeys).where(isNull(operatorKeys.revokedAt)).limit(1)
    if (existing.length > 0) return null
    const secret = generateSecret(SECRET_PREFIX.operator)
    const [row] = await tx.insert(operatorKeys).values({ name: 'bootstrap', secretHash: await hashSecret(secret) }).returning()
    await recordChange(tx, {
      tenantId: null,
      actor: { type: 'system', id: null, name: 'bootstrap' },
      action: 'operator-key.create',
      resourceType: 'operator-key',
      resourceId: row!.id,
      resourceName: row!.name,
    })
    return secret
  })
}
