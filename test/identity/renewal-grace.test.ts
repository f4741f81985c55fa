import { decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { backends } from '../support/databases'
import { startHarness, type Harness } from '../support/harness'

// A proxy that outlives a control-plane outage longer than its token's 15 minutes must not need a new join token
// (a single-use one is spent): within WEFT_RENEWAL_GRACE_HOURS its expired token renews itself, and does nothing else.
describe.each(backends)('renewing an expired workload identity on $name', (backend) => {
  let h: Harness
  let key: string
  const newWorkload = async (service: string) => {
    const jt = await h.request('POST', `/v1/services/${service}/join-tokens`, { key, body: {} })
    const r = await h.request('POST', '/v1/identity/token', { key: jt.body.secret })
    expect(r.status).toBe(200)
    return r.body as { token: string; workloadId: string }
  }

  beforeAll(async () => {
    h = await startHarness(backend, { WEFT_RENEWAL_GRACE_HOURS: '2' })
    key = (await h.onboard('grace')).adminKey
    for (const name of ['orders', 'payments']) await h.request('POST', '/v1/services', { key, body: { name } })
  })
  afterAll(() => h.close())

  it('an expired token within the grace renews itself for the control API, for the same workload', async () => {
    const w = await newWorkload('orders')
    h.clock.advance(60 * 60_000) // an hour-long outage: the 15-minute token expired 45 minutes ago
    const renewed = await h.request('POST', '/v1/identity/token', { key: w.token })
    expect(renewed.status, renewed.text).toBe(200)
    expect(renewed.body).toMatchObject({ workloadId: w.workloadId, spiffeId: 'spiffe://grace.weft/svc/orders', audience: 'spiffe://grace.weft/weft/control-api' })
    expect(decodeJwt(renewed.body.token).exp! * 1000).toBeGreaterThan(h.clock.now().getTime())
    // The renewed token is an ordinary one: it reads the snapshot and mints callee tokens.
    expect((await h.request('GET', '/v1/proxy/config?service=orders', { key: renewed.body.token })).status).toBe(200)
    const callee = await h.request('POST', '/v1/identity/token', { key: renewed.body.token, body: { audience: 'spiffe://grace.weft/svc/payments' } })
    expect(callee.status).toBe(200)
  })

  it('an expired token is good for nothing else: not the API, not a callee token', async () => {
    const w = await newWorkload('orders')
    h.clock.advance(30 * 60_000)
    const config = await h.request('GET', '/v1/proxy/config?service=orders', { key: w.token })
    expect(config.status).toBe(401)
    expect(config.body.detail).toContain('ERR_SVID_EXPIRED')
    const callee = await h.request('POST', '/v1/identity/token', { key: w.token, body: { audience: 'spiffe://grace.weft/svc/payments' } })
    expect(callee.status).toBe(401)
    expect(callee.body.detail).toContain('only be renewed for the control API')
  })

  it('past the grace, or for a revoked workload, renewal is refused', async () => {
    const late = await newWorkload('orders')
    const revoked = await newWorkload('orders')
    await h.request('POST', `/v1/workloads/${revoked.workloadId}/revoke`, { key, body: { reason: 'test' } })
    h.clock.advance(20 * 60_000)
    const r = await h.request('POST', '/v1/identity/token', { key: revoked.token })
    expect(r.status).toBe(401)
    expect(r.body.detail).toContain('revoked')
    h.clock.advance(2 * 3600_000) // 15 min + 2 h 20 min after issue: beyond the 2 h grace
    const past = await h.request('POST', '/v1/identity/token', { key: late.token })
    expect(past.status).toBe(401)
    expect(past.body.detail).toContain('ERR_SVID_EXPIRED')
  })

  it('a forged expired token is refused: the signature is still checked', async () => {
    const w = await newWorkload('payments')
    h.clock.advance(20 * 60_000)
    const [head, body, sig] = w.token.split('.')
    const claims = JSON.parse(Buffer.from(body!, 'base64url').toString())
    const forged = `${head}.${Buffer.from(JSON.stringify({ ...claims, sub: 'spiffe://grace.weft/svc/orders' })).toString('base64url')}.${sig}`
    const r = await h.request('POST', '/v1/identity/token', { key: forged })
    expect(r.status).toBe(401)
    expect(r.body.detail).toContain('ERR_SVID_SIGNATURE')
  })

  it('WEFT_RENEWAL_GRACE_HOURS=0 turns renewal off', async () => {
    const strict = await startHarness(backend, { WEFT_RENEWAL_GRACE_HOURS: '0' }, { database: h.database, masterKey: h.masterKey })
    try {
      const w = await newWorkload('orders')
      strict.clock.advance(h.clock.now().getTime() - strict.clock.now().getTime() + 16 * 60_000)
      const r = await strict.request('POST', '/v1/identity/token', { key: w.token })
      expect(r.status).toBe(401)
      expect(r.body.detail).toContain('ERR_SVID_EXPIRED')
    } finally {
      await strict.close()
    }
  })
})
