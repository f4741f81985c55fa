import { decodeJwt, decodeProtectedHeader } from 'jose'
import { beforeAll, describe, expect, it } from 'vitest'
import { MAX_SVID_TTL_SECONDS, signSvid, type SignSvidOptions } from './sign-svid'
import { SpiffeIdInvalid } from './svid-errors'

describe('signSvid', () => {
  let base: SignSvidOptions
  beforeAll(async () => {
    const pair = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify'])) as CryptoKeyPair
    base = {
      privateKey: pair.privateKey,
      kid: 'k1',
      alg: 'ES256',
      issuer: 'https://weft.test',
      subject: 'spiffe://acme.weft/svc/orders',
      audience: 'spiffe://acme.weft/svc/payments',
      ttlSeconds: 900,
      now: Date.UTC(2026, 3, 1, 12, 0, 0, 700),
    }
  })

  it('mints exactly the JWT-SVID header and claims', async () => {
    const token = await signSvid(base)
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'ES256', kid: 'k1', typ: 'JWT' })
    const claims = decodeJwt(token)
    const iat = Date.UTC(2026, 3, 1, 12) / 1000
    expect(claims).toEqual({ sub: base.subject, iss: base.issuer, aud: base.audience, iat, exp: iat + 900, jti: expect.stringMatching(/^[0-9a-f-]{36}$/) })
    expect(typeof claims.aud).toBe('string')
  })

  it('carries the workload ID as wid when given', async () => {
    expect(decodeJwt(await signSvid({ ...base, workloadId: 'w-1' })).wid).toBe('w-1')
  })

  it('takes a Date, and a caller-chosen jti', async () => {
    const claims = decodeJwt(await signSvid({ ...base, now: new Date(Date.UTC(2026, 0, 1)), jti: 'fixed' }))
    expect(claims.iat).toBe(Date.UTC(2026, 0, 1) / 1000)
    expect(claims.jti).toBe('fixed')
  })

  it('gives each token its own jti', async () => {
    const [a, b] = await Promise.all([signSvid(base), signSvid(base)])
    expect(decodeJwt(a).jti).not.toBe(decodeJwt(b).jti)
  })

  it.each([
    ['a TTL of 0', { ttlSeconds: 0 }, RangeError],
    ['a TTL above the 1 h cap', { ttlSeconds: MAX_SVID_TTL_SECONDS + 1 }, RangeError],
    ['a fractional TTL', { ttlSeconds: 1.5 }, RangeError],
    ['HS256', { alg: 'HS256' as never }, TypeError],
    ['none', { alg: 'none' as never }, TypeError],
    ['an empty kid', { kid: '' }, TypeError],
    ['an audience array', { audience: ['a', 'b'] as never }, TypeError],
    ['an empty workloadId', { workloadId: '' }, TypeError],
    ['a subject that is not a SPIFFE ID', { subject: 'orders' }, SpiffeIdInvalid],
    ['an invalid date', { now: new Date(Number.NaN) }, RangeError],
  ])('refuses %s', async (_, override, errorClass) => {
    await expect(signSvid({ ...base, ...override })).rejects.toBeInstanceOf(errorClass)
  })
})
