import { describe, expect, it } from 'vitest'
import { jsonLogger } from '../logger'
import { createRevisionBus } from './revision-bus'
import { noteRevision, announcingCommits } from './revision-commits'
import { connectPglite } from '../db/connect-pglite'
import { migrate } from '../db/migrate'
import { migrations } from '../db/migrations.generated'
import { tenants } from '../db/schema'
import { recordChange } from '../repo/audit'
import { DEFAULT_QUOTAS } from '../schemas/tenants'

const TENANT = '00000000-0000-4000-8000-000000000001'
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('the revision bus', () => {
  it('reads revisions only while someone waits: an idle bus (a quiet Durable Object) makes no queries', async () => {
    let revision = 1
    const asked: string[][] = []
    const bus = await createRevisionBus({
      readRevisions: async (ids) => {
        asked.push(ids)
        return new Map(ids.map((id) => [id, revision]))
      },
      pollIntervalMs: 10,
      logger: jsonLogger({ level: 'silent' }),
    })
    try {
      await pause(50)
      expect(asked).toEqual([])
      const waiting = bus.waitForRevision(TENANT, 1, 10_000)
      expect(bus.waiting()).toBe(1)
      revision = 2
      expect(await waiting).toBe(2)
      expect(asked.length).toBeGreaterThan(0)
      expect(asked.every((ids) => ids.length === 1 && ids[0] === TENANT)).toBe(true)
      const after = asked.length
      await pause(50)
      // At most the tick that noticed nobody waits; then the timer is gone.
      expect(asked.length).toBe(after)
      // And it starts again for the next waiter.
      revision = 3
      expect(await bus.waitForRevision(TENANT, 2, 10_000)).toBe(3)
    } finally {
      await bus.close()
    }
  })
})

describe('announcing commits (the Worker has no LISTEN)', () => {
  it("reports each committed transaction's tenant revisions once it commits, and nothing for a rollback", async () => {
    const d = await connectPglite(null)
    try {
      await migrate(d.db, migrations)
      const [t] = await d.db.insert(tenants).values({ slug: 'announce', displayName: 'announce', trustDomain: 'announce.weft.test', quotas: DEFAULT_QUOTAS }).returning()
      const heard: [string, number][] = []
      const db = announcingCommits(d.db, (tenantId, revision) => heard.push([tenantId, revision]))
      const change = { tenantId: t!.id, actor: { type: 'system' as const, id: null, name: 'test' }, action: 'test', resourceType: 'test' }

      const made = await db.transaction(async (tx) => {
        await recordChange(tx, change)
        // Not yet: the transaction has not committed.
        expect(heard).toEqual([])
        return recordChange(tx, change)
      })
      expect(heard).toEqual([[t!.id, made]])

      await expect(
        db.transaction(async (tx) => {
          await recordChange(tx, change)
          throw new Error('roll back')
        }),
      ).rejects.toThrow('roll back')
      expect(heard).toEqual([[t!.id, made]])

      // Outside an announcing transaction (the Node runtime) noting a revision does nothing.
      noteRevision(t!.id, 99)
      await d.db.transaction((tx) => recordChange(tx, change))
      expect(heard).toEqual([[t!.id, made]])
    } finally {
      await d.close()
    }
  })
})
