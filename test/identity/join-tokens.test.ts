import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hashSecret } from '../../control-api/src/auth/secrets'
import { joinTokens } from '../../control-api/src/db/schema'
import { backends } from '../support/databases'
import { startHarness, type Harness } from '../support/harness'

describe.each(backends)('join tokens on $name', (backend) => {
  let h: Harness
  let key: string
  beforeAll(async () => {
    h = await startHarness(backend)
    key = (await h.onboard('joiners')).adminKey
    await h.request('POST', '/v1/services', { key, body: { name: 'orders' } })
  })
  afterAll(() => h.close())

  it('creates a wfj_ secret once, bound to the service, stored hashed, listable and revocable', async () => {
    const r = await h.request('POST', '/v1/services/orders/join-tokens', { key, body: { maxUses: 3, ttlSeconds: 600 } })
    expect(r.status).toBe(201)
    expect(r.body.secret).toMatch(/^wfj_[A-Za-z0-9_-]{43}$/)
    expect(r.body).toMatchObject({ service: 'orders', maxUses: 3, uses: 0 })
    expect(Date.parse(r.body.expiresAt) - h.clock.now().getTime()).toBe(600_000)
    const [row] = await h.db.select().from(joinTokens).where(eq(joinTokens.id, r.body.id))
    expect(row!.secretHash).toBe(await hashSecret(r.body.secret))
    const list = await h.request('GET', '/v1/services/orders/join-tokens', { key })
    expect(list.body.items.map((t: any) => t.id)).toContain(r.body.id)
    expect(list.text).not.toContain(r.body.secret)
    expect((await h.request('DELETE', `/v1/services/orders/join-tokens/${r.body.id}`, { key })).status).toBe(204)
    expect((await h.request('GET', '/v1/services/orders/join-tokens', { key })).body.items.map((t: any) => t.id)).not.toContain(r.body.id)
    expect((await h.request('DELETE', `/v1/services/orders/join-tokens/${r.body.id}`, { key })).status).toBe(404)
  })

  it('defaults to single use and one hour; viewers cannot create them; unknown services are 404', async () => {
    const r = await h.request('POST', '/v1/services/orders/join-tokens', { key })
    expect(r.status).toBe(201)
    expect(r.body.maxUses).toBe(1)
    expect(Date.parse(r.body.expiresAt) - h.clock.now().getTime()).toBe(3600_000)
    const viewer = await h.createKey(key, 'viewer')
    expect((await h.request('POST', '/v1/services/orders/join-tokens', { key: viewer })).status).toBe(403)
    expect((await h.request('POST', '/v1/services/nope/join-tokens', { key })).status).toBe(404)
    expect((await h.request('POST', '/v1/services/orders/join-tokens', { key, body: { maxUses: 0 } })).status).toBe(400)
  })

  it("another tenant cannot see or revoke them", async () => {
    const t = await h.request('POST', '/v1/services/orders/join-tokens', { key })
    const other = (await h.onboard('joiners-b')).adminKey
    await h.request('POST', '/v1/services', { key: other, body: { name: 'orders' } })
    expect((await h.request('GET', '/v1/services/orders/join-tokens', { key: other })).body.items).toEqual([])
    expect((await h.request('DELETE', `/v1/services/orders/join-tokens/${t.body.id}`, { key: other })).status).toBe(404)
  })
})
