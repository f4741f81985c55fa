import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose'
import { beforeAll, describe, expect, it } from 'vitest'
import { createFilterHost, type FilterHost, type FilterResult } from '../../edge-proxy/src/wasm/filter-host'
import { createVerifyJwt, jwtForeignFunctions, VERIFY_JWT, type VerifyJwtFunction } from '../../edge-proxy/src/wasm/foreign-functions'
import type { ForeignFunction } from '../../edge-proxy/src/wasm/proxy-imports'
import { FilterConfigError } from '../../edge-proxy/src/wasm/wasm-errors'
import { compileFilter } from '../test-helpers'

const ISSUER = 'https://auth.example.com'
const T0 = Date.UTC(2026, 5, 1) // seconds-aligned
let module: WebAssembly.Module
let signingKey: CryptoKey
let otherKey: CryptoKey
let jwk: JWK

beforeAll(async () => {
  module = await compileFilter('jwt-auth')
  const pair = await generateKeyPair('ES256')
  signingKey = pair.privateKey as CryptoKey
  jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }
  otherKey = (await generateKeyPair('ES256')).privateKey as CryptoKey
})

const config = (extra: object = {}) => ({
  issuers: [{ issuer: ISSUER, audiences: ['orders'], jwks: { keys: [jwk] } }],
  forwardClaims: ['sub', 'plan', 'roles', 'https://example.com/tier', 'premium'],
  ...extra,
})

function authHost(extra: object = {}, verify: VerifyJwtFunction = createVerifyJwt(), functions: Record<string, ForeignFunction> = jwtForeignFunctions(verify)) {
  const clock = { ms: T0 }
  const host = createFilterHost({
    module, rootId: 'jwt-auth', config: JSON.stringify(config(extra)), now: () => clock.ms,
    foreignFunctions: functions,
  })
  return { host, clock, verify }
}

async function sign(claims: Record<string, unknown>, opts: { key?: CryptoKey; iss?: string; aud?: string; expSeconds?: number } = {}) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
    .setIssuer(opts.iss ?? ISSUER)
    .setAudience(opts.aud ?? 'orders')
    .setIssuedAt(T0 / 1000)
    .setExpirationTime(T0 / 1000 + (opts.expSeconds ?? 600))
    .sign(opts.key ?? signingKey)
}

async function send(host: FilterHost, headers: Record<string, string>): Promise<FilterResult> {
  const stream = host.startStream({ method: 'GET', path: '/orders' })
  const result = await stream.onRequestHeaders(headers)
  stream.finish()
  return result
}

function expect401(result: FilterResult, detail: string | RegExp) {
  expect(result.action).toBe('respond')
  if (result.action !== 'respond') return
  expect(result.status).toBe(401)
  expect(result.details).toBe('jwt_rejected')
  expect(result.headers.get('content-type')).toBe('application/problem+json')
  expect(result.headers.get('www-authenticate')).toMatch(/^Bearer /)
  const body = JSON.parse(new TextDecoder().decode(result.body))
  expect(body).toMatchObject({ status: 401, type: 'https://weft.dev/problems/filters/jwt-auth' })
  expect(body.detail).toMatch(detail)
}

