import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { apiKeys, auditEvents, endpoints, services, tenants } from '../../control-api/src/db/schema'
import { hashSecret } from '../../control-api/src/auth/secrets'
import { backends } from '../support/databases'
import { OPERATOR_KEY, startHarness, type Harness } from '../support/harness'

describe.each(backends)('tenant onboarding on $name', (backend) => {
  let h: Harness
  beforeAll(async () => {
    h = await startHarness(backend)
  })
  afterAll(() => h.close())

  it('creates a tenant with its trust domain and returns the first admin key once, stored hashed', async () => {
    const r = await h.request('POST', '/v1/tenants', { key: OPERATOR_KEY, body: { slug: 'acme', displayName: 'Acme Corp' } })
    expect(r.status).toBe(201)
    expect(r.headers.get('location')).toBe('/v1/tenants/acme')
    expect(r.body.tenant).toMatchObject({ slug: 'acme', displayName: 'Acme Corp', trustDomain: 'acme.weft' })
    const secret: string = r.body.adminKey.secret
    expect(secret).toMatch(/^wft_[A-Za-z0-9_-]{43}$/)
    expect(r.body.adminKey.role).toBe('admin')

    const [row] = await h.db.select().from(apiKeys).where(eq(apiKeys.id, r.body.adminKey.id))
    expect(row!.secretHash).toBe(await hashSecret(secret))
    expect(JSON.stringify(row)).not.toContain(secret)

    // The key works, and reading the tenant back never shows it again.
    const me = await h.request('GET', '/v1/tenant', { key: secret })
    expect(me.status).toBe(200)
    expect(me.body).toMatchObject({ slug: 'acme', trustDomain: 'acme.weft', usage: { services: 0, apiKeys: 1 } })
    expect(me.body.quotas.maxServices).toBeGreaterThan(0)
    const got = await h.request('GET', '/v1/tenants/acme', { key: OPERATOR_KEY })
    expect(got.text).not.toContain(secret)
  })

  it('refuses a duplicate slug with 409 and a bad slug with 400', async () => {
    await h.onboard('dup')
    const again = await h.request('POST', '/v1/tenants', { key: OPERATOR_KEY, body: { slug: 'dup' } })
    expect(again.status).toBe(409)
    expect(again.headers.get('content-type')).toContain('application/problem+json')
    expect(again.body.type).toBe('https://weft.dev/problems/conflict')
    const bad = await h.request('POST', '/v1/tenants', { key: OPERATOR_KEY, body: { slug: 'Not_A_Label' } })
    expect(bad.status).toBe(400)
    expect(bad.body.errors[0].path).toBe('slug')
  })

  it('lists tenants with cursor pagination', async () => {
    for (const s of ['page-a', 'page-b', 'page-c']) await h.onboard(s)
    const seen: string[] = []
    let cursor: string | null = null
    do {
      const q: string = cursor ? `?limit=2&cursor=${cursor}` : '?limit=2'
      const r = await h.request('GET', `/v1/tenants${q}`, { key: OPERATOR_KEY })
      expect(r.status).toBe(200)
      expect(r.body.items.length).toBeLessThanOrEqual(2)
      seen.push(...r.body.items.map((t: any) => t.slug))
      cursor = r.body.nextCursor
    } while (cursor)
    expect(seen).toEqual([...seen].sort())
    expect(seen).toEqual(expect.arrayContaining(['page-a', 'page-b', 'page-c']))
    expect(new Set(seen).size).toBe(seen.length)
    const badCursor = await h.request('GET', '/v1/tenants?cursor=nonsense', { key: OPERATOR_KEY })
    expect(badCursor.status).toBe(400)
  })

  it('deleting a tenant removes everything it owns and its keys stop working', async () => {
    const { tenant, adminKey } = await h.onboard('doomed')
    const svc = await h.request('POST', '/v1/services', { key: adminKey, body: { name: 'web', port: 8080 } })
    expect(svc.status).toBe(201)
    const ep = await h.request('POST', '/v1/services/web/endpoints', { key: adminKey, body: { address: '10.0.0.1', port: 8080 } })
    expect(ep.status).toBe(201)

    const del = await h.request('DELETE', '/v1/tenants/doomed', { key: OPERATOR_KEY })
    expect(del.status).toBe(204)
    expect(await h.db.select().from(services).where(eq(services.tenantId, tenant.id))).toEqual([])
    expect(await h.db.select().from(endpoints).where(eq(endpoints.tenantId, tenant.id))).toEqual([])
    expect(await h.db.select().from(apiKeys).where(eq(apiKeys.tenantId, tenant.id))).toEqual([])
    expect(await h.db.select().from(auditEvents).where(eq(auditEvents.tenantId, tenant.id))).toEqual([])
    expect(await h.db.select().from(tenants).where(eq(tenants.id, tenant.id))).toEqual([])
    // The operator's record of the deletion outlives the tenant.
    const ops = await h.db.select().from(auditEvents).where(eq(auditEvents.resourceId, tenant.id))
    expect(ops.map((e) => e.action)).toEqual(['tenant.delete'])

    expect((await h.request('GET', '/v1/tenant', { key: adminKey })).status).toBe(401)
    expect((await h.request('GET', '/v1/tenants/doomed', { key: OPERATOR_KEY })).status).toBe(404)
    expect((await h.request('DELETE', '/v1/tenants/doomed', { key: OPERATOR_KEY })).status).toBe(404)
  })

  it('operator routes refuse tenant keys and tenant routes refuse the operator key', async () => {
    const { adminKey } = await h.onboard('split')
    for (const [method, path] of [
      ['GET', '/v1/tenants'],
      ['POST', '/v1/tenants'],
      ['GET', '/v1/tenants/split'],
      ['DELETE', '/v1/tenants/split'],
    ] as const) {
      const r = await h.request(method, path, { key: adminKey, body: method === 'POST' ? { slug: 'sneaky' } : undefined })
      expect(r.status, `${method} ${path}`).toBe(403)
      expect(r.body.type).toBe('https://weft.dev/problems/forbidden')
    }
    for (const [method, path] of [
      ['GET', '/v1/tenant'],
      ['GET', '/v1/services'],
      ['POST', '/v1/services'],
      ['GET', '/v1/api-keys'],
      ['GET', '/v1/audit-events'],
    ] as const) {
      const r = await h.request(method, path, { key: OPERATOR_KEY, body: method === 'POST' ? { name: 'x' } : undefined })
      expect(r.status, `${method} ${path}`).toBe(403)
    }
    expect((await h.request('GET', '/v1/tenants/split', { key: OPERATOR_KEY })).status).toBe(200)
  })

  it('answers 401 problem+json for missing, malformed and unknown credentials', async () => {
    for (const authorization of [undefined, 'Basic abc', 'Bearer wft_nope', 'Bearer wfo_nopenopenopenopenopenope', 'Bearer something']) {
      const r = await h.request('GET', '/v1/services', { headers: authorization ? { authorization } : {} })
      expect(r.status, String(authorization)).toBe(401)
      expect(r.headers.get('content-type')).toContain('application/problem+json')
      expect(r.headers.get('www-authenticate')).toContain('Bearer')
    }
    expect((await h.request('GET', '/v1/tenants', {})).status).toBe(401)
  })
})
