import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose'
import { beforeAll, describe, expect, it } from 'vitest'
import { createVerifyJwt, type VerifyJwtAnswer, type VerifyJwtFunction } from './foreign-functions'
import type { ForeignCall } from './proxy-imports'

const ISSUER = 'https://auth.test'
const T0 = Date.UTC(2026, 3, 1)
let key: CryptoKey
let jwk: JWK

beforeAll(async () => {
  const pair = await generateKeyPair('ES256')
  key = pair.privateKey as CryptoKey
  jwk = { ...(await exportJWK(pair.publicKey)), kid: 'a', alg: 'ES256' }
})

const encode = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v))
const decode = (b: Uint8Array) => JSON.parse(new TextDecoder().decode(b))

/** Calls the function as the host does: a clock, and `defer` handing out ids for late answers. */
function caller(fn: VerifyJwtFunction, clock = { ms: T0 }) {
  const deferred = new Map<number, Promise<Uint8Array>>()
  const call: ForeignCall = { now: () => clock.ms, defer: (p) => (deferred.set(deferred.size + 1, p), deferred.size) }
  return async (args: unknown): Promise<{ immediate: boolean; answer: VerifyJwtAnswer }> => {
    const first = decode(fn(encode(args), call))
    if (first.pending === undefined) return { immediate: true, answer: first }
    return { immediate: false, answer: decode(await deferred.get(first.pending)!) }
  }
}

const sign = (sub: string, exp?: number) => {
  const jwt = new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'a' }).setIssuer(ISSUER).setSubject(sub).setIssuedAt(T0 / 1000)
  return (exp === undefined ? jwt : jwt.setExpirationTime(exp)).sign(key)
}
const args = (token: string) => ({ token, issuer: ISSUER, audiences: [], jwks: { keys: [jwk] } })

describe('weft.verify_jwt', () => {
  it('reads its arguments only during the call (borrowsArguments): overwriting them afterwards changes nothing', async () => {
    const fn = createVerifyJwt()
    expect([fn.borrowsArguments, fn.config.borrowsArguments]).toEqual([true, true])
    const token = await sign('borrowed')
    const deferred: Array<Promise<Uint8Array>> = []
    const call: ForeignCall = { now: () => T0, defer: (p) => deferred.push(p) }
    const bytes = encode(args(token))
    expect(decode(fn(bytes, call))).toEqual({ pending: 1 })
    // The host's guest memory is reused by the next call: the pending verification must not read it again.
    bytes.fill(0x20)
    expect(decode(await deferred[0]!)).toMatchObject({ valid: true, claims: { sub: 'borrowed' } })
    expect(decode(fn(encode(args(token)), call))).toMatchObject({ valid: true })
    expect(fn.stats()).toMatchObject({ verifications: 1, hits: 1 })
  })

  it('answers later the first time, at once from the cache after, and keeps at most cacheSize tokens', async () => {
    const fn = createVerifyJwt({ cacheSize: 2 })
    const verify = caller(fn)
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((s) => sign(s, T0 / 1000 + 600)))
    expect(await verify(args(a!))).toEqual({ immediate: false, answer: { valid: true, claims: expect.objectContaining({ sub: 'a' }) } })
    expect((await verify(args(a!))).immediate).toBe(true)
    await verify(args(b!))
    await verify(args(c!))
    expect(fn.stats().cached).toBe(2)
    // a was least recently used: evicted, so verified again.
    expect((await verify(args(a!))).immediate).toBe(false)
    expect(fn.stats()).toMatchObject({ hits: 1, verifications: 4 })
  })

  it('caches a token without exp for maxCacheMs only', async () => {
    const clock = { ms: T0 }
    const verify = caller(createVerifyJwt({ maxCacheMs: 1000 }), clock)
    const token = await sign('no-exp')
    await verify(args(token))
    clock.ms += 999
    expect((await verify(args(token))).immediate).toBe(true)
    clock.ms += 1
    expect((await verify(args(token))).immediate).toBe(false)
  })

  it.each([
    ['not JSON', 'nope', /ERR_WEFT_VERIFY_JWT_ARGS/],
    ['no token', { issuer: ISSUER, audiences: [], jwks: { keys: [] } }, /ERR_WEFT_VERIFY_JWT_ARGS: token/],
    ['a key set without keys', { token: 'a.b.c', issuer: ISSUER, audiences: [], jwks: {} }, /ERR_WEFT_VERIFY_JWT_ARGS: jwks/],
    ['a garbage token', { token: 'a.b.c', issuer: ISSUER, audiences: [], jwks: { keys: [] } }, /^ERR_J/],
  ])('answers invalid, never throws, for %s', async (_case, bad, error) => {
    const fn = createVerifyJwt()
    const { answer } = await caller(fn)(bad)
    expect(answer.valid).toBe(false)
    if (!answer.valid) expect(answer.error).toMatch(error)
    expect(fn.stats().cached).toBe(0)
  })

  it('weft.jwt_config registers an issuer once; <handle>:<token> verifies against it and is cached per handle', async () => {
    const fn = createVerifyJwt()
    const call: ForeignCall = { now: () => T0, defer: () => 1 }
    const { token: _t, ...issuer } = args('unused')
    const handleOf = (config: unknown) => new DataView(fn.config(encode(config), call).buffer).getUint32(0, true)
    const handle = handleOf(issuer)
    expect(handleOf(issuer)).toBe(handle)
    expect(handleOf({ ...issuer, audiences: ['other'] })).not.toBe(handle)
    expect(() => fn.config(encode({ issuer: ISSUER }), call)).toThrow(TypeError)
    const verify = caller(fn)
    const token = await sign('by-handle', T0 / 1000 + 60)
    const first = await verify(`${handle}:${token}`)
    expect(first).toMatchObject({ immediate: false, answer: { valid: true, claims: { sub: 'by-handle' } } })
    expect(await verify(`${handle}:${token}`)).toMatchObject({ immediate: true, answer: { valid: true } })
    const unknown = await verify(`99:${token}`)
    expect(unknown.answer.valid === false && unknown.answer.error).toMatch(/ERR_WEFT_VERIFY_JWT_ARGS: no issuer configuration 99/)
  })
})
