/**
 * The JWT-SVID verification suite, one table for every runtime: `svid-attacks.test.ts` runs it in Node and
 * `svid-workerd.test.ts` runs it inside workerd (through `workerd/worker.ts`), and both assert the same
 * codes. Attack classes follow RFC 8725 (JWT Best Current Practices); each is pinned to the one error code
 * it must produce, not merely "rejected". Nothing here may import Node built-ins or vitest.
 */
import { calculateJwkThumbprint, exportJWK, exportSPKI, type JWK } from 'jose'
import {
  createSvidVerifier,
  JwksCache,
  signSvid,
  spiffeIdOf,
  SvidError,
  type SvidAlg,
  type SvidVerifier,
  type SvidVerifierOptions,
  type VerifiedSvid,
} from '../../mesh/src/identity'

export const TRUST_DOMAIN = 'acme.weft'
export const ISSUER = 'https://weft.test'
export const CONTROL_API_AUDIENCE = 'https://weft.test/v1'
export const ORDERS = spiffeIdOf(TRUST_DOMAIN, 'orders')
export const SHIPPING = spiffeIdOf(TRUST_DOMAIN, 'shipping')
export const PAYMENTS = spiffeIdOf(TRUST_DOMAIN, 'payments')
/** A fixed start time keeps the cases independent of the wall clock (and of workerd's frozen Date.now). */
export const START_MS = Date.UTC(2026, 3, 1, 12, 0, 0)
const START_S = START_MS / 1000
const SKEW_S = 30

export type TestKey = { alg: SvidAlg; kid: string; privateKey: CryptoKey; publicKey: CryptoKey; publicJwk: JWK }

