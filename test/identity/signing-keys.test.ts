import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signingKeys } from '../../control-api/src/db/schema'
import { generateMasterKeyBase64, importMasterKey, seal, unseal } from '../../control-api/src/identity/master-key'
import { rotateDueKeys } from '../../control-api/src/identity/rotation-schedule'
import { MAX_TOKEN_TTL_SECONDS, VERIFIER_SKEW_SECONDS } from '../../control-api/src/identity/signing-keys'
import { jsonLogger } from '../../control-api/src/logger'
import { backends } from '../support/databases'
import { startHarness, type Harness } from '../support/harness'

describe('master key sealing', () => {
  it('round-trips, and refuses another master key or another row', async () => {
    const k1 = await importMasterKey(generateMasterKeyBase64())
    const k2 = await importMasterKey(generateMasterKeyBase64())
    const sealed = await seal(k1, 'private jwk', 'row-1')
    expect(sealed).not.toContain('private')
    expect(await unseal(k1, sealed, 'row-1')).toBe('private jwk')
    await expect(unseal(k2, sealed, 'row-1')).rejects.toThrow(/does not decrypt/)
    await expect(unseal(k1, sealed, 'row-2')).rejects.toThrow(/does not decrypt/)
    await expect(importMasterKey(btoa('too short'))).rejects.toThrow(/32 bytes/)
  })
})

describe.each(backends)('signing keys on $name', (backend) => {
  let h: Harness
  let key: string
  let tenantId: string
  const jwks = async () => (await h.request('GET', '/v1/tenants/keyco/jwks.json')).body.keys.map((k: any) => k.kid) as string[]
  const keys = async () => (await h.request('GET', '/v1/signing-keys', { key })).body.items as any[]
  beforeAll(async () => {
    h = await startHarness(backend)
    const t = await h.onboard('keyco')
    key = t.adminKey
    tenantId = t.tenant.id
  })
  afterAll(() => h.close())

  it('onboarding creates a current ES256 key and publishes the next one before it signs', async () => {
    const r = await h.request('GET', '/v1/tenants/keyco/jwks.json')
    expect(r.status).toBe(200)
    expect(r.headers.get('cache-control')).toMatch(/public, max-age=\d+/)
    expect(r.body.keys).toHaveLength(2)
    for (const k of r.body.keys) {
      expect(k).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' })
      expect(k).not.toHaveProperty('d')
    }
    const list = await keys()
    expect(list.map((k) => k.status).sort()).toEqual(['current', 'next'])
    // The private halves are sealed at rest.
    const rows = await h.db.select().from(signingKeys).where(eq(signingKeys.tenantId, tenantId))
    for (const row of rows) {
      expect(row.privateKeyEnc).toMatch(/^v1\./)
      expect(row.privateKeyEnc).not.toContain('"d"')
    }
    expect((await h.request('GET', '/v1/tenants/nobody/jwks.json')).status).toBe(404)
  })

  it('rotation promotes next, keeps the old key published through its overlap, then retires it', async () => {
    const before = await keys()
    const oldCurrent = before.find((k) => k.status === 'current').kid
    const oldNext = before.find((k) => k.status === 'next').kid
    const r = await h.request('POST', '/v1/signing-keys/rotate', { key })
    expect(r.status).toBe(200)
    const after = await keys()
    expect(after.find((k) => k.status === 'current').kid).toBe(oldNext)
    expect(after.find((k) => k.kid === oldCurrent).status).toBe('previous')
    const fresh = after.find((k) => k.status === 'next').kid
    expect([oldCurrent, oldNext]).not.toContain(fresh)
    expect((await jwks()).sort()).toEqual([oldCurrent, oldNext, fresh].sort())

    // Still published just before the last token it could have signed expires (plus skew)...
    h.clock.advance((MAX_TOKEN_TTL_SECONDS + VERIFIER_SKEW_SECONDS) * 1000 - 1000)
    expect(await jwks()).toContain(oldCurrent)
    // ...and gone after; the next rotation retires it and erases its private half.
    h.clock.advance(2000)
    expect(await jwks()).not.toContain(oldCurrent)
    await h.request('POST', '/v1/signing-keys/rotate', { key })
    const [retired] = await h.db.select().from(signingKeys).where(eq(signingKeys.kid, oldCurrent))
    expect(retired).toMatchObject({ status: 'retired', privateKeyEnc: null })
    const audit = await h.request('GET', '/v1/audit-events?action=signing-key.rotate', { key })
    expect(audit.body.items).toHaveLength(2)
  })

  it('rotates on schedule only tenants whose key is older than the period, once', async () => {
    const other = await h.onboard('fresh-keys')
    const logger = jsonLogger({ level: 'silent' })
    const hour = 3600_000
    h.clock.advance(10 * hour)
    const due = await rotateDueKeys(h.db, h.masterKey, h.clock.now(), 5 * hour, logger)
    expect(due).toContain(tenantId)
    expect(due).toContain(other.tenant.id)
    expect(await rotateDueKeys(h.db, h.masterKey, h.clock.now(), 5 * hour, logger)).toEqual([])
    // The schedule also retires keys whose overlap has closed, without waiting for another rotation.
    h.clock.advance((MAX_TOKEN_TTL_SECONDS + VERIFIER_SKEW_SECONDS + 1) * 1000)
    await rotateDueKeys(h.db, h.masterKey, h.clock.now(), 1000 * hour, logger)
    const rows = await h.db.select().from(signingKeys).where(eq(signingKeys.tenantId, other.tenant.id))
    expect(rows.map((r) => r.status).sort()).toEqual(['current', 'next', 'retired'])
    expect(rows.find((r) => r.status === 'retired')!.privateKeyEnc).toBeNull()
  })

  it('viewers and editors cannot rotate or list keys', async () => {
    const editor = await h.createKey(key, 'editor')
    expect((await h.request('POST', '/v1/signing-keys/rotate', { key: editor })).status).toBe(403)
    expect((await h.request('GET', '/v1/signing-keys', { key: editor })).status).toBe(403)
  })

  it('the token lifetime is a tenant setting between 1 minute and 1 hour', async () => {
    const me = await h.request('GET', '/v1/tenant', { key })
    expect(me.body.tokenTtlSeconds).toBe(900)
    expect((await h.request('PATCH', '/v1/tenant', { key, body: { tokenTtlSeconds: 7200 } })).status).toBe(400)
    const ok = await h.request('PATCH', '/v1/tenant', { key, body: { tokenTtlSeconds: 300 } })
    expect(ok.status).toBe(200)
    expect(ok.body.tokenTtlSeconds).toBe(300)
  })
})
