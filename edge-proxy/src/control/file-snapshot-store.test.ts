import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { FileSnapshotStore, StateFileCorrupt } from './file-snapshot-store'

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
})
