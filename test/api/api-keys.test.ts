import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { apiKeys } from '../../control-api/src/db/schema'
import { backends } from '../support/databases'
import { startHarness, type Harness } from '../support/harness'

describe.each(backends)('API keys and roles on $name', (backend) => {
  let h: Harness
  let admin: string
  beforeAll(async () => {
    h = await startHarness(backend)
    admin = (await h.onboard('keys')).adminKey
    await h.request('POST', '/v1/services', { key: admin, body: { name: 'existing' } })
  })
  afterAll(() => h.close())

  it('creates a key whose secret is shown once and never listed', async () => {
    const r = await h.request('POST', '/v1/api-keys', { key: admin, body: { name: 'ci', role: 'editor' } })
    expect(r.status).toBe(201)
    expect(r.body.secret).toMatch(/^wft_/)
    expect(r.body.prefix).toBe(r.body.secret.slice(0, 12))
    const list = await h.request('GET', '/v1/api-keys', { key: admin })
    expect(list.status).toBe(200)
    expect(list.text).not.toContain(r.body.secret)
    expect(list.body.items.map((k: any) => k.name)).toEqual(expect.arrayContaining(['admin', 'ci']))
    for (const k of list.body.items) expect(k).not.toHaveProperty('secret')
    const [row] = await h.db.select().from(apiKeys).where(eq(apiKeys.id, r.body.id))
    expect(row!.secretHash).toMatch(/^[0-9a-f]{64}$/)
  })

  it('viewers read but cannot write (403); editors write services but not keys or audit', async () => {
    const viewer = await h.createKey(admin, 'viewer')
    const editor = await h.createKey(admin, 'editor')
    expect((await h.request('GET', '/v1/services', { key: viewer })).status).toBe(200)
    expect((await h.request('GET', '/v1/services/existing', { key: viewer })).status).toBe(200)
    expect((await h.request('GET', '/v1/tenant', { key: viewer })).status).toBe(200)
    const writes: [string, string, unknown][] = [
      ['POST', '/v1/services', { name: 'nope' }],
      ['PUT', '/v1/services/existing', { port: 1 }],
      ['PATCH', '/v1/services/existing', { port: 1 }],
      ['DELETE', '/v1/services/existing', undefined],
      ['POST', '/v1/services/existing/endpoints', { address: '10.0.0.1', port: 1 }],
      ['POST', '/v1/api-keys', { name: 'x', role: 'viewer' }],
    ]
    for (const [method, path, body] of writes) {
      const r = await h.request(method, path, { key: viewer, body })
      expect(r.status, `${method} ${path}`).toBe(403)
      expect(r.body.type).toBe('https://weft.dev/problems/forbidden')
    }
    expect((await h.request('GET', '/v1/services/existing', { key: viewer })).body.version).toBe(1)

    expect((await h.request('POST', '/v1/services', { key: editor, body: { name: 'by-editor' } })).status).toBe(201)
    expect((await h.request('POST', '/v1/api-keys', { key: editor, body: { name: 'x', role: 'admin' } })).status).toBe(403)
    expect((await h.request('GET', '/v1/api-keys', { key: editor })).status).toBe(403)
    expect((await h.request('GET', '/v1/audit-events', { key: editor })).status).toBe(403)
  })

  it('a revoked key fails at once', async () => {
    const r = await h.request('POST', '/v1/api-keys', { key: admin, body: { name: 'short-lived', role: 'viewer' } })
    expect((await h.request('GET', '/v1/services', { key: r.body.secret })).status).toBe(200)
    expect((await h.request('DELETE', `/v1/api-keys/${r.body.id}`, { key: admin })).status).toBe(204)
    const after = await h.request('GET', '/v1/services', { key: r.body.secret })
    expect(after.status).toBe(401)
    expect(after.body.type).toBe('https://weft.dev/problems/unauthorized')
    expect((await h.request('DELETE', `/v1/api-keys/${r.body.id}`, { key: admin })).status).toBe(404)
    const listed = await h.request('GET', '/v1/api-keys?includeRevoked=true', { key: admin })
    expect(listed.body.items.find((k: any) => k.id === r.body.id).revokedAt).not.toBeNull()
    expect((await h.request('GET', '/v1/api-keys', { key: admin })).body.items.some((k: any) => k.id === r.body.id)).toBe(false)
  })

  it('an expired key fails', async () => {
    const expiresAt = new Date(h.clock.now().getTime() + 60_000).toISOString()
    const r = await h.request('POST', '/v1/api-keys', { key: admin, body: { name: 'temp', role: 'viewer', expiresAt } })
    expect(r.status).toBe(201)
    expect((await h.request('GET', '/v1/services', { key: r.body.secret })).status).toBe(200)
    h.clock.advance(61_000)
    expect((await h.request('GET', '/v1/services', { key: r.body.secret })).status).toBe(401)
    const past = await h.request('POST', '/v1/api-keys', { key: admin, body: { name: 'past', role: 'viewer', expiresAt: '2000-01-01T00:00:00Z' } })
    expect(past.status).toBe(400)
  })

  it('pages through keys', async () => {
    const { adminKey } = await h.onboard('keypages')
    for (let i = 0; i < 4; i++) await h.createKey(adminKey, 'viewer', `k${i}`)
    const names: string[] = []
    let cursor: string | null = null
    do {
      const r: any = await h.request('GET', `/v1/api-keys?limit=2${cursor ? `&cursor=${cursor}` : ''}`, { key: adminKey })
      names.push(...r.body.items.map((k: any) => k.name))
      cursor = r.body.nextCursor
    } while (cursor)
    expect(names.sort()).toEqual(['admin', 'k0', 'k1', 'k2', 'k3'])
  })
})
