import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { backends } from '../support/databases'
import { startHarness, type Harness } from '../support/harness'

describe.each(backends)('endpoints on $name', (backend) => {
  let h: Harness
  let key: string
  beforeAll(async () => {
    h = await startHarness(backend)
    key = (await h.onboard('eps')).adminKey
    await h.request('POST', '/v1/services', { key, body: { name: 'payments', port: 8080 } })
  })
  afterAll(() => h.close())

  it('registers with address, zone, labels and weight; re-registering updates in place', async () => {
    const r = await h.request('POST', '/v1/services/payments/endpoints', {
      key,
      body: { address: '10.0.0.1', port: 8080, zone: 'eu-west-1a', labels: { version: 'v1' }, weight: 90 },
    })
    expect(r.status).toBe(201)
    expect(r.body).toMatchObject({ service: 'payments', address: '10.0.0.1', zone: 'eu-west-1a', labels: { version: 'v1' }, weight: 90, health: 'healthy', ttlSeconds: 30, expired: false })
    const again = await h.request('POST', '/v1/services/payments/endpoints', { key, body: { address: '10.0.0.1', port: 8080, labels: { version: 'v2' } } })
    expect(again.status).toBe(200)
    expect(again.body.id).toBe(r.body.id)
    expect(again.body).toMatchObject({ labels: { version: 'v2' }, weight: 100, version: 2 })
    const ipv6 = await h.request('POST', '/v1/services/payments/endpoints', { key, body: { address: 'fd00::1', port: 8080 } })
    expect(ipv6.status).toBe(201)
    const host = await h.request('POST', '/v1/services/payments/endpoints', { key, body: { address: 'payments-0.internal', port: 8080 } })
    expect(host.status).toBe(201)
    const bad = await h.request('POST', '/v1/services/payments/endpoints', { key, body: { address: 'not an address', port: 70000 } })
    expect(bad.status).toBe(400)
    expect(bad.body.errors.map((e: any) => e.path).sort()).toEqual(['address', 'port'])
  })

  it('drops endpoints from listings when their TTL lapses and brings them back on heartbeat', async () => {
    await h.request('POST', '/v1/services', { key, body: { name: 'ttl' } })
    const a = await h.request('POST', '/v1/services/ttl/endpoints', { key, body: { address: '10.0.1.1', port: 80, ttlSeconds: 10 } })
    const b = await h.request('POST', '/v1/services/ttl/endpoints', { key, body: { address: '10.0.1.2', port: 80, ttlSeconds: 60 } })
    const live = async () => (await h.request('GET', '/v1/services/ttl/endpoints', { key })).body.items.map((e: any) => e.address).sort()
    expect(await live()).toEqual(['10.0.1.1', '10.0.1.2'])

    h.clock.advance(11_000)
    expect(await live()).toEqual(['10.0.1.2'])
    const all = await h.request('GET', '/v1/services/ttl/endpoints?includeExpired=true', { key })
    expect(all.body.items.find((e: any) => e.id === a.body.id).expired).toBe(true)

    const beat = await h.request('POST', `/v1/services/ttl/endpoints/${a.body.id}/heartbeat`, { key })
    expect(beat.status).toBe(200)
    expect(beat.body.expired).toBe(false)
    expect(await live()).toEqual(['10.0.1.1', '10.0.1.2'])

    // Now t=11 s: a lives until 21 s, b until 60 s. At 66 s both have lapsed.
    expect(b.status).toBe(201)
    h.clock.advance(55_000)
    expect(await live()).toEqual([])
  })

  it('reports health through heartbeats and filters by it; health changes are audited, plain renewals are not', async () => {
    await h.request('POST', '/v1/services', { key, body: { name: 'health' } })
    const e = await h.request('POST', '/v1/services/health/endpoints', { key, body: { address: '10.0.2.1', port: 80 } })
    const before = (await h.request('GET', '/v1/audit-events?resourceType=endpoint', { key })).body.items.length
    await h.request('POST', `/v1/services/health/endpoints/${e.body.id}/heartbeat`, { key, body: {} })
    expect((await h.request('GET', '/v1/audit-events?resourceType=endpoint', { key })).body.items.length).toBe(before)
    const sick = await h.request('POST', `/v1/services/health/endpoints/${e.body.id}/heartbeat`, { key, body: { health: 'unhealthy' } })
    expect(sick.body.health).toBe('unhealthy')
    const events = (await h.request('GET', '/v1/audit-events?resourceType=endpoint', { key })).body.items
    expect(events.length).toBe(before + 1)
    expect(events[0]).toMatchObject({ action: 'endpoint.health', before: { health: 'healthy' }, after: { health: 'unhealthy' } })
    expect((await h.request('GET', '/v1/services/health/endpoints?health=healthy', { key })).body.items).toEqual([])
    expect((await h.request('GET', '/v1/services/health/endpoints?health=unhealthy', { key })).body.items).toHaveLength(1)
    expect((await h.request('GET', '/v1/services/health/endpoints?health=sideways', { key })).status).toBe(400)
  })

  it('gets and deletes one endpoint; unknown ids are 404', async () => {
    const e = await h.request('POST', '/v1/services/payments/endpoints', { key, body: { address: '10.0.3.1', port: 80 } })
    expect((await h.request('GET', `/v1/services/payments/endpoints/${e.body.id}`, { key })).status).toBe(200)
    expect((await h.request('DELETE', `/v1/services/payments/endpoints/${e.body.id}`, { key })).status).toBe(204)
    expect((await h.request('DELETE', `/v1/services/payments/endpoints/${e.body.id}`, { key })).status).toBe(404)
    expect((await h.request('GET', `/v1/services/payments/endpoints/${e.body.id}`, { key })).status).toBe(404)
    expect((await h.request('POST', `/v1/services/payments/endpoints/${e.body.id}/heartbeat`, { key })).status).toBe(404)
    expect((await h.request('GET', '/v1/services/nope/endpoints', { key })).status).toBe(404)
  })
})
