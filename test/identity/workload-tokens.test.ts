import { decodeJwt, decodeProtectedHeader } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSvidVerifier, JwksCache, spiffeIdOf } from '../../mesh/src/identity'
import { MAX_TOKEN_TTL_SECONDS, VERIFIER_SKEW_SECONDS } from '../../control-api/src/identity/signing-keys'
import { backends } from '../support/databases'
import { startHarness, type Harness } from '../support/harness'

const ISSUER = 'http://localhost:8787'

describe.each(backends)('workload identity tokens on $name', (backend) => {
  let h: Harness
  let key: string
  const join = async (service: string, body: object = {}) => {
    const t = await h.request('POST', `/v1/services/${service}/join-tokens`, { key, body })
    return t.body.secret as string
  }
  const exchange = (secret: string, body?: object) => h.request('POST', '/v1/identity/token', { key: secret, body })
  /** A proxy's verifier, fed from the public JWKS endpoint exactly as a proxy would be. */
  const verifierFor = (service: string) =>
    createSvidVerifier({
      trustDomain: 'mesh.weft',
      issuer: ISSUER,
      audience: spiffeIdOf('mesh.weft', service),
      jwks: new JwksCache({ fetchJwks: async () => (await h.request('GET', '/v1/tenants/mesh/jwks.json')).body, now: () => h.clock.now().getTime() }),
      now: () => h.clock.now().getTime(),
    })

  beforeAll(async () => {
    h = await startHarness(backend)
    key = (await h.onboard('mesh')).adminKey
    for (const name of ['orders', 'payments', 'shipping']) await h.request('POST', '/v1/services', { key, body: { name } })
  })
  afterAll(() => h.close())

  it('exchanges a join token for a JWT-SVID with the DESIGN.md claims', async () => {
    const r = await exchange(await join('orders'))
    expect(r.status).toBe(200)
    expect(r.headers.get('cache-control')).toBe('no-store')
    expect(r.body).toMatchObject({ tokenType: 'JWT-SVID', spiffeId: 'spiffe://mesh.weft/svc/orders', audience: 'spiffe://mesh.weft/weft/control-api' })
    const header = decodeProtectedHeader(r.body.token)
    expect(header).toMatchObject({ alg: 'ES256', typ: 'JWT' })
    const claims = decodeJwt(r.body.token)
    expect(claims).toMatchObject({ sub: 'spiffe://mesh.weft/svc/orders', iss: ISSUER, aud: 'spiffe://mesh.weft/weft/control-api', wid: r.body.workloadId })
    expect(claims.exp! - claims.iat!).toBe(900)
    expect(typeof claims.jti).toBe('string')
    const keys = (await h.request('GET', '/v1/signing-keys', { key })).body.items
    expect(header.kid).toBe(keys.find((k: any) => k.status === 'current').kid)
  })

  it('a token minted for payments is accepted by payments and refused by shipping', async () => {
    const first = await exchange(await join('orders'))
    const forPayments = await h.request('POST', '/v1/identity/token', { key: first.body.token, body: { audience: 'spiffe://mesh.weft/svc/payments' } })
    expect(forPayments.status).toBe(200)
    expect(decodeJwt(forPayments.body.token).aud).toBe('spiffe://mesh.weft/svc/payments')
    const caller = await verifierFor('payments').verify(forPayments.body.token)
    expect(caller).toMatchObject({ spiffeId: 'spiffe://mesh.weft/svc/orders', service: 'orders', workloadId: first.body.workloadId })
    await expect(verifierFor('shipping').verify(forPayments.body.token)).rejects.toMatchObject({ code: 'ERR_SVID_AUDIENCE' })
    // ...and it is no key to the control API either.
    const reuse = await h.request('POST', '/v1/identity/token', { key: forPayments.body.token })
    expect(reuse.status).toBe(401)
    expect(reuse.body.detail).toContain('ERR_SVID_AUDIENCE')
  })

  it('audiences must be services of the same tenant', async () => {
    const t = await exchange(await join('orders'))
    for (const audience of ['spiffe://other.weft/svc/payments', 'spiffe://mesh.weft/svc/nope', 'https://example.com']) {
      const r = await h.request('POST', '/v1/identity/token', { key: t.body.token, body: { audience } })
      expect(r.status, audience).toBe(400)
      expect(r.body.errors[0].path).toBe('audience')
    }
  })

  it('a join token works as many times as its limit, then never; a revoked or expired one never', async () => {
    const twice = await join('orders', { maxUses: 2 })
    expect((await exchange(twice)).status).toBe(200)
    expect((await exchange(twice)).status).toBe(200)
    const third = await exchange(twice)
    expect(third.status).toBe(401)
    expect(third.body.detail).toContain('2 of 2')

    const created = await h.request('POST', '/v1/services/orders/join-tokens', { key, body: { maxUses: 5 } })
    expect((await h.request('DELETE', `/v1/services/orders/join-tokens/${created.body.id}`, { key })).status).toBe(204)
    const revoked = await exchange(created.body.secret)
    expect(revoked.status).toBe(401)
    expect(revoked.body.detail).toContain('revoked')

    const short = await join('orders', { ttlSeconds: 60 })
    h.clock.advance(61_000)
    expect((await exchange(short)).body.detail).toContain('expired')
    expect((await exchange('wfj_' + 'x'.repeat(43))).status).toBe(401)
    const uses = (await h.request('GET', '/v1/services/orders/join-tokens?includeRevoked=true', { key })).body.items
    expect(uses.find((t: any) => t.id === created.body.id).uses).toBe(0)
  })

  it('a retried exchange (same Idempotency-Key) gets the same workload and uses nothing more, for 10 minutes', async () => {
    const once = await join('shipping', { maxUses: 1 })
    const exchangeWith = (secret: string, idempotencyKey: string, body?: object) =>
      h.request('POST', '/v1/identity/token', { key: secret, body, headers: { 'idempotency-key': idempotencyKey } })
    const first = await exchangeWith(once, 'boot-1')
    expect(first.status).toBe(200)
    // The first answer was lost on the way: the proxy retries with the same key.
    h.clock.advance(2_000)
    const retry = await exchangeWith(once, 'boot-1')
    expect(retry.status).toBe(200)
    expect(retry.body.workloadId).toBe(first.body.workloadId)
    expect(retry.body.token).not.toBe(first.body.token)
    expect(decodeJwt(retry.body.token)).toMatchObject({ sub: 'spiffe://mesh.weft/svc/shipping', wid: first.body.workloadId })
    // Another key is another workload: the single use is spent.
    const other = await exchangeWith(once, 'boot-2')
    expect(other.status).toBe(401)
    expect(other.body.detail).toContain('1 of 1')
    const listed = (await h.request('GET', '/v1/services/shipping/join-tokens', { key })).body.items
    expect(listed.find((t: any) => t.uses === 1 && t.maxUses === 1)).toBeDefined()
    // Not past the window, and not for a revoked workload.
    h.clock.advance(10 * 60_000)
    const late = await exchangeWith(once, 'boot-1')
    expect(late.status).toBe(401)
    expect(late.body.detail).toContain('retries are answered for 10 minutes')
    const again = await join('shipping', { maxUses: 1 })
    const w = await exchangeWith(again, 'boot-3')
    expect((await h.request('POST', `/v1/workloads/${w.body.workloadId}/revoke`, { key, body: {} })).status).toBeLessThan(300)
    expect((await exchangeWith(again, 'boot-3')).body.detail).toContain('revoked')
    // The key is validated like any header.
    const bad = await exchangeWith(await join('shipping'), 'has space')
    expect(bad.status).toBe(400)
    expect(bad.headers.get('content-type')).toContain('application/problem+json')
  })

  it('refreshes a still-valid token; refuses one expired past the grace and a revoked workload at once', async () => {
    const t = await exchange(await join('payments'))
    h.clock.advance(60_000)
    const refreshed = await h.request('POST', '/v1/identity/token', { key: t.body.token })
    expect(refreshed.status).toBe(200)
    expect(refreshed.body.workloadId).toBe(t.body.workloadId)
    expect(decodeJwt(refreshed.body.token).iat).toBeGreaterThan(decodeJwt(t.body.token).iat!)

    // Past expiry and past the 24 h renewal grace (renewal-grace.test.ts covers the grace itself).
    h.clock.advance((900 + 24 * 3600 + 31) * 1000)
    const late = await h.request('POST', '/v1/identity/token', { key: t.body.token })
    expect(late.status).toBe(401)
    expect(late.body.detail).toContain('ERR_SVID_EXPIRED')

    const live = await exchange(await join('payments'))
    const sibling = await exchange(await join('payments'))
    const revoke = await h.request('POST', `/v1/workloads/${live.body.workloadId}/revoke`, { key, body: { reason: 'node compromised' } })
    expect(revoke.status).toBe(200)
    expect(revoke.body).toMatchObject({ spiffeId: 'spiffe://mesh.weft/svc/payments', revokedReason: 'node compromised' })
    const refused = await h.request('POST', '/v1/identity/token', { key: live.body.token })
    expect(refused.status).toBe(401)
    expect(refused.body.detail).toContain('revoked')
    // Only that instance: its sibling of the same service carries on.
    expect((await h.request('POST', '/v1/identity/token', { key: sibling.body.token })).status).toBe(200)
    const revokedList = await h.request('GET', '/v1/workloads?revoked=true', { key })
    // (The tenant's other revoked workloads are other services'.)
    expect(revokedList.body.items.filter((w: any) => w.spiffeId === 'spiffe://mesh.weft/svc/payments').map((w: any) => w.id)).toEqual([live.body.workloadId])
    const audit = await h.request('GET', '/v1/audit-events?action=workload.revoke', { key })
    expect(audit.body.items[0]).toMatchObject({ resourceId: live.body.workloadId, actor: { type: 'api-key' } })
  })

  it('API and operator keys do not get workload tokens', async () => {
    expect((await h.request('POST', '/v1/identity/token', { key })).status).toBe(401)
    expect((await h.request('POST', '/v1/identity/token', { key: 'wfo_test_operator_key_0123456789abcdef' })).status).toBe(401)
    expect((await h.request('POST', '/v1/identity/token', {})).status).toBe(401)
  })

  it('tokens signed before and after a rotation both verify through the overlap; the old one fails after retirement', async () => {
    const w = await exchange(await join('orders'))
    const audience = { audience: 'spiffe://mesh.weft/svc/payments' }
    const before = (await h.request('POST', '/v1/identity/token', { key: w.body.token, body: audience })).body.token
    expect((await h.request('POST', '/v1/signing-keys/rotate', { key })).status).toBe(200)
    const fresh = await exchange(await join('orders'))
    const after = (await h.request('POST', '/v1/identity/token', { key: fresh.body.token, body: audience })).body.token
    expect(decodeProtectedHeader(before).kid).not.toBe(decodeProtectedHeader(after).kid)

    // A proxy that cached the JWKS before the rotation already knows the new key: it was published as `next`.
    const payments = verifierFor('payments')
    await payments.verify(before)
    await payments.verify(after)

    // Past the overlap the old key is no longer published; a verifier that learns the new key set refuses it.
    h.clock.advance((MAX_TOKEN_TTL_SECONDS + VERIFIER_SKEW_SECONDS + 1) * 1000)
    const later = verifierFor('payments')
    await expect(later.verify(before)).rejects.toMatchObject({ code: expect.stringMatching(/ERR_SVID_(EXPIRED|KID_UNKNOWN)/) })
    const stale = createSvidVerifier({
      trustDomain: 'mesh.weft',
      issuer: ISSUER,
      audience: 'spiffe://mesh.weft/svc/payments',
      jwks: new JwksCache({ jwks: (await h.request('GET', '/v1/tenants/mesh/jwks.json')).body }),
      // Pretend the token were still within its lifetime: only the missing key can refuse it.
      now: () => decodeJwt(before).iat! * 1000,
    })
    await expect(stale.verify(before)).rejects.toMatchObject({ code: 'ERR_SVID_KID_UNKNOWN' })
  })
})