const GENERATE: Record<SvidAlg, RsaHashedKeyGenParams | EcKeyGenParams> = {
  ES256: { name: 'ECDSA', namedCurve: 'P-256' },
  ES384: { name: 'ECDSA', namedCurve: 'P-384' },
  RS256: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
  PS256: { name: 'RSA-PSS', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
}
const SIGN: Record<SvidAlg, AlgorithmIdentifier | EcdsaParams | RsaPssParams> = {
  ES256: { name: 'ECDSA', hash: 'SHA-256' },
  ES384: { name: 'ECDSA', hash: 'SHA-384' },
  RS256: { name: 'RSASSA-PKCS1-v1_5' },
  PS256: { name: 'RSA-PSS', saltLength: 32 } as RsaPssParams,
}

export async function generateTestKey(alg: SvidAlg): Promise<TestKey> {
  const pair = (await crypto.subtle.generateKey(GENERATE[alg], true, ['sign', 'verify'])) as CryptoKeyPair
  const jwk = await exportJWK(pair.publicKey)
  const kid = await calculateJwkThumbprint(jwk)
  return { alg, kid, privateKey: pair.privateKey, publicKey: pair.publicKey, publicJwk: { ...jwk, kid, alg, use: 'sig' } }
}

const ascii = new TextEncoder()
export function b64url(bytes: Uint8Array | string): string {
  const b = typeof bytes === 'string' ? ascii.encode(bytes) : bytes
  let bin = ''
  for (const byte of b) bin += String.fromCharCode(byte)
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}
const segment = (v: unknown) => b64url(JSON.stringify(v))

/** Signs arbitrary header and claims with a raw WebCrypto or HMAC key: the attacker's view, no library help. */
async function forge(header: Record<string, unknown>, claims: Record<string, unknown>, signer: { alg: SvidAlg; privateKey: CryptoKey } | { hmacSecret: Uint8Array } | 'unsigned'): Promise<string> {
  const input = `${segment(header)}.${segment(claims)}`
  if (signer === 'unsigned') return `${input}.`
  const data = ascii.encode(input)
  const sig =
    'hmacSecret' in signer
      ? await crypto.subtle.sign('HMAC', await crypto.subtle.importKey('raw', signer.hmacSecret as Uint8Array<ArrayBuffer>, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']), data)
      : await crypto.subtle.sign(SIGN[signer.alg], signer.privateKey, data)
  return `${input}.${b64url(new Uint8Array(sig))}`
}

export type Setup = {
  verifier: SvidVerifier
  jwks: JwksCache
  /** What the control API would serve from /v1/tenants/acme/jwks.json; mutate to rotate. */
  served: JWK[]
  fetches(): number
  advance(seconds: number): void
  nowMs(): number
}

export type SvidFixture = {
  keys: Record<SvidAlg, TestKey>
  /** A key of another tenant (globex.weft). */
  globex: TestKey
  /** A key of ours that is not published at first: rotation publishes it. */
  next: TestKey
  setup(options?: Partial<Omit<SvidVerifierOptions, 'jwks' | 'now'>> & { served?: JWK[]; failFetch?: boolean }): Setup
  claims(overrides?: Record<string, unknown>): Record<string, unknown>
  mint(options?: { key?: TestKey; subject?: string; audience?: string; ttlSeconds?: number; nowMs?: number; workloadId?: string }): Promise<string>
  forge: typeof forge
}

export async function createSvidFixture(): Promise<SvidFixture> {
  const [ES256, ES384, RS256, PS256, globex, next] = await Promise.all([
    generateTestKey('ES256'),
    generateTestKey('ES384'),
    generateTestKey('RS256'),
    generateTestKey('PS256'),
    generateTestKey('ES256'),
    generateTestKey('ES256'),
  ])
  const keys = { ES256, ES384, RS256, PS256 }
  const published = () => Object.values(keys).map((k) => k.publicJwk)
  return {
    keys,
    globex,
    next,
    setup(options = {}) {
      const { served = published(), failFetch = false, ...rest } = options
      let nowMs = START_MS
      let fetches = 0
      const jwks = new JwksCache({
        now: () => nowMs,
        fetchJwks: async () => {
          fetches++
          if (failFetch) throw new Error('control API unreachable')
          return { keys: served.map((k) => ({ ...k })) }
        },
      })
      const verifier = createSvidVerifier({ trustDomain: TRUST_DOMAIN, issuer: ISSUER, audience: SHIPPING, jwks, now: () => nowMs, ...rest })
      return { verifier, jwks, served, fetches: () => fetches, advance: (s) => void (nowMs += s * 1000), nowMs: () => nowMs }
    },
    claims(overrides = {}) {
      return { sub: ORDERS, iss: ISSUER, aud: SHIPPING, iat: START_S, exp: START_S + 900, jti: crypto.randomUUID(), ...overrides }
    },
    mint({ key = ES256, subject = ORDERS, audience = SHIPPING, ttlSeconds = 900, nowMs = START_MS, workloadId } = {}) {
      return signSvid({ privateKey: key.privateKey, kid: key.kid, alg: key.alg, issuer: ISSUER, subject, audience, ttlSeconds, now: nowMs, workloadId })
    },
    forge,
  }
}

function check(condition: unknown, what: string): asserts condition {
  if (!condition) throw new Error(`check failed: ${what}`)
}

/**
 * Counts `crypto.subtle.verify` calls made during `fn` by wrapping the real method: a timing-free way to
 * prove a cache hit does no cryptography. Cases run one at a time, so the swap cannot leak into another.
 */
async function countSubtleVerify(fn: () => Promise<unknown>): Promise<number> {
  const subtle = crypto.subtle
  const original = subtle.verify
  let calls = 0
  Object.defineProperty(subtle, 'verify', {
    configurable: true,
    writable: true,
    value: (...args: Parameters<SubtleCrypto['verify']>) => {
      calls++
      return original.apply(subtle, args)
    },
  })
  try {
    await fn()
  } finally {
    delete (subtle as { verify?: unknown }).verify
    if (subtle.verify !== original) Object.defineProperty(subtle, 'verify', { configurable: true, writable: true, value: original })
  }
  return calls
}

export type SvidCase = {
  name: string
  /** An `ERR_SVID_*` code, or 'OK' when the token must verify. */
  expect: string
  run(f: SvidFixture): Promise<unknown>
}

const ok = (name: string, run: SvidCase['run']): SvidCase => ({ name, expect: 'OK', run })
const rejects = (name: string, expect: string, run: SvidCase['run']): SvidCase => ({ name, expect, run })

export const SVID_CASES: SvidCase[] = [
  // Baselines: every allowed alg, and the accepted header/claim variants.
  ...(['ES256', 'ES384', 'RS256', 'PS256'] as const).map((alg) =>
    ok(`${alg} token from signSvid verifies`, async (f) => {
      const svid = await f.setup().verifier.verify(await f.mint({ key: f.keys[alg] }))
      check(svid.alg === alg && svid.kid === f.keys[alg].kid, 'alg and kid reported')
      check(svid.spiffeId === ORDERS && svid.service === 'orders' && svid.trustDomain === TRUST_DOMAIN, 'subject parsed')
      check(svid.audience === SHIPPING && svid.expiresAt === START_S + 900 && svid.issuedAt === START_S && typeof svid.jti === 'string', 'claims reported')
    }),
  ),
  ok('typ absent is accepted', async (f) => f.setup().verifier.verify(await f.forge({ alg: 'ES256', kid: f.keys.ES256.kid }, f.claims(), f.keys.ES256))),
  ok('typ "jwt" in lower case is accepted', async (f) => f.setup().verifier.verify(await f.forge({ alg: 'ES256', kid: f.keys.ES256.kid, typ: 'jwt' }, f.claims(), f.keys.ES256))),
  ok('typ JOSE is accepted', async (f) => f.setup().verifier.verify(await f.forge({ alg: 'ES256', kid: f.keys.ES256.kid, typ: 'JOSE' }, f.claims(), f.keys.ES256))),
  ok('aud array containing our audience is accepted', async (f) =>
    f.setup().verifier.verify(await f.forge({ alg: 'ES256', kid: f.keys.ES256.kid, typ: 'JWT' }, f.claims({ aud: [PAYMENTS, SHIPPING] }), f.keys.ES256)),
  ),
  ok('expired less than the skew ago is accepted', async (f) => {
    const s = f.setup()
    const token = await f.mint({ ttlSeconds: 60 })
    s.advance(60 + SKEW_S - 1)
    return s.verifier.verify(token)
  }),
  ok('nbf within the skew is accepted', async (f) =>
    f.setup().verifier.verify(await f.forge({ alg: 'ES256', kid: f.keys.ES256.kid, typ: 'JWT' }, f.claims({ nbf: START_S + SKEW_S - 1 }), f.keys.ES256)),
  ),

  // RFC 8725 §2.1 / §3.1: algorithm substitution and "none".
  rejects('alg none', 'ERR_SVID_ALG_NOT_ALLOWED', async (f) => f.setup().verifier.verify(await f.forge({ alg: 'none', typ: 'JWT', kid: f.keys.ES256.kid }, f.claims(), 'unsigned'))),
  rejects('alg "None" (case variant)', 'ERR_SVID_ALG_NOT_ALLOWED', async (f) => f.setup().verifier.verify(await f.forge({ alg: 'None', kid: f.keys.ES256.kid }, f.claims(), 'unsigned'))),
  rejects('alg header missing', 'ERR_SVID_ALG_NOT_ALLOWED', async (f) => f.setup().verifier.verify(await f.forge({ kid: f.keys.ES256.kid }, f.claims(), f.keys.ES256))),
  rejects('HS256 keyed with the public JWK', 'ERR_SVID_ALG_NOT_ALLOWED', async (f) => {
    const secret = ascii.encode(JSON.stringify(f.keys.ES256.publicJwk))
    return f.setup().verifier.verify(await f.forge({ alg: 'HS256', typ: 'JWT', kid: f.keys.ES256.kid }, f.claims(), { hmacSecret: secret }))
  }),
  rejects('HS256 keyed with the public key PEM', 'ERR_SVID_ALG_NOT_ALLOWED', async (f) => {
    const secret = ascii.encode(await exportSPKI(f.keys.RS256.publicKey))
    return f.setup().verifier.verify(await f.forge({ alg: 'HS256', typ: 'JWT', kid: f.keys.RS256.kid }, f.claims(), { hmacSecret: secret }))
  }),
  rejects('EdDSA (not in the JWT-SVID list)', 'ERR_SVID_ALG_NOT_ALLOWED', async (f) => {
    const [, p] = (await f.mint()).split('.')
    return f.setup().verifier.verify(`${segment({ alg: 'EdDSA', typ: 'JWT', kid: f.keys.ES256.kid })}.${p}.${b64url(new Uint8Array(64))}`)
  }),
  rejects('token alg ES384 under the kid of an ES256 key', 'ERR_SVID_KEY_ALG_MISMATCH', async (f) =>
    f.setup().verifier.verify(await f.forge({ alg: 'ES384', typ: 'JWT', kid: f.keys.ES256.kid }, f.claims(), f.keys.ES384)),
  ),
  rejects('token alg RS256 under the kid of a PS256 key', 'ERR_SVID_KEY_ALG_MISMATCH', async (f) =>
    f.setup().verifier.verify(await f.forge({ alg: 'RS256', typ: 'JWT', kid: f.keys.PS256.kid }, f.claims(), f.keys.RS256)),
  ),

  // Signature integrity.
  rejects('stripped signature', 'ERR_SVID_SIGNATURE', async (f) => {
    const [h, p] = (await f.mint()).split('.')
    return f.setup().verifier.verify(`${h}.${p}.`)
  }),
  rejects('tampered payload (sub swapped to payments)', 'ERR_SVID_SIGNATURE', async (f) => {
    const [h, , sig] = (await f.mint()).split('.')
    return f.setup().verifier.verify(`${h}.${segment(f.claims({ sub: PAYMENTS }))}.${sig}`)
  }),
  rejects('signature transplanted from another token', 'ERR_SVID_SIGNATURE', async (f) => {
    const [h, p] = (await f.mint()).split('.')
    const [, , other] = (await f.mint({ subject: PAYMENTS })).split('.')
    return f.setup().verifier.verify(`${h}.${p}.${other}`)
  }),
  rejects('truncated ES256 signature', 'ERR_SVID_SIGNATURE', async (f) => {
    const token = await f.mint()
    return f.setup().verifier.verify(token.slice(0, -8))
  }),

  // RFC 8725 §2.8 / §3.9: cross-JWT confusion. Audiences are bound to the callee.
  rejects('token minted for payments replayed to shipping', 'ERR_SVID_AUDIENCE', async (f) => f.setup().verifier.verify(await f.mint({ audience: PAYMENTS }))),
  rejects('token minted for the control API presented to shipping', 'ERR_SVID_AUDIENCE', async (f) => f.setup().verifier.verify(await f.mint({ audience: CONTROL_API_AUDIENCE }))),
  rejects('aud array without our audience', 'ERR_SVID_AUDIENCE', async (f) =>
    f.setup().verifier.verify(await f.forge({ alg: 'ES256', typ: 'JWT', kid: f.keys.ES256.kid }, f.claims({ aud: [PAYMENTS, CONTROL_API_AUDIENCE] }), f.keys.ES256)),
  ),
  rejects('wrong issuer', 'ERR_SVID_ISSUER', async (f) =>
    f.setup().verifier.verify(await f.forge({ alg: 'ES256', typ: 'JWT', kid: f.keys.ES256.kid }, f.claims({ iss: 'https://evil.test' }), f.keys.ES256)),
  ),

  // Tenant isolation: the trust domain is the boundary, the issuer is shared.
  rejects("other tenant's key and trust domain", 'ERR_SVID_TRUST_DOMAIN', async (f) => {
    const s = f.setup()
    const token = await f.mint({ key: f.globex, subject: spiffeIdOf('globex.weft', 'orders') })
    try {
      return await s.verifier.verify(token)
    } finally {
      check(s.fetches() === 0, 'a foreign token costs no JWKS fetch')
    }
  }),
  rejects("other tenant's key claiming our trust domain", 'ERR_SVID_KID_UNKNOWN', async (f) => f.setup().verifier.verify(await f.mint({ key: f.globex }))),
  rejects("other tenant's key under our kid", 'ERR_SVID_SIGNATURE', async (f) =>
    f.setup().verifier.verify(await f.forge({ alg: 'ES256', typ: 'JWT', kid: f.keys.ES256.kid }, f.claims(), f.globex)),
  ),
  rejects('sub is not a SPIFFE ID', 'ERR_SVID_SUBJECT', async (f) =>
    f.setup().verifier.verify(await f.forge({ alg: 'ES256', typ: 'JWT', kid: f.keys.ES256.kid }, f.claims({ sub: 'orders' }), f.keys.ES256)),
  ),
  rejects('sub is a SPIFFE ID outside /svc/', 'ERR_SVID_SUBJECT', async (f) =>
    f.setup().verifier.verify(await f.forge({ alg: 'ES256', typ: 'JWT', kid: f.keys.ES256.kid }, f.claims({ sub: 'spiffe://acme.weft/ns/default/sa/orders' }), f.keys.ES256)),
  ),

  // Lifetime.
  rejects('expired beyond the skew', 'ERR_SVID_EXPIRED', async (f) => {
    const s = f.setup()
    const token = await f.mint({ ttlSeconds: 60 })
    s.advance(60 + SKEW_S)
    return s.verifier.verify(token)
  }),
  rejects('nbf far in the future', 'ERR_SVID_NOT_YET_VALID', async (f) =>
    f.setup().verifier.verify(await f.forge({ alg: 'ES256', typ: 'JWT', kid: f.keys.ES256.kid }, f.claims({ nbf: START_S + 3600, exp: START_S + 7200 }), f.keys.ES256)),
  ),
  rejects('iat far in the future', 'ERR_SVID_NOT_YET_VALID', async (f) =>
    f.setup().verifier.verify(await f.forge({ alg: 'ES256', typ: 'JWT', kid: f.keys.ES256.kid }, f.claims({ iat: START_S + 3600, exp: START_S + 7200 }), f.keys.ES256)),
  ),
  rejects('missing exp', 'ERR_SVID_MISSING_CLAIM', async (f) =>
    f.setup().verifier.verify(await f.forge({ alg: 'ES256', typ: 'JWT', kid: f.keys.ES256.kid }, f.claims({ exp: undefined }), f.keys.ES256)),
  ),
  rejects('missing sub', 'ERR_SVID_MISSING_CLAIM', async (f) =>
    f.setup().verifier.verify(await f.forge({ alg: 'ES256', typ: 'JWT', kid: f.keys.ES256.kid }, f.claims({ sub: undefined }), f.keys.ES256)),
  ),
  rejects('exp as a string', 'ERR_SVID_MALFORMED', async (f) =>
    f.setup().verifier.verify(await f.forge({ alg: 'ES256', typ: 'JWT', kid: f.keys.ES256.kid }, f.claims({ exp: String(START_S + 900) }), f.keys.ES256)),
  ),

  // Header hygiene (RFC 8725 §3.11 explicit typing; RFC 7515 §4.1.11 crit; keys never from the token).
  rejects('unknown crit extension', 'ERR_SVID_CRIT', async (f) =>
    f.setup().verifier.verify(await f.forge({ alg: 'ES256', typ: 'JWT', kid: f.keys.ES256.kid, crit: ['weft-unknown'], 'weft-unknown': true }, f.claims(), f.keys.ES256)),
  ),
  rejects('typ at+jwt (another token kind)', 'ERR_SVID_TYP', async (f) =>
    f.setup().verifier.verify(await f.forge({ alg: 'ES256', typ: 'at+jwt', kid: f.keys.ES256.kid }, f.claims(), f.keys.ES256)),
  ),
  rejects('cty JWT (nested token)', 'ERR_SVID_TYP', async (f) =>
    f.setup().verifier.verify(await f.forge({ alg: 'ES256', typ: 'JWT', cty: 'JWT', kid: f.keys.ES256.kid }, f.claims(), f.keys.ES256)),
  ),
  rejects("embedded jwk header with the attacker's key", 'ERR_SVID_EMBEDDED_KEY', async (f) => {
    const attacker = await generateTestKey('ES256')
    return f.setup().verifier.verify(await f.forge({ alg: 'ES256', typ: 'JWT', kid: attacker.kid, jwk: attacker.publicJwk }, f.claims(), attacker))
  }),
  ...(['jku', 'x5u', 'x5c'] as const).map((name) =>
    rejects(`${name} header`, 'ERR_SVID_EMBEDDED_KEY', async (f) => {
      const value = name === 'x5c' ? ['MIIB'] : 'https://evil.test/keys'
      return f.setup().verifier.verify(await f.forge({ alg: 'ES256', typ: 'JWT', kid: f.keys.ES256.kid, [name]: value }, f.claims(), f.keys.ES256))
    }),
  ),
  rejects('oversized token (valid signature, padded claims)', 'ERR_SVID_TOO_LARGE', async (f) =>
    f.setup().verifier.verify(await f.forge({ alg: 'ES256', typ: 'JWT', kid: f.keys.ES256.kid }, f.claims({ pad: 'x'.repeat(8192) }), f.keys.ES256)),
  ),
  rejects('one mebibyte of garbage', 'ERR_SVID_TOO_LARGE', async (f) => f.setup().verifier.verify('a'.repeat(1 << 20))),

  // Shape.
  rejects('two segments', 'ERR_SVID_MALFORMED', async (f) => f.setup().verifier.verify((await f.mint()).split('.').slice(0, 2).join('.'))),
  rejects('JWS JSON serialization', 'ERR_SVID_MALFORMED', async (f) => {
    const [h, p, sig] = (await f.mint()).split('.')
    return f.setup().verifier.verify(JSON.stringify({ protected: h, payload: p, signature: sig }))
  }),
  rejects('header is not JSON', 'ERR_SVID_MALFORMED', async (f) => {
    const [, p, sig] = (await f.mint()).split('.')
    return f.setup().verifier.verify(`${b64url('{"alg":"ES256"')}.${p}.${sig}`)
  }),
  rejects('claims are a JSON array', 'ERR_SVID_MALFORMED', async (f) => f.setup().verifier.verify(await f.forge({ alg: 'ES256', typ: 'JWT', kid: f.keys.ES256.kid }, [] as never, f.keys.ES256))),
  rejects('header without kid', 'ERR_SVID_MALFORMED', async (f) => f.setup().verifier.verify(await f.forge({ alg: 'ES256', typ: 'JWT' }, f.claims(), f.keys.ES256))),

  // Key discovery: unknown kids are attacker-controlled, so refetches are shared and rate-limited.
  rejects('unknown kid: one shared refetch per interval, then still unknown', 'ERR_SVID_KID_UNKNOWN', async (f) => {
    const s = f.setup()
    await s.verifier.verify(await f.mint())
    check(s.fetches() === 1, `initial load fetched once (saw ${s.fetches()})`)
    s.advance(31)
    const forged = await Promise.all(
      Array.from({ length: 5 }, async () => f.forge({ alg: 'ES256', typ: 'JWT', kid: crypto.randomUUID() }, f.claims({ iat: START_S + 31 }), f.keys.ES256)),
    )
    const outcomes = await Promise.allSettled(forged.map((t) => s.verifier.verify(t)))
    check(s.fetches() === 2, `five concurrent misses share one refetch (saw ${s.fetches()})`)
    check(outcomes.every((o) => o.status === 'rejected' && (o.reason as SvidError).code === 'ERR_SVID_KID_UNKNOWN'), 'all five unknown')
    s.advance(10)
    try {
      return await s.verifier.verify(forged[0]!)
    } finally {
      check(s.fetches() === 2, `no refetch within the interval (saw ${s.fetches()})`)
    }
  }),
  ok('a key added by rotation is picked up by the refetch', async (f) => {
    const s = f.setup()
    await s.verifier.verify(await f.mint())
    s.served.push(f.next.publicJwk)
    s.advance(31)
    const svid = await s.verifier.verify(await f.mint({ key: f.next, nowMs: s.nowMs() }))
    check(s.fetches() === 2 && svid.kid === f.next.kid, `one refetch found the new key (saw ${s.fetches()} fetches)`)
  }),
  rejects('a key removed from the JWKS stops verifying its cached tokens', 'ERR_SVID_KID_UNKNOWN', async (f) => {
    const s = f.setup()
    const token = await f.mint()
    await s.verifier.verify(token)
    // As a proxy does when a newer snapshot carries a JWKS without the key (e.g. after a compromise).
    s.served.splice(0, s.served.length, ...s.served.filter((k) => k.kid !== f.keys.ES256.kid))
    s.jwks.setJwks({ keys: s.served })
    return s.verifier.verify(token)
  }),
  rejects('JWKS never loaded and the control API is unreachable', 'ERR_SVID_JWKS_UNAVAILABLE', async (f) => f.setup({ failFetch: true }).verifier.verify(await f.mint())),

  // Revocation travels in the snapshot and is asked on every verify, cached or not.
  rejects('revoked workload instance (wid), its sibling still accepted', 'ERR_SVID_REVOKED', async (f) => {
    const s = f.setup({ isRevoked: (svid) => svid.workloadId === 'w-revoked' })
    const sibling = await s.verifier.verify(await f.mint({ workloadId: 'w-live' }))
    check(sibling.workloadId === 'w-live', 'wid reported')
    return s.verifier.verify(await f.mint({ workloadId: 'w-revoked' }))
  }),
  rejects('revoked after its token was cached', 'ERR_SVID_REVOKED', async (f) => {
    const revoked = new Set<string>()
    const s = f.setup({ isRevoked: (svid) => revoked.has(svid.spiffeId) })
    const token = await f.mint()
    await s.verifier.verify(token)
    revoked.add(ORDERS)
    return s.verifier.verify(token)
  }),

  // The cache: the hot path does no crypto, and never outlives exp.
  ok('a second verify of the same token makes no crypto call', async (f) => {
    const s = f.setup()
    const token = await f.mint()
    let first: VerifiedSvid | undefined
    let second: VerifiedSvid | undefined
    const firstCalls = await countSubtleVerify(async () => (first = await s.verifier.verify(token)))
    const secondCalls = await countSubtleVerify(async () => (second = await s.verifier.verify(token)))
    check(firstCalls === 1 && secondCalls === 0, `crypto.subtle.verify calls: first ${firstCalls}, second ${secondCalls}`)
    check(first === second, 'the cached result is returned')
    const stats = s.verifier.stats()
    check(stats.hits === 1 && stats.misses === 1 && stats.signatureChecks === 1, `stats ${JSON.stringify(stats)}`)
  }),
  rejects('a cached token past exp', 'ERR_SVID_EXPIRED', async (f) => {
    const s = f.setup()
    const token = await f.mint({ ttlSeconds: 60 })
    await s.verifier.verify(token)
    s.advance(60 + SKEW_S)
    try {
      return await s.verifier.verify(token)
    } finally {
      check(s.verifier.stats().signatureChecks === 1, 'rejected from the cache, without crypto')
    }
  }),
]

/** 'OK', the `ERR_SVID_*` code, or a description of anything else that went wrong (which fails the case). */
export async function outcomeOf(c: SvidCase, f: SvidFixture): Promise<string> {
  try {
    await c.run(f)
    return 'OK'
  } catch (err) {
    if (err instanceof SvidError) return err.code
    return `UNEXPECTED ${(err as Error)?.name}: ${(err as Error)?.message}`
  }
}

export async function runSvidCases(): Promise<{ case: string; code: string }[]> {
  const f = await createSvidFixture()
  const results: { case: string; code: string }[] = []
  for (const c of SVID_CASES) results.push({ case: c.name, code: await outcomeOf(c, f) })
  return results
}
