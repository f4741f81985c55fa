import { z } from 'zod'
import type { Logger } from '../logger'
import type { RevisionBus } from './revision-bus'

/** The slice of a Durable Object namespace binding this uses (the repo carries no global workers-types). */
export interface DurableObjectNamespaceLike {
  idFromName(name: string): unknown
  get(id: never): { fetch(url: string, init?: RequestInit): Promise<Response> }
}

// How the Worker talks to a tenant's TenantRevisions object. The host is never resolved: a stub's fetch
// goes to the object whatever the URL says.
export const TENANT_REVISIONS_ORIGIN = 'https://tenant-revisions.internal'
export const WaitRequest = z.object({
  tenantId: z.string().uuid(),
  after: z.number().int().min(0),
  timeoutMs: z.number().int().min(0).max(120_000),
})
export const WaitAnswer = z.object({ revision: z.number().int().nullable() })
export const PublishRequest = z.object({ tenantId: z.string().uuid(), revision: z.number().int().min(0) })
export const StatusAnswer = z.object({ waiting: z.number().int(), announced: z.number().int(), polls: z.number().int() })

export type DurableRevisionBus = RevisionBus & {
  /** Tells the tenant's object of a committed revision; resolves once it has woken its waiters. */
  announce(tenantId: string, revision: number): Promise<void>
}

/**
 * The RevisionBus of a Worker: a waiting request parks in its tenant's TenantRevisions object (one per
 * tenant, wherever the request runs), so a revision reaches every watcher in one fan-out, and the database
 * sees one poll per tenant per second however many proxies watch.
 */
export function durableRevisionBus(namespace: DurableObjectNamespaceLike, logger: Logger): DurableRevisionBus {
  let waiting = 0
  const call = async (tenantId: string, path: string, body: unknown, signal?: AbortSignal): Promise<Response> => {
    const stub = namespace.get(namespace.idFromName(tenantId) as never)
    const res = await stub.fetch(TENANT_REVISIONS_ORIGIN + path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      signal,
    })
    if (!res.ok) throw new Error(`TenantRevisions ${path} answered ${res.status}: ${await res.text()}`)
    return res
  }
  const announce = async (tenantId: string, revision: number) => {
    await (await call(tenantId, '/publish', { tenantId, revision })).body?.cancel()
  }
  return {
    announce,
    publish(tenantId, revision) {
      announce(tenantId, revision).catch((err) => logger.warn({ err: String(err), tenantId, revision }, 'could not announce a revision'))
    },
    async waitForRevision(tenantId, after, timeoutMs, signal) {
      if (timeoutMs <= 0 || signal?.aborted) return null
      waiting++
      try {
        const res = await call(tenantId, '/wait', { tenantId, after, timeoutMs: Math.round(timeoutMs) }, signal)
        return WaitAnswer.parse(await res.json()).revision
      } catch (err) {
        // The proxy went away: nobody reads the answer.
        if (signal?.aborted) return null
        throw err
      } finally {
        waiting--
      }
    },
    waiting: () => waiting,
    async close() {},
  }
}
