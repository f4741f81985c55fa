import type { Logger } from '../logger'

/**
 * Wakes long-polling proxies when their tenant's revision moves. One bus per control API instance: every
 * waiter of a tenant hangs off one entry, a database notification (or one batched poll per interval, for
 * all waited tenants together) resolves them all. So watchers cost memory, not queries.
 */
export interface RevisionBus {
  /** Resolves with the tenant's revision once it is greater than `after`; null when `timeoutMs` passes first. */
  waitForRevision(tenantId: string, after: number, timeoutMs: number, signal?: AbortSignal): Promise<number | null>
  /** A revision seen (from NOTIFY, a poll, or this instance's own commit). Out-of-order and duplicate calls are harmless. */
  publish(tenantId: string, revision: number): void
  /** How many requests are waiting, for metrics and tests. */
  waiting(): number
  close(): Promise<void>
}

export type RevisionBusOptions = {
  /** Reads current revisions of many tenants in one query. */
  readRevisions(tenantIds: string[]): Promise<Map<string, number>>
  /**
   * Subscribes to the database's change notifications; returns how to unsubscribe. Optional: without it
   * the bus only polls. With it, polling is a safety net for notifications lost while reconnecting.
   */
  subscribe?: (onRevision: (tenantId: string, revision: number) => void) => Promise<() => Promise<void>>
  pollIntervalMs: number
  logger: Logger
}

type Waiter = { after: number; resolve: (r: number | null) => void }

export const NOTIFY_CHANNEL = 'weft_revision'

export function parseNotification(payload: string | undefined): { tenantId: string; revision: number } | null {
  const m = /^([0-9a-f-]{36}):(\d+)$/.exec(payload ?? '')
  return m ? { tenantId: m[1]!, revision: Number(m[2]) } : null
}

export async function createRevisionBus(opts: RevisionBusOptions): Promise<RevisionBus> {
  const waiters = new Map<string, Set<Waiter>>()
  const latest = new Map<string, number>()
  let closed = false

  function publish(tenantId: string, revision: number): void {
    const known = latest.get(tenantId)
    if (known !== undefined && known >= revision) return
    latest.set(tenantId, revision)
    const set = waiters.get(tenantId)
    if (!set) return
    for (const w of set) {
      if (revision > w.after) {
        set.delete(w)
        w.resolve(revision)
      }
    }
    if (set.size === 0) waiters.delete(tenantId)
  }

  const unsubscribe = opts.subscribe ? await opts.subscribe(publish) : null

  // The poll runs only while someone waits: an idle bus (a Durable Object between long polls) costs nothing.
  let polling = false
  let timer: ReturnType<typeof setInterval> | undefined
  const poll = async () => {
    if (waiters.size === 0) {
      clearInterval(timer)
      timer = undefined
      return
    }
    if (polling) return
    polling = true
    try {
      for (const [tenantId, revision] of await opts.readRevisions([...waiters.keys()])) publish(tenantId, revision)
    } catch (err) {
      opts.logger.warn({ err: String(err) }, 'revision poll failed')
    } finally {
      polling = false
    }
  }
  const startPolling = () => {
    if (timer !== undefined || closed) return
    timer = setInterval(poll, opts.pollIntervalMs)
    ;(timer as { unref?: () => void }).unref?.()
  }

  return {
    publish,
    waiting: () => [...waiters.values()].reduce((n, s) => n + s.size, 0),
    waitForRevision(tenantId, after, timeoutMs, signal) {
      const known = latest.get(tenantId)
      if (known !== undefined && known > after) return Promise.resolve(known)
      if (closed || timeoutMs <= 0 || signal?.aborted) return Promise.resolve(null)
      return new Promise((resolve) => {
        let set = waiters.get(tenantId)
        if (!set) waiters.set(tenantId, (set = new Set()))
        const done = (r: number | null) => {
          clearTimeout(t)
          signal?.removeEventListener('abort', onAbort)
          resolve(r)
        }
        const w: Waiter = { after, resolve: done }
        const remove = () => {
          const s = waiters.get(tenantId)
          s?.delete(w)
          if (s?.size === 0) waiters.delete(tenantId)
        }
        const onAbort = () => {
          remove()
          done(null)
        }
        const t = setTimeout(() => {
          remove()
          done(null)
        }, timeoutMs)
        signal?.addEventListener('abort', onAbort, { once: true })
        set.add(w)
        startPolling()
      })
    },
    async close() {
      closed = true
      clearInterval(timer)
      for (const set of waiters.values()) for (const w of set) w.resolve(null)
      waiters.clear()
      await unsubscribe?.()
    },
  }
}
