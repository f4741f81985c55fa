import { calculateJwkThumbprint, exportJWK } from 'jose'
import { beforeAll, describe, expect, it } from 'vitest'
import { JwksCache } from './jwks-cache'
import { signSvid } from './sign-svid'
import { SvidError } from './svid-errors'
import { createSvidVerifier, REFUSED_TOKENS_KEPT, type SvidVerifierOptions } from './verify-svid'

const ISSUER = 'https://weft.test'
const SHIPPING = 'spiffe://acme.weft/svc/shipping'
const NOW = Date.UTC(2026, 3, 1, 12)

// The shared RFC 8725 table lives in test/identity/svid-attack-cases.ts; these are the verifier's own mechanics.
describe('createSvidVerifier', () => {
  let privateKey: CryptoKey
  let kid: string
  let jwks: JwksCache
  let publicJwk: JsonWebKey
  const mint = (service = 'orders', extra: { ttlSeconds?: number } = {}) =>
    signSvid({ privateKey, kid, alg: 'ES256', issuer: ISSUER, subject: `spiffe://acme.weft/svc/${service}`, audience: SHIPPING, ttlSeconds: extra.ttlSeconds ?? 900, now: NOW })
  const verifierWith = (options: Partial<SvidVerifierOptions> = {}) => createSvidVerifier({ trustDomain: 'acme.weft', issuer: ISSUER, audience: SHIPPING, jwks, now: () => NOW, ...options })

  beforeAll(async () => {
    const pair = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair
    privateKey = pair.privateKey
    const jwk = await exportJWK(pair.publicKey)
    publicJwk = jwk
    kid = await calculateJwkThumbprint(jwk)
    jwks = new JwksCache({ jwks: { keys: [{ ...jwk, kid, alg: 'ES256' }] } })
  })

  it('returns a frozen result, so a caller cannot poison the cache', async () => {
    const svid = await verifierWith().verify(await mint())
    expect(Object.isFrozen(svid)).toBe(true)
  })

  it('keeps at most cacheSize tokens, evicting the least recently used', async () => {
    const v = verifierWith({ cacheSize: 2 })
    const [a, b, c] = await Promise.all([mint('a'), mint('b'), mint('c')])
    for (const t of [a, b, c]) await v.verify(t)
    expect(v.stats()).toMatchObject({ cached: 2, signatureChecks: 3 })
    await v.verify(c)
    expect(v.stats().signatureChecks).toBe(3)
    await v.verify(a)
    expect(v.stats().signatureChecks).toBe(4)
  })

  it('known() answers without a promise only what the verifier knows: a cached token, a remembered refusal', async () => {
    let now = NOW
    const v = verifierWith({ now: () => now, maxTokenBytes: 4096 })
    const t = await mint('orders', { ttlSeconds: 60 })
    expect(v.known(t)).toBeUndefined()
    const svid = await v.verify(t)
    expect(v.known(t)).toBe(svid)
    expect(v.known('x'.repeat(5000))).toBeUndefined()
    const foreign = await signSvid({ privateKey, kid, alg: 'ES256', issuer: ISSUER, subject: 'spiffe://acme.weft/svc/orders', audience: 'spiffe://acme.weft/svc/billing', ttlSeconds: 900, now: NOW })
    expect(v.known(foreign)).toBeUndefined()
    const refusal = await v.verify(foreign).catch((e: unknown) => e)
    expect(() => v.known(foreign)).toThrow(refusal as Error)
    // A cached token past its expiry throws as verify() would, and is known no longer.
    now = NOW + 2 * 60_000
    expect(() => v.known(t)).toThrow(SvidError)
    expect(v.known(t)).toBeUndefined()
  })

  it('with cacheSize 0 checks the signature every time', async () => {
    const v = verifierWith({ cacheSize: 0 })
    const t = await mint()
    await v.verify(t)
    await v.verify(t)
    expect(v.stats()).toMatchObject({ cached: 0, hits: 0, signatureChecks: 2 })
  })

  it('shares one verification among concurrent first sights of a token', async () => {
    const v = verifierWith()
    const t = await mint()
    const results = await Promise.all(Array.from({ length: 20 }, () => v.verify(t)))
    expect(new Set(results).size).toBe(1)
    expect(v.stats().signatureChecks).toBe(1)
  })

  it('checks a token it saw last as it checks one from its cache: expiry, revocation, clear()', async () => {
    let now = NOW
    const revoked = new Set<string>()
    const v = verifierWith({ now: () => now, isRevoked: (svid) => revoked.has(svid.spiffeId) })
    const t = await mint('orders', { ttlSeconds: 60 })
    const other = await mint('billing', { ttlSeconds: 600 })
    for (let i = 0; i < 3; i++) await v.verify(t)
    expect(v.stats()).toMatchObject({ signatureChecks: 1, hits: 2 })
    revoked.add('spiffe://acme.weft/svc/orders')
    await expect(v.verify(t)).rejects.toMatchObject({ code: 'ERR_SVID_REVOKED' })
    revoked.clear()
    await v.verify(t)
    await v.verify(other)
    await v.verify(t)
    v.clear()
    await v.verify(t)
    expect(v.stats().signatureChecks).toBe(3)
    now = NOW + 10 * 60_000
    await expect(v.verify(t)).rejects.toMatchObject({ code: 'ERR_SVID_EXPIRED' })
    await expect(v.verify(t)).rejects.toMatchObject({ code: 'ERR_SVID_EXPIRED' })
  })

  it('clear() forgets cached tokens', async () => {
    const v = verifierWith()
    const t = await mint()
    await v.verify(t)
    v.clear()
    await v.verify(t)
    expect(v.stats().signatureChecks).toBe(2)
  })

  it('does not echo token contents in its messages', async () => {
    const evil = '<script>alert(1)</script>'
    const header = btoa(JSON.stringify({ alg: evil, kid: evil })).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')
    const err = await verifierWith()
      .verify(`${header}.e30.AAAA`)
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(SvidError)
    expect((err as Error).message).not.toContain('script')
  })

  it('refuses non-string input as malformed, not with a TypeError', async () => {
    await expect(verifierWith().verify(undefined as never)).rejects.toMatchObject({ code: 'ERR_SVID_MALFORMED' })
  })

  it('propagates a throwing isRevoked (fails closed)', async () => {
    const v = verifierWith({
      isRevoked: () => {
        throw new Error('revocation list unavailable')
      },
    })
    await expect(v.verify(await mint())).rejects.toThrow('revocation list unavailable')
  })

  describe('refused tokens', () => {
    const sign = (key: CryptoKey, keyId: string, o: { audience?: string; now?: number; ttlSeconds?: number; subject?: string } = {}) =>
      signSvid({ privateKey: key, kid: keyId, alg: 'ES256', issuer: ISSUER, subject: o.subject ?? 'spiffe://acme.weft/svc/orders', audience: o.audience ?? SHIPPING, ttlSeconds: o.ttlSeconds ?? 900, now: o.now ?? NOW })
    const forge = (token: string, other: string) => `${token.slice(0, token.lastIndexOf('.'))}${other.slice(other.lastIndexOf('.'))}`
    const refusal = (p: Promise<unknown>) => p.then(() => null, (e: unknown) => e as SvidError)

    it('are remembered when nothing can reverse the refusal: a repeat is the same error, without decoding or a signature check', async () => {
      let now = NOW
      const v = verifierWith({ now: () => now })
      const foreign = await sign(privateKey, kid, { audience: 'spiffe://acme.weft/svc/billing' })
      const forged = forge(await mint('orders'), await mint('billing'))
      const shortLived = await mint('orders', { ttlSeconds: 60 })
      const cases = [foreign, forged, 'not-a-token', shortLived]
      now = NOW + 10 * 60_000
      const first = await Promise.all(cases.map((t) => refusal(v.verify(t))))
      expect(first.map((e) => e?.code)).toEqual(['ERR_SVID_AUDIENCE', 'ERR_SVID_SIGNATURE', 'ERR_SVID_MALFORMED', 'ERR_SVID_EXPIRED'])
      const stats = v.stats()
      expect(stats.signatureChecks).toBe(1) // the forged one
      for (let round = 0; round < 3; round++) {
        const again = await Promise.all(cases.map((t) => refusal(v.verify(t))))
        for (const [i, e] of again.entries()) expect(e).toBe(first[i])
      }
      expect(v.stats()).toMatchObject({ misses: stats.misses, signatureChecks: 1 })
      v.clear()
      expect(await refusal(v.verify(forged))).not.toBe(first[1])
      expect(v.stats().signatureChecks).toBe(2)
    })

    it('are not remembered when time or the key set may reverse them: not yet valid, unknown kid, revoked', async () => {
      let now = NOW
      const revoked = new Set<string>()
      const pair = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair
      const jwk = await exportJWK(pair.publicKey)
      const newKid = await calculateJwkThumbprint(jwk)
      const keys = new JwksCache({ jwks: { keys: [{ ...publicJwk, kid: 'old', alg: 'ES256' } as never] } })
      const v = verifierWith({ jwks: keys, now: () => now, isRevoked: (svid) => revoked.has(svid.spiffeId) })
      const early = await sign(pair.privateKey, newKid, { now: NOW + 120_000 })
      keys.setJwks({ keys: [{ ...jwk, kid: newKid, alg: 'ES256' } as never] })
      expect((await refusal(v.verify(early)))?.code).toBe('ERR_SVID_NOT_YET_VALID')
      now = NOW + 120_000
      await expect(v.verify(early)).resolves.toMatchObject({ service: 'orders' })

      const unknown = await sign(pair.privateKey, 'next-key', { now })
      expect((await refusal(v.verify(unknown)))?.code).toBe('ERR_SVID_KID_UNKNOWN')
      keys.setJwks({ keys: [{ ...jwk, kid: newKid, alg: 'ES256' } as never, { ...jwk, kid: 'next-key', alg: 'ES256' } as never] })
      await expect(v.verify(unknown)).resolves.toMatchObject({ service: 'orders' })

      const billing = await sign(pair.privateKey, newKid, { now, subject: 'spiffe://acme.weft/svc/billing' })
      revoked.add('spiffe://acme.weft/svc/billing')
      expect((await refusal(v.verify(billing)))?.code).toBe('ERR_SVID_REVOKED')
      revoked.clear()
      await expect(v.verify(billing)).resolves.toMatchObject({ service: 'billing' })
    })

    it('are forgotten when the key set changes: a signature refused under one key is checked again under the next', async () => {
      const pair = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair
      const keys = new JwksCache({ jwks: { keys: [{ ...publicJwk, kid: 'k1', alg: 'ES256' } as never] } })
      const v = verifierWith({ jwks: keys })
      // Signed with a key the set does not hold under its kid: refused, and remembered.
      const token = await sign(pair.privateKey, 'k1')
      expect((await refusal(v.verify(token)))?.code).toBe('ERR_SVID_SIGNATURE')
      expect((await refusal(v.verify(token)))?.code).toBe('ERR_SVID_SIGNATURE')
      expect(v.stats().signatureChecks).toBe(1)
      keys.setJwks({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' } as never] })
      await expect(v.verify(token)).resolves.toMatchObject({ service: 'orders' })
      expect(v.stats().signatureChecks).toBe(2)
    })

    it(`keeps at most ${REFUSED_TOKENS_KEPT}, the least recently refused going first`, async () => {
      const v = verifierWith()
      const bad = Array.from({ length: REFUSED_TOKENS_KEPT + 1 }, (_, i) => `bad-${i}`)
      for (const t of bad) await refusal(v.verify(t))
      const misses = v.stats().misses
      await refusal(v.verify(bad[REFUSED_TOKENS_KEPT]!))
      expect(v.stats().misses).toBe(misses)
      await refusal(v.verify(bad[0]!))
      expect(v.stats().misses).toBe(misses + 1)
    })
  })

  it.each([
    ['a bad trust domain', { trustDomain: 'Acme' }, TypeError],
    ['an empty issuer', { issuer: '' }, TypeError],
    ['an empty audience', { audience: '' }, TypeError],
    ['no jwks', { jwks: undefined as never }, TypeError],
    ['a negative skew', { clockSkewSeconds: -1 }, RangeError],
    ['a skew of an hour', { clockSkewSeconds: 3600 }, RangeError],
    ['maxTokenBytes 0', { maxTokenBytes: 0 }, RangeError],
    ['a negative cacheSize', { cacheSize: -1 }, RangeError],
  ])('refuses to build with %s', (_, override, errorClass) => {
    expect(() => verifierWith(override)).toThrow(errorClass)
  })
})
