import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { backends } from '../support/databases'
import { startHarness, type Harness } from '../support/harness'

// The proxy-facing routes take a workload's JWT-SVID and scope everything to its tenant and service.
describe.each(backends)('workload-authenticated routes on $name', (backend) => {
  let h: Harness
  let key: string
  let orders: { token: string; workloadId: string }
  const tokenFor = async (adminKey: string, service: string) => {
    const jt = await h.request('POST', `/v1/services/${service}/join-tokens`, { key: adminKey })
    const r = await h.request('POST', '/v1/identity/token', { key: jt.body.secret })
    return { token: r.body.token as string, workloadId: r.body.workloadId as string }
  }
  beforeAll(async () => {
    h = await startHarness(backend)
    key = (await h.onboard('wl')).adminKey
    for (const name of ['orders', 'payments']) await h.request('POST', '/v1/services', { key, body: { name } })
    orders = await tokenFor(key, 'orders')
  })
  afterAll(() => h.close())

  it('a workload registers, heartbeats and deregisters its own endpoint; the audit log names it', async () => {
    const reg = await h.request('POST', '/v1/services/orders/endpoints', { key: orders.token, body: { address: '127.0.0.1', port: 15006, labels: { version: 'v1' } } })
    expect(reg.status).toBe(201)
    const beat = await h.request('POST', `/v1/services/orders/endpoints/${reg.body.id}/heartbeat`, { key: orders.token, body: { health: 'draining' } })
    expect(beat.status).toBe(200)
    expect((await h.request('DELETE', `/v1/services/orders/endpoints/${reg.body.id}`, { key: orders.token })).status).toBe(204)
    const audit = await h.request('GET', '/v1/audit-events?resourceType=endpoint', { key })
    expect(audit.body.items[0].actor).toEqual({ type: 'workload', id: orders.workloadId, name: 'spiffe://wl.weft/svc/orders' })
  })

  it("a workload cannot touch another service's endpoints", async () => {
    const r = await h.request('POST', '/v1/services/payments/endpoints', { key: orders.token, body: { address: '127.0.0.1', port: 1 } })
    expect(r.status).toBe(403)
    const theirs = await h.request('POST', '/v1/services/payments/endpoints', { key, body: { address: '10.0.0.9', port: 80 } })
    expect((await h.request('DELETE', `/v1/services/payments/endpoints/${theirs.body.id}`, { key: orders.token })).status).toBe(403)
    expect((await h.request('POST', `/v1/services/payments/endpoints/${theirs.body.id}/heartbeat`, { key: orders.token })).status).toBe(403)
  })

  it('a workload identity is not an API key', async () => {
    for (const [method, path, body] of [
      ['GET', '/v1/services'],
      ['POST', '/v1/services', { name: 'sneaky' }],
      ['GET', '/v1/tenant'],
      ['POST', '/v1/services/orders/join-tokens'],
      ['GET', '/v1/audit-events'],
      ['GET', '/v1/tenants'],
    ] as [string, string, object?][]) {
      expect((await h.request(method, path, { key: orders.token, body })).status, `${method} ${path}`).toBe(403)
    }
  })

  it("another tenant's workload acts only inside its own tenant", async () => {
    const otherKey = (await h.onboard('wl-other')).adminKey
    await h.request('POST', '/v1/services', { key: otherKey, body: { name: 'orders' } })
    const intruder = await tokenFor(otherKey, 'orders')
    const r = await h.request('POST', '/v1/services/orders/endpoints', { key: intruder.token, body: { address: '10.6.6.6', port: 80 } })
    expect(r.status).toBe(201)
    // It landed in wl-other's orders, not wl's.
    const ours = await h.request('GET', '/v1/services/orders/endpoints', { key })
    expect(ours.body.items.map((e: any) => e.address)).not.toContain('10.6.6.6')
    const theirs = await h.request('GET', '/v1/services/orders/endpoints', { key: otherKey })
    expect(theirs.body.items.map((e: any) => e.address)).toContain('10.6.6.6')
  })

  it('a revoked workload, or one whose service is gone, is refused at once', async () => {
    await h.request('POST', '/v1/services', { key, body: { name: 'temp' } })
    const temp = await tokenFor(key, 'temp')
    expect((await h.request('POST', '/v1/services/temp/endpoints', { key: temp.token, body: { address: '10.0.0.1', port: 1 } })).status).toBe(201)
    await h.request('DELETE', '/v1/services/temp', { key })
    expect((await h.request('POST', '/v1/services/temp/endpoints', { key: temp.token, body: { address: '10.0.0.1', port: 1 } })).status).toBe(401)

    const w = await tokenFor(key, 'orders')
    await h.request('POST', `/v1/workloads/${w.workloadId}/revoke`, { key })
    const r = await h.request('POST', '/v1/services/orders/endpoints', { key: w.token, body: { address: '10.0.0.2', port: 1 } })
    expect(r.status).toBe(401)
    expect(r.body.detail).toContain('revoked')
  })

  it('a tampered token is refused with the reason', async () => {
    const [hd, payload, sig] = orders.token.split('.')
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString())
    const forged = [hd, Buffer.from(JSON.stringify({ ...claims, sub: 'spiffe://wl.weft/svc/payments' })).toString('base64url'), sig].join('.')
    const r = await h.request('POST', '/v1/services/payments/endpoints', { key: forged, body: { address: '10.0.0.3', port: 1 } })
    expect(r.status).toBe(401)
    expect(r.body.detail).toContain('ERR_SVID_SIGNATURE')
  })
})
