import { AsyncLocalStorage } from 'node:async_hooks'
import type { Db } from '../db/client'

// The revisions made by the transaction running in this async context, until it commits.
const pending = new AsyncLocalStorage<Map<string, number>>()

/**
 * Called by recordChange inside the transaction that moved `tenantId` to `revision`. Outside a transaction
 * started through announcingCommits (the Node runtime, which hears commits through LISTEN) it does nothing.
 */
export function noteRevision(tenantId: string, revision: number): void {
  const bumps = pending.getStore()
  if (bumps && (bumps.get(tenantId) ?? -1) < revision) bumps.set(tenantId, revision)
}

/**
 * The same database, except that every transaction, once committed, reports the tenant revisions it made.
 * For runtimes without LISTEN (the Worker tells each tenant's Durable Object). A transaction that rolls back
 * reports nothing: a revision announced before its commit could be compiled from data that never landed.
 */
export function announcingCommits(db: Db, onCommit: (tenantId: string, revision: number) => void): Db {
  const transaction: Db['transaction'] = async (run, config) => {
    const bumps = new Map<string, number>()
    const result = await pending.run(bumps, () => db.transaction(run, config))
    for (const [tenantId, revision] of bumps) onCommit(tenantId, revision)
    return result
  }
  return new Proxy(db, { get: (target, prop, receiver) => (prop === 'transaction' ? transaction : Reflect.get(target, prop, receiver)) })
}
