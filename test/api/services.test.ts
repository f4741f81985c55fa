import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { backends } from '../support/databases'
import { startHarness, type Harness } from '../support/harness'

describe.each(backends)('services on $name', (backend) => {
  let h: Harness
  let key: string
  beforeAll(async () => {
    h = await startHarness(backend)
    key = (await h.onboard('svc')).adminKey
  })
  afterAll(() => h.close())

  it('creates with defaults, reads back with an ETag, honours If-None-Match', async () => {
    const r = await h.request('POST', '/v1/services', { key, body: { name: 'orders' } })
    expect(r.status).toBe(201)
    expect(r.body).toMatchObject({ name: 'orders', protocol: 'http', port: 80, labels: {}, version: 1 })
    expect(r.headers.get('etag')).toBe('"1"')
    expect(Number(r.headers.get('weft-revision'))).toBeGreaterThan(0)
    const got = await h.request('GET', '/v1/services/orders', { key })
    expect(got.status).toBe(200)
    expect(got.headers.get('etag')).toBe('"1"')
    const cached = await h.request('GET', '/v1/services/orders', { key, headers: { 'if-none-match': '"1"' } })
    expect(cached.status).toBe(304)
  })

  it('answers 409 for a duplicate name', async () => {
    await h.request('POST', '/v1/services', { key, body: { name: 'twice' } })
    const again = await h.request('POST', '/v1/services', { key, body: { name: 'twice', port: 9 } })
    expect(again.status).toBe(409)
    expect(again.body.type).toBe('https://weft.dev/problems/conflict')
    expect(again.body.detail).toContain('twice')
  })

  it('replaces with PUT, patches with merge semantics, bumps the version each time', async () => {
    await h.request('POST', '/v1/services', { key, body: { name: 'payments', protocol: 'grpc', port: 9000, labels: { team: 'pay', tier: 'gold' }, description: 'money' } })
    const put = await h.request('PUT', '/v1/services/payments', { key, body: { port: 9001, labels: { team: 'pay' } } })
    expect(put.status).toBe(200)
    // Replace: omitted fields go back to their defaults.
    expect(put.body).toMatchObject({ protocol: 'http', port: 9001, labels: { team: 'pay' }, description: '', version: 2 })
    expect(put.headers.get('etag')).toBe('"2"')

    const patch = await h.request('PATCH', '/v1/services/payments', {
      key,
      headers: { 'content-type': 'application/merge-patch+json' },
      body: { labels: { team: null, region: 'eu' }, description: 'changed' },
    })
    expect(patch.status).toBe(200)
    expect(patch.body).toMatchObject({ port: 9001, labels: { region: 'eu' }, description: 'changed', version: 3 })
  })

  it('rejects a stale If-Match with 412 and changes nothing', async () => {
    await h.request('POST', '/v1/services', { key, body: { name: 'race', port: 1000 } })
    const first = await h.request('PATCH', '/v1/services/race', { key, headers: { 'if-match': '"1"' }, body: { port: 1001 } })
    expect(first.status).toBe(200)
    const stale = await h.request('PATCH', '/v1/services/race', { key, headers: { 'if-match': '"1"' }, body: { port: 1002 } })
    expect(stale.status).toBe(412)
    expect(stale.body.type).toBe('https://weft.dev/problems/precondition-failed')
    const stalePut = await h.request('PUT', '/v1/services/race', { key, headers: { 'if-match': 'W/"1"' }, body: { port: 1003 } })
    expect(stalePut.status).toBe(412)
    const staleDelete = await h.request('DELETE', '/v1/services/race', { key, headers: { 'if-match': '"1"' } })
    expect(staleDelete.status).toBe(412)
    const now = await h.request('GET', '/v1/services/race', { key })
    expect(now.body).toMatchObject({ port: 1001, version: 2 })
    const ok = await h.request('DELETE', '/v1/services/race', { key, headers: { 'if-match': '"2"' } })
    expect(ok.status).toBe(204)
    expect((await h.request('GET', '/v1/services/race', { key })).status).toBe(404)
  })

  it('pages through services by name', async () => {
    const { adminKey } = await h.onboard('many')
    const names = Array.from({ length: 7 }, (_, i) => `svc-${i}`)
    for (const name of names) await h.request('POST', '/v1/services', { key: adminKey, body: { name } })
    const seen: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const r: any = await h.request('GET', `/v1/services?limit=3${cursor ? `&cursor=${cursor}` : ''}`, { key: adminKey })
      seen.push(...r.body.items.map((s: any) => s.name))
      cursor = r.body.nextCursor
      pages++
    } while (cursor)
    expect(seen).toEqual(names)
    expect(pages).toBe(3)
    expect((await h.request('GET', '/v1/services?limit=0', { key: adminKey })).status).toBe(400)
    expect((await h.request('GET', '/v1/services?limit=501', { key: adminKey })).status).toBe(400)
  })

  it('deleting a service removes its endpoints', async () => {
    await h.request('POST', '/v1/services', { key, body: { name: 'gone' } })
    await h.request('POST', '/v1/services/gone/endpoints', { key, body: { address: '10.1.1.1', port: 80 } })
    expect((await h.request('DELETE', '/v1/services/gone', { key })).status).toBe(204)
    await h.request('POST', '/v1/services', { key, body: { name: 'gone' } })
    const eps = await h.request('GET', '/v1/services/gone/endpoints?includeExpired=true', { key })
    expect(eps.body.items).toEqual([])
  })

  it('enforces the service quota', async () => {
    const created = await h.request('POST', '/v1/tenants', { key: 'wfo_test_operator_key_0123456789abcdef', body: { slug: 'tiny', quotas: { maxServices: 2 } } })
    const k = created.body.adminKey.secret
    expect((await h.request('POST', '/v1/services', { key: k, body: { name: 'a' } })).status).toBe(201)
    expect((await h.request('POST', '/v1/services', { key: k, body: { name: 'b' } })).status).toBe(201)
    const third = await h.request('POST', '/v1/services', { key: k, body: { name: 'c' } })
    expect(third.status).toBe(403)
    expect(third.body.type).toBe('https://weft.dev/problems/quota-exceeded')
  })
})