describe('jwt-auth filter with weft.verify_jwt', () => {
  it('verifies through the host (pause, proxy_on_foreign_function), forwards claims, then answers from the cache', async () => {
    const { host, verify } = authHost()
    const token = await sign({ sub: 'user-1', plan: 'gold', roles: ['admin', 'ops'], 'https://example.com/tier': 3, premium: true })
    const first = await send(host, { authorization: `Bearer ${token}`, accept: '*/*' })
    expect(first.action).toBe('continue')
    if (first.action !== 'continue') return
    expect(Object.fromEntries([...first.headers].filter(([k]) => k.startsWith('x-jwt-claim-')))).toEqual({
      'x-jwt-claim-sub': 'user-1',
      'x-jwt-claim-plan': 'gold',
      'x-jwt-claim-roles': 'admin,ops',
      'x-jwt-claim-https---example-com-tier': '3',
      'x-jwt-claim-premium': 'true',
    })
    // The credential does not travel upstream unless forwardToken.
    expect(first.headers.has('authorization')).toBe(false)
    expect(first.headers.get('accept')).toBe('*/*')
    expect(verify.stats()).toMatchObject({ misses: 1, verifications: 1, hits: 0, cached: 1 })

    const second = await send(host, { authorization: `bearer ${token}` })
    expect(second.action === 'continue' && second.headers.get('x-jwt-claim-sub')).toBe('user-1')
    expect(verify.stats()).toMatchObject({ misses: 1, verifications: 1, hits: 1 })
  })

  it('reads the Bearer token with any case of the scheme and whitespace around it, Unicode spaces included', async () => {
    const { host } = authHost()
    const token = await sign({ sub: 'user-1' })
    const sub = (result: FilterResult) => (result.action === 'continue' ? result.headers.get('x-jwt-claim-sub') : result.status)
    expect(sub(await send(host, { authorization: `BEARER \t${token} \t` }))).toBe('user-1')
    // U+00A0 as its UTF-8 bytes (header values cross as byte strings): trimmed like ASCII whitespace.
    expect(sub(await send(host, { authorization: `Bearer \u00c2\u00a0${token}\u00c2\u00a0` }))).toBe('user-1')
    expect(sub(await send(host, { authorization: `Bearer ${token}\u00c3\u00a9` }))).toBe(401)
    // No token after the scheme, or another scheme: no token (not required here), and the header still goes.
    for (const authorization of ['Bearer \u00c2\u00a0 ', 'Bearer', 'Basic abc', `Bearer${token}`]) {
      const result = await send(host, { authorization })
      expect(result.action === 'continue' && [result.headers.has('authorization'), result.headers.get('x-jwt-claim-sub')]).toEqual([false, null])
    }
  })

  it('runs one verification for concurrent requests with the same new token', async () => {
    const { host, verify } = authHost()
    const token = await sign({ sub: 'burst' })
    const results = await Promise.all([1, 2, 3].map(() => send(host, { authorization: `Bearer ${token}` })))
    expect(results.map((r) => r.action)).toEqual(['continue', 'continue', 'continue'])
    expect(verify.stats()).toMatchObject({ misses: 3, verifications: 1 })
  })

  it('keeps a cached token only until it expires (host clock), then refuses it', async () => {
    const { host, clock, verify } = authHost()
    const token = await sign({ sub: 'u' }, { expSeconds: 60 })
    expect((await send(host, { authorization: `Bearer ${token}` })).action).toBe('continue')
    clock.ms += 59_000
    expect((await send(host, { authorization: `Bearer ${token}` })).action).toBe('continue')
    expect(verify.stats().hits).toBe(1)
    // Past exp and past the 30 s clock-skew leeway.
    clock.ms += 32_000
    expect401(await send(host, { authorization: `Bearer ${token}` }), /ERR_JWT_EXPIRED/)
    expect(verify.stats().verifications).toBe(2)
  })

  it.each([
    ['signed by another key', () => sign({ sub: 'x' }, { key: otherKey }), /ERR_JWS_SIGNATURE_VERIFICATION_FAILED/],
    ['for another audience', () => sign({ sub: 'x' }, { aud: 'billing' }), /ERR_JWT_CLAIM_VALIDATION_FAILED/],
    // One issuer configured: the host's issuer check refuses it (with several, the filter does: next test).
    ['from an unknown issuer', () => sign({ sub: 'x' }, { iss: 'https://evil.example' }), /ERR_JWT_CLAIM_VALIDATION_FAILED: unexpected "iss"/],
    ['malformed', async () => 'not-a-jwt', /malformed token/],
    ['with a JSON-breaking payload', async () => 'a.b"c.d', /malformed token/],
  ])('refuses a token %s with a 401 problem+json', async (_case, token, detail) => {
    const { host, verify } = authHost()
    expect401(await send(host, { authorization: `Bearer ${await token()}` }), detail)
    expect(verify.stats().cached).toBe(0)
  })

  it('with several issuers, picks the keys by the token\'s iss and refuses an issuer it does not know', async () => {
    const second = await generateKeyPair('ES256')
    const secondJwk = { ...(await exportJWK(second.publicKey)), kid: 'k1', alg: 'ES256' }
    const { host } = authHost({
      issuers: [
        { issuer: 'https://other.example', jwks: { keys: [secondJwk] } },
        { issuer: ISSUER, audiences: ['orders'], jwks: { keys: [jwk] } },
      ],
    })
    const ours = await send(host, { authorization: `Bearer ${await sign({ sub: 'ours' })}` })
    expect(ours.action === 'continue' && ours.headers.get('x-jwt-claim-sub')).toBe('ours')
    const theirs = await send(host, { authorization: `Bearer ${await sign({ sub: 'theirs' }, { iss: 'https://other.example', key: second.privateKey as CryptoKey })}` })
    expect(theirs.action === 'continue' && theirs.headers.get('x-jwt-claim-sub')).toBe('theirs')
    expect401(await send(host, { authorization: `Bearer ${await sign({ sub: 'x' }, { iss: 'https://evil.example' })}` }), 'unknown issuer')
  })

  it('lets requests without a token through unless required, and never trusts client claim headers', async () => {
    const optional = await send(authHost().host, { 'x-jwt-claim-sub': 'admin', 'X-JWT-Claim-Plan': 'gold' })
    expect(optional.action).toBe('continue')
    if (optional.action === 'continue') expect([...optional.headers.keys()].filter((k) => k.startsWith('x-jwt-claim-'))).toEqual([])
    expect401(await send(authHost({ required: true }).host, {}), 'missing token')
    // An Authorization header of another scheme is no bearer token.
    expect401(await send(authHost({ required: true }).host, { authorization: 'Basic dTpw' }), 'missing token')
  })

  it('reads the token from a cookie, and keeps the header when forwardToken', async () => {
    const token = await sign({ sub: 'cookie-user' })
    const fromCookie = await send(authHost({ from: { cookie: 'session' } }).host, { cookie: `a=1; session=${token}` })
    expect(fromCookie.action === 'continue' && fromCookie.headers.get('x-jwt-claim-sub')).toBe('cookie-user')
    const kept = await send(authHost({ from: { header: 'x-token' }, forwardToken: true }).host, { 'x-token': token })
    expect(kept.action === 'continue' && kept.headers.get('x-token')).toBe(token)
  })

  it('registers its issuer once (weft.jwt_config): a request sends only <handle>:<token>', async () => {
    const verify = createVerifyJwt()
    const sent: string[] = []
    const spy: ForeignFunction = (args, call) => (sent.push(new TextDecoder().decode(args)), verify(args, call))
    const { host } = authHost({}, verify, { ...jwtForeignFunctions(verify), [VERIFY_JWT]: spy })
    const token = await sign({ sub: 'handle-user', plan: 'gold' })
    for (let i = 0; i < 3; i++) {
      const result = await send(host, { authorization: `Bearer ${token}` })
      expect(result.action === 'continue' && [result.headers.get('x-jwt-claim-sub'), result.headers.get('x-jwt-claim-plan')]).toEqual(['handle-user', 'gold'])
    }
    expect(sent).toHaveLength(3)
    expect(sent.every((a) => /^\d+:/.test(a) && a.endsWith(token) && a.length < token.length + 12)).toBe(true)
    expect(verify.stats()).toMatchObject({ verifications: 1, hits: 2 })
  })

  it('works with a host that has weft.verify_jwt but no weft.jwt_config: the whole arguments per request', async () => {
    const verify = createVerifyJwt()
    const sent: string[] = []
    const spy: ForeignFunction = (args, call) => (sent.push(new TextDecoder().decode(args)), verify(args, call))
    const { host } = authHost({}, verify, { [VERIFY_JWT]: spy })
    const token = await sign({ sub: 'legacy-user' })
    for (let i = 0; i < 2; i++) {
      const result = await send(host, { authorization: `Bearer ${token}` })
      expect(result.action === 'continue' && result.headers.get('x-jwt-claim-sub')).toBe('legacy-user')
    }
    expect(JSON.parse(sent[0]!)).toMatchObject({ issuer: ISSUER, audiences: ['orders'], token })
    expect(verify.stats()).toMatchObject({ verifications: 1, hits: 1 })
    const bad = await send(host, { authorization: `Bearer ${await sign({ sub: 'x' }, { key: otherKey })}` })
    expect401(bad, /signature/)
  })

  it('answers 503 when the host offers no weft.verify_jwt', async () => {
    const host = createFilterHost({ module, rootId: 'jwt-auth', config: JSON.stringify(config()), foreignFunctions: {} })
    const result = await send(host, { authorization: `Bearer ${await sign({ sub: 'x' })}` })
    expect(result.action === 'respond' && result.status).toBe(503)
  })

  it('fails the request by its failure policy when a deferred foreign function rejects', async () => {
    const failing = (policy: 'open' | 'closed') => createFilterHost({
      module, rootId: 'jwt-auth', config: JSON.stringify(config()), failurePolicy: policy,
      foreignFunctions: {
        [VERIFY_JWT]: (_args, call) => new TextEncoder().encode(`{"pending":${call.defer(Promise.reject(new Error('verifier crashed')))}}`),
      },
    })
    const token = await sign({ sub: 'x' })
    const closed = await send(failing('closed'), { authorization: `Bearer ${token}` })
    expect(closed.action === 'respond' && [closed.status, closed.failure?.error]).toEqual([503, 'Error: verifier crashed'])
    const open = await send(failing('open'), { authorization: `Bearer ${token}` })
    expect(open.action).toBe('continue')
    // Failing open forwards the request as it arrived, so without verified claims (auth should fail closed).
    expect(open.action === 'continue' && open.headers.has('x-jwt-claim-sub')).toBe(false)
  })

  it('uses the proxy-wide verifier by default', async () => {
    const host = createFilterHost({ module, rootId: 'jwt-auth', config: JSON.stringify(config()), now: () => T0 })
    const result = await send(host, { authorization: `Bearer ${await sign({ sub: 'default' })}` })
    expect(result.action === 'continue' && result.headers.get('x-jwt-claim-sub')).toBe('default')
  })

  it.each([
    ['no issuers', { issuers: [] }],
    ['an issuer without keys', { issuers: [{ issuer: ISSUER, jwks: { keys: [] } }] }],
    ['bad audiences', { issuers: [{ issuer: ISSUER, audiences: [1], jwks: { keys: [{}] } }] }],
    ['a claim as token source', { issuers: [{ issuer: ISSUER, jwks: { keys: [{}] } }], from: { claim: 'sub' } }],
  ])('rejects a configuration with %s', (_case, bad) => {
    expect(() => createFilterHost({ module, rootId: 'jwt-auth', config: JSON.stringify(bad) })).toThrow(FilterConfigError)
  })
})
