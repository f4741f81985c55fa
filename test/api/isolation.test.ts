import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { backends } from '../support/databases'
import { startHarness, type Harness } from '../support/harness'

// Tenant B must not be able to see or touch anything of tenant A's, by name or by id, through any route.
// Another tenant's resources are 404, never 403: their existence is not B's business.
describe.each(backends)('tenant isolation on $name', (backend) => {
  let h: Harness
  let a: string
  let b: string
  let aKeyId: string
  let aEndpointId: string
  beforeAll(async () => {
    h = await startHarness(backend)
    a = (await h.onboard('tenant-a')).adminKey
    b = (await h.onboard('tenant-b')).adminKey
    await h.request('POST', '/v1/services', { key: a, body: { name: 'secret-svc', port: 8443 } })
    aEndpointId = (await h.request('POST', '/v1/services/secret-svc/endpoints', { key: a, body: { address: '10.9.9.9', port: 8443 } })).body.id
    aKeyId = (await h.request('POST', '/v1/api-keys', { key: a, body: { name: 'a-viewer', role: 'viewer' } })).body.id
  })
  afterAll(() => h.close())

  it("B gets 404 for A's service, endpoint and key, by name and by id, on every verb", async () => {
    const attempts: [string, string, unknown?][] = [
      ['GET', '/v1/services/secret-svc'],
      ['PUT', '/v1/services/secret-svc', { port: 1 }],
      ['PATCH', '/v1/services/secret-svc', { port: 1 }],
      ['DELETE', '/v1/services/secret-svc'],
      ['GET', '/v1/services/secret-svc/endpoints'],
      ['POST', '/v1/services/secret-svc/endpoints', { address: '10.0.0.66', port: 1 }],
      ['GET', `/v1/services/secret-svc/endpoints/${aEndpointId}`],
      ['DELETE', `/v1/services/secret-svc/endpoints/${aEndpointId}`],
      ['POST', `/v1/services/secret-svc/endpoints/${aEndpointId}/heartbeat`, { health: 'unhealthy' }],
      ['DELETE', `/v1/api-keys/${aKeyId}`],
    ]
    for (const [method, path, body] of attempts) {
      const r = await h.request(method, path, { key: b, body })
      expect(r.status, `${method} ${path}`).toBe(404)
      expect(r.body.type).toBe('https://weft.dev/problems/not-found')
    }
  })

  it("B cannot reach A's endpoint through a service of its own with the same id", async () => {
    await h.request('POST', '/v1/services', { key: b, body: { name: 'secret-svc-b' } })
    for (const [method, path] of [
      ['GET', `/v1/services/secret-svc-b/endpoints/${aEndpointId}`],
      ['DELETE', `/v1/services/secret-svc-b/endpoints/${aEndpointId}`],
      ['POST', `/v1/services/secret-svc-b/endpoints/${aEndpointId}/heartbeat`],
    ] as const) {
      expect((await h.request(method, path, { key: b })).status, `${method} ${path}`).toBe(404)
    }
  })

  it("B's lists and audit log show nothing of A's", async () => {
    const services = await h.request('GET', '/v1/services', { key: b })
    expect(services.body.items.map((s: any) => s.name)).not.toContain('secret-svc')
    const keys = await h.request('GET', '/v1/api-keys?includeRevoked=true', { key: b })
    expect(keys.body.items.map((k: any) => k.id)).not.toContain(aKeyId)
    const audit = await h.request('GET', '/v1/audit-events?limit=500', { key: b })
    expect(audit.text).not.toContain('"secret-svc"')
    expect(audit.text).not.toContain(aKeyId)
    expect(audit.text).not.toContain('tenant-a')
  })

  it("nothing of A's changed", async () => {
    const svc = await h.request('GET', '/v1/services/secret-svc', { key: a })
    expect(svc.body).toMatchObject({ port: 8443, version: 1 })
    const ep = await h.request('GET', `/v1/services/secret-svc/endpoints/${aEndpointId}`, { key: a })
    expect(ep.body).toMatchObject({ health: 'healthy', version: 1 })
    const eps = await h.request('GET', '/v1/services/secret-svc/endpoints', { key: a })
    expect(eps.body.items.map((e: any) => e.address)).toEqual(['10.9.9.9'])
    const keys = await h.request('GET', '/v1/api-keys', { key: a })
    expect(keys.body.items.map((k: any) => k.id)).toContain(aKeyId)
  })
})
