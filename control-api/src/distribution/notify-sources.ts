import { inArray } from 'drizzle-orm'
import type { PGlite } from '@electric-sql/pglite'
import pg from 'pg'
import type { Db } from '../db/client'
import { tenants } from '../db/schema'
import type { Logger } from '../logger'
import { NOTIFY_CHANNEL, parseNotification } from './revision-bus'

export function revisionReader(db: Db) {
  return async (tenantIds: string[]): Promise<Map<string, number>> => {
    const rows = await db.select({ id: tenants.id, revision: tenants.revision }).from(tenants).where(inArray(tenants.id, tenantIds))
    return new Map(rows.map((r) => [r.id, r.revision]))
  }
}

/** PGlite delivers NOTIFY in-process. */
export function pgliteNotifications(pglite: PGlite) {
  return async (onRevision: (tenantId: string, revision: number) => void) => {
    const unlisten = await pglite.listen(NOTIFY_CHANNEL, (payload) => {
      const n = parseNotification(payload)
      if (n) onRevision(n.tenantId, n.revision)
    })
    return async () => unlisten()
  }
}

// Reconnect quickly: while disconnected, the bus falls back to polling, so changes are late, not lost.
const RECONNECT_DELAY_MS = 1_000

/**
 * PostgreSQL: one dedicated connection LISTENs for the whole instance. It must be a direct connection (a
 * transaction-mode pooler such as PgBouncer or Neon's pooled endpoint does not keep LISTEN sessions).
 */
export function postgresNotifications(url: string, logger: Logger) {
  return async (onRevision: (tenantId: string, revision: number) => void) => {
    let client: pg.Client | null = null
    let stopped = false
    let retry: ReturnType<typeof setTimeout> | undefined
    const connect = async (): Promise<void> => {
      const c = new pg.Client({ connectionString: url })
      c.on('notification', (msg) => {
        const n = parseNotification(msg.payload)
        if (n) onRevision(n.tenantId, n.revision)
      })
      c.on('error', (err) => {
        logger.warn({ err: String(err) }, 'revision listener lost its connection; reconnecting')
        c.end().catch(() => {})
        if (client === c) client = null
        if (!stopped) retry = setTimeout(() => void connect().catch(() => {}), RECONNECT_DELAY_MS)
      })
      try {
        await c.connect()
        await c.query(`LISTEN ${NOTIFY_CHANNEL}`)
        client = c
      } catch (err) {
        c.end().catch(() => {})
        if (!stopped) retry = setTimeout(() => void connect().catch(() => {}), RECONNECT_DELAY_MS)
        throw err
      }
    }
    await connect()
    return async () => {
      stopped = true
      clearTimeout(retry)
      await client?.end().catch(() => {})
    }
  }
}
