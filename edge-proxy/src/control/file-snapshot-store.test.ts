import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { usableStoredAudienceTokens } from './audience-tokens'
import { FileSnapshotStore, StateFileCorrupt } from './file-snapshot-store'
import type { StoredAudienceToken } from './snapshot-store'

const dirs: string[] = []
const scratch = () => {
  const d = mkdtempSync(join(tmpdir(), 'weft-store-'))
  dirs.push(d)
  return join(d, 'state') // not created yet: the store makes it
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

describe('FileSnapshotStore', () => {
  it('has nothing before the first save, then returns exactly what was saved', async () => {
    const store = new FileSnapshotStore(scratch())
    expect(await store.load()).toBeNull()
    expect(await store.loadIdentity()).toBeNull()
    const body = '{"schema":"weft.snapshot/v1","x":"é ✓"}'
    await store.save('"abc"', body)
    expect(await store.load()).toEqual({ etag: '"abc"', body })
    expect(await new FileSnapshotStore(store.dir).load()).toEqual({ etag: '"abc"', body })
  })

  it('writes owner-only files in an owner-only directory and leaves no temporary files', async () => {
    const store = new FileSnapshotStore(scratch())
    await store.save('"1"', '{}')
    await store.saveIdentity({ controlUrl: 'http://x', service: 's', token: 'a.b.c', spiffeId: 'spiffe://t.weft/svc/s', workloadId: 'w', issuedAt: 1, expiresAt: 2 })
    expect(statSync(store.dir).mode & 0o777).toBe(0o700)
    for (const f of ['snapshot.json', 'identity.json']) expect(statSync(join(store.dir, f)).mode & 0o777).toBe(0o600)
    expect(readdirSync(store.dir).sort()).toEqual(['identity.json', 'snapshot.json'])
  })

  it('serialises writes: the last save wins even when many run at once', async () => {
    const store = new FileSnapshotStore(scratch())
    await Promise.all(Array.from({ length: 30 }, (_, i) => store.save(`"${i}"`, `{"n":${i},"pad":"${'x'.repeat(i * 1000)}"}`)))
    expect((await store.load())?.etag).toBe('"29"')
    expect(readdirSync(store.dir)).toEqual(['snapshot.json'])
  })

  it('clears the identity when given null', async () => {
    const store = new FileSnapshotStore(scratch())
    await store.saveIdentity({ controlUrl: 'http://x', service: 's', token: 'a.b.c', spiffeId: 'spiffe://t.weft/svc/s', workloadId: 'w', issuedAt: 1, expiresAt: 2 })
    expect((await store.loadIdentity())?.token).toBe('a.b.c')
    await store.saveIdentity(null)
    expect(await store.loadIdentity()).toBeNull()
  })

  it('reports a corrupt or foreign file instead of returning garbage', async () => {
    const store = new FileSnapshotStore(scratch())
    await store.save('"1"', '{}')
    writeFileSync(join(store.dir, 'snapshot.json'), '{"etag": "1", "bo')
    await expect(store.load()).rejects.toBeInstanceOf(StateFileCorrupt)
    writeFileSync(join(store.dir, 'snapshot.json'), '{"etag": "1", "body": "{}"}')
    await expect(store.load()).rejects.toBeInstanceOf(StateFileCorrupt)
  })

  describe('audience tokens', () => {
    const me = { spiffeId: 'spiffe://t.weft/svc/orders', workloadId: 'w-1' }
    const now = 10_000_000
    const token = (callee: string, over: Partial<StoredAudienceToken> = {}): StoredAudienceToken => ({
      audience: `spiffe://t.weft/svc/${callee}`,
      token: `h.${callee}.s`,
      ...me,
      issuedAt: now - 60_000,
      expiresAt: now + 840_000, // a 15 min token, one minute old
      ...over,
    })

    it('round-trips through the file in an owner-only file, and an empty set removes it', async () => {
      const store = new FileSnapshotStore(scratch())
      expect(await store.loadAudienceTokens()).toEqual([])
      const saved = [token('payments'), token('ledger')]
      await store.saveAudienceTokens(saved)
      expect(statSync(join(store.dir, 'audience-tokens.json')).mode & 0o777).toBe(0o600)
      expect(await new FileSnapshotStore(store.dir).loadAudienceTokens()).toEqual(saved)
      await store.saveAudienceTokens([])
      expect(readdirSync(store.dir)).toEqual([])
    })

    it('after a restart keeps only tokens still outside the expiry margin and minted for the stored identity', async () => {
      const store = new FileSnapshotStore(scratch())
      await store.saveAudienceTokens([
        token('expired', { expiresAt: now - 1 }),
        token('in-margin', { issuedAt: now - 870_000, expiresAt: now + 30_000 }), // 15 min token: margin 60 s, so not handed out any more
        token('other-workload', { workloadId: 'w-0' }),
        token('other-subject', { spiffeId: 'spiffe://t.weft/svc/shipping' }),
        token('bad', { audience: 'payments' }),
        token('payments'),
      ])
      const loaded = await new FileSnapshotStore(store.dir).loadAudienceTokens()
      const { usable, discarded } = usableStoredAudienceTokens(loaded, me, now)
      expect(usable.map((t) => t.audience)).toEqual(['spiffe://t.weft/svc/payments'])
      expect(usable[0]).toMatchObject({ token: 'h.payments.s', lifetimeMs: 900_000 })
      expect(discarded).toBe(5)
      // Without a stored identity nothing can be vouched for.
      expect(usableStoredAudienceTokens(loaded, null, now).usable).toEqual([])
    })

    it('keeps at most the bound, the most recently used ones (saved last)', () => {
      const many = Array.from({ length: 5 }, (_, i) => token(`s${i}`))
      const { usable, discarded } = usableStoredAudienceTokens(many, me, now, 2)
      expect(usable.map((t) => t.audience)).toEqual(['spiffe://t.weft/svc/s3', 'spiffe://t.weft/svc/s4'])
      expect(discarded).toBe(3)
    })

    it('reports a corrupt file instead of returning garbage', async () => {
      const store = new FileSnapshotStore(scratch())
      await store.saveAudienceTokens([token('payments')])
      const file = join(store.dir, 'audience-tokens.json')
      writeFileSync(file, '{"format":"weft.state-file/v1","tok')
      await expect(store.loadAudienceTokens()).rejects.toBeInstanceOf(StateFileCorrupt)
      writeFileSync(file, JSON.stringify({ format: 'weft.state-file/v1', tokens: [{ audience: 'spiffe://t.weft/svc/x', token: 1 }] }))
      await expect(store.loadAudienceTokens()).rejects.toBeInstanceOf(StateFileCorrupt)
      writeFileSync(file, JSON.stringify({ tokens: [] }))
      await expect(store.loadAudienceTokens()).rejects.toBeInstanceOf(StateFileCorrupt)
    })
  })
})
