import { calculateJwkThumbprint, exportJWK, type JWK } from 'jose'
import { beforeAll, describe, expect, it } from 'vitest'
import { JwksCache, type Jwks } from './jwks-cache'
import { SvidJwksUnavailable, SvidKeyAlgMismatch, SvidKidUnknown } from './svid-errors'

async function publicJwk(params: EcKeyGenParams | RsaHashedKeyGenParams, extra: Partial<JWK> = {}): Promise<JWK> {
  const pair = (await crypto.subtle.generateKey(params, true, ['sign', 'verify'])) as CryptoKeyPair
  const jwk = await exportJWK(pair.publicKey)
  return { ...jwk, kid: await calculateJwkThumbprint(jwk), ...extra }
}
const P256: EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' }
const rsa = (modulusLength: number): RsaHashedKeyGenParams => ({ name: 'RSASSA-PKCS1-v1_5', modulusLength, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' })

function counting(jwks: () => Jwks | Promise<Jwks>) {
  let calls = 0
  return {
    get calls() {
      return calls
    },
    fetchJwks: async () => {
      calls++
      return jwks()
    },
  }
}

describe('JwksCache', () => {
  let es256: JWK
  let es256NoAlg: JWK
  let rsaNoAlg: JWK
  beforeAll(async () => {
    ;[es256, es256NoAlg, rsaNoAlg] = await Promise.all([publicJwk(P256, { alg: 'ES256', use: 'sig' }), publicJwk(P256), publicJwk(rsa(2048))])
  })

  it('a static JWKS never fetches and reports unknown kids at once', async () => {
    const jwks = new JwksCache({ jwks: { keys: [es256] } })
    expect(await jwks.getKey(es256.kid!, 'ES256')).toBeInstanceOf(CryptoKey)
    await expect(jwks.getKey('nope', 'ES256')).rejects.toBeInstanceOf(SvidKidUnknown)
    expect(jwks.fetchCount).toBe(0)
  })

  it('imports each key once and keeps it across a re-published, unchanged JWKS', async () => {
    const jwks = new JwksCache({ jwks: { keys: [es256] } })
    const first = await jwks.getKey(es256.kid!, 'ES256')
    expect(await jwks.getKey(es256.kid!, 'ES256')).toBe(first)
    jwks.setJwks({ keys: [{ ...es256, x5t: 'ignored' }] })
    expect(await jwks.getKey(es256.kid!, 'ES256')).toBe(first)
  })

  it('refuses a key for another alg, whether named by the JWK or implied by its type', async () => {
    const jwks = new JwksCache({ jwks: { keys: [es256, es256NoAlg, rsaNoAlg] } })
    await expect(jwks.getKey(es256.kid!, 'ES384')).rejects.toBeInstanceOf(SvidKeyAlgMismatch)
    await expect(jwks.getKey(es256.kid!, 'RS256')).rejects.toBeInstanceOf(SvidKeyAlgMismatch)
    await expect(jwks.getKey(es256NoAlg.kid!, 'ES384')).rejects.toBeInstanceOf(SvidKeyAlgMismatch)
    await expect(jwks.getKey(rsaNoAlg.kid!, 'ES256')).rejects.toBeInstanceOf(SvidKeyAlgMismatch)
    expect(await jwks.getKey(es256NoAlg.kid!, 'ES256')).toBeInstanceOf(CryptoKey)
    // An RSA JWK without alg serves either RSA alg, each imported for its own scheme.
    const rs = await jwks.getKey(rsaNoAlg.kid!, 'RS256')
    const ps = await jwks.getKey(rsaNoAlg.kid!, 'PS256')
    expect(rs.algorithm.name).toBe('RSASSA-PKCS1-v1_5')
    expect(ps.algorithm.name).toBe('RSA-PSS')
  })

  it('leaves out keys that must never verify', async () => {
    const short = await publicJwk(rsa(1024), { alg: 'RS256' })
    const withPrivate = { ...es256, kid: 'private', d: 'AAAA' }
    const encryption = { ...es256, kid: 'enc', use: 'enc' }
    const wrongOps = { ...es256, kid: 'ops', key_ops: ['encrypt'] }
    const noKid = { ...es256, kid: undefined }
    const jwks = new JwksCache({ jwks: { keys: [short, withPrivate, encryption, wrongOps, noKid] as JWK[] } })
    for (const kid of [short.kid!, 'private', 'enc', 'ops']) {
      await expect(jwks.getKey(kid, kid === short.kid ? 'RS256' : 'ES256')).rejects.toBeInstanceOf(SvidKidUnknown)
    }
  })

  it('leaves out a kid that appears twice', async () => {
    const other = await publicJwk(P256, { alg: 'ES256', kid: es256.kid })
    const jwks = new JwksCache({ jwks: { keys: [es256, other] } })
    await expect(jwks.getKey(es256.kid!, 'ES256')).rejects.toBeInstanceOf(SvidKidUnknown)
  })

  it('loads lazily, refetches an unknown kid at most once per interval, and shares concurrent fetches', async () => {
    let now = 0
    let served: JWK[] = [es256]
    const source = counting(() => ({ keys: served }))
    const jwks = new JwksCache({ fetchJwks: source.fetchJwks, now: () => now, minRefetchIntervalMs: 30_000 })
    expect(source.calls).toBe(0)
    await Promise.all([jwks.getKey(es256.kid!, 'ES256'), jwks.getKey(es256.kid!, 'ES256')])
    expect(source.calls).toBe(1)

    await expect(jwks.getKey('unknown', 'ES256')).rejects.toBeInstanceOf(SvidKidUnknown)
    expect(source.calls).toBe(1)

    now = 30_000
    served = [es256, es256NoAlg]
    const misses = await Promise.allSettled([jwks.getKey('unknown', 'ES256'), jwks.getKey('unknown-2', 'ES256'), jwks.getKey(es256NoAlg.kid!, 'ES256')])
    expect(source.calls).toBe(2)
    expect(misses.map((m) => m.status)).toEqual(['rejected', 'rejected', 'fulfilled'])
  })

  it('keeps the previous keys when a refetch fails, and is not stuck after a synchronous throw', async () => {
    let now = 0
    let mode: 'ok' | 'reject' | 'throw' = 'ok'
    let calls = 0
    const jwks = new JwksCache({
      now: () => now,
      fetchJwks: () => {
        calls++
        if (mode === 'throw') throw new Error('sync boom')
        if (mode === 'reject') return Promise.reject(new Error('async boom'))
        return Promise.resolve({ keys: [es256] })
      },
    })
    await jwks.refresh()
    mode = 'throw'
    now = 60_000
    const err = await jwks.getKey('unknown', 'ES256').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(SvidKidUnknown)
    expect(((err as Error).cause as Error).message).toBe('sync boom')
    expect(await jwks.getKey(es256.kid!, 'ES256')).toBeInstanceOf(CryptoKey)
    mode = 'reject'
    now = 120_000
    await expect(jwks.getKey('unknown', 'ES256')).rejects.toBeInstanceOf(SvidKidUnknown)
    expect(calls).toBe(3)
  })

  it('without any JWKS loaded, a failed fetch means "could not check", not "bad token"', async () => {
    const jwks = new JwksCache({ fetchJwks: () => Promise.reject(new Error('down')) })
    await expect(jwks.getKey(es256.kid!, 'ES256')).rejects.toBeInstanceOf(SvidJwksUnavailable)
  })

  it('ignores a fetched document that is not a JWKS', async () => {
    let now = 0
    let doc: unknown = { keys: [es256] }
    const jwks = new JwksCache({ now: () => now, fetchJwks: async () => doc as Jwks })
    await jwks.refresh()
    doc = { not: 'a jwks' }
    now = 60_000
    await jwks.refresh()
    expect(await jwks.getKey(es256.kid!, 'ES256')).toBeInstanceOf(CryptoKey)
  })

  it('bumps its generation only when a key is removed or replaced', async () => {
    const jwks = new JwksCache({ jwks: { keys: [es256] } })
    const g0 = jwks.generation
    const h0 = jwks.handleOf(es256.kid!)
    jwks.setJwks({ keys: [es256, es256NoAlg] })
    expect(jwks.generation).toBe(g0)
    expect(jwks.handleOf(es256.kid!)).toBe(h0)
    jwks.setJwks({ keys: [es256NoAlg] })
    expect(jwks.generation).toBe(g0 + 1)
    expect(jwks.handleOf(es256.kid!)).toBeUndefined()
  })

  it('validates its options', () => {
    expect(() => new JwksCache({})).toThrow(TypeError)
    expect(() => new JwksCache({ jwks: { keys: [] }, minRefetchIntervalMs: -1 })).toThrow(RangeError)
    expect(() => new JwksCache({ jwks: {} as Jwks })).toThrow(TypeError)
  })
})
