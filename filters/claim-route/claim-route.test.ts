import { beforeAll, describe, expect, it } from 'vitest'
import { createFilterHost, type FilterHost } from '../../edge-proxy/src/wasm/filter-host'
import { FilterConfigError } from '../../edge-proxy/src/wasm/wasm-errors'
import { compileFilter } from '../test-helpers'

let module: WebAssembly.Module
beforeAll(async () => {
  module = await compileFilter('claim-route')
})

const canary = (percent: number, salt?: string) => ({
  rules: [{ set: 'x-weft-canary', value: 'v2', from: { cookie: 'uid' }, percent, ...(salt ? { salt } : {}) }],
})
const router = (config: object) => createFilterHost({ module, rootId: 'claim-route', config: JSON.stringify(config) })

async function route(host: FilterHost, headers: Record<string, string>): Promise<Headers> {
  const stream = host.startStream({ method: 'GET', path: '/' })
  const result = await stream.onRequestHeaders(headers)
  stream.finish()
  if (result.action !== 'continue') throw new Error(`claim-route answered ${result.action}`)
  return result.headers
}

/** Which of `users` a host puts in the canary. */
async function canaryUsers(host: FilterHost, users: string[]): Promise<Set<string>> {
  const chosen = new Set<string>()
  for (const uid of users) if ((await route(host, { cookie: `theme=dark; uid=${uid}` })).get('x-weft-canary') === 'v2') chosen.add(uid)
  return chosen
}

const users = Array.from({ length: 10_000 }, (_, i) => `user-${i + 1}`)

describe('claim-route filter', () => {
  it('puts a stable 10% ± 1.5 of 10000 users in the canary, the same users in another VM', async () => {
    const first = await canaryUsers(router(canary(10)), users)
    expect(first.size).toBeGreaterThanOrEqual(850)
    expect(first.size).toBeLessThanOrEqual(1150)
    // A fresh VM (another proxy, a restart) decides every user the same way.
    expect(await canaryUsers(router(canary(10)), users)).toEqual(first)
  })

  it('grows the canary without moving anyone out of it, and another salt picks other users', async () => {
    const ten = await canaryUsers(router(canary(10)), users.slice(0, 2000))
    const twenty = await canaryUsers(router(canary(20)), users.slice(0, 2000))
    for (const uid of ten) expect(twenty.has(uid)).toBe(true)
    const otherSplit = await canaryUsers(router(canary(10, 'checkout-v3')), users.slice(0, 2000))
    const overlap = [...ten].filter((u) => otherSplit.has(u)).length
    // Independent 10% splits overlap on about 1% of users (20 of 2000), far from all of them.
    expect(overlap).toBeLessThan(60)
    expect(await canaryUsers(router(canary(0)), users.slice(0, 500))).toEqual(new Set())
    expect((await canaryUsers(router(canary(100)), users.slice(0, 500))).size).toBe(500)
  })

  it('copies a claim, matches a header value, and ignores rules whose source is absent', async () => {
    const host = router({
      rules: [
        { set: 'x-plan', from: { claim: 'plan' } },
        { set: 'x-weft-beta', value: 'on', from: { header: 'x-beta' }, equals: '1' },
        { set: 'x-region', value: 'eu', from: { cookie: 'eu' } },
      ],
    })
    const all = await route(host, { 'x-jwt-claim-plan': 'gold', 'x-beta': '1', cookie: 'eu=yes' })
    expect([all.get('x-plan'), all.get('x-weft-beta'), all.get('x-region')]).toEqual(['gold', 'on', 'eu'])
    const none = await route(host, { 'x-beta': '0' })
    expect([none.get('x-plan'), none.get('x-weft-beta'), none.get('x-region')]).toEqual([null, null, null])
  })

  it('buckets by FNV-1a 64 + fmix64 of the UTF-8 of "<salt>:<value>", mod 10000 (sdk/util.ts hashPercentBucket)', async () => {
    const MASK = (1n << 64n) - 1n
    const bucket = (key: string) => {
      let h = 0xcbf29ce484222325n
      for (const byte of new TextEncoder().encode(key)) h = ((h ^ BigInt(byte)) * 0x100000001b3n) & MASK
      for (const m of [0xff51afd7ed558ccdn, 0xc4ceb9fe1a85ec53n]) h = ((h ^ (h >> 33n)) * m) & MASK
      return Number((h ^ (h >> 33n)) % 10000n)
    }
    // Cookie values cross as byte strings: these are the UTF-8 bytes of "über-ü" and "🚀-7".
    const uids = [...users.slice(0, 300), 'x'.repeat(600), '\u00c3\u00bcber-\u00c3\u00bc', '\u00f0\u009f\u009a\u0080-7']
    const decoded = (uid: string) => new TextDecoder().decode(Uint8Array.from(uid, (c) => c.charCodeAt(0)))
    for (const [salt, name] of [[undefined, 'x-weft-canary'], ['checkout-v3', 'checkout-v3']] as const) {
      const expected = new Set(uids.filter((uid) => bucket(`${name}:${decoded(uid)}`) < 5000))
      expect(await canaryUsers(router(canary(50, salt)), uids)).toEqual(expected)
    }
  })

  it('reads cookies as split(";") and trim() would: spaces, quotes, repeats, parts without a name', async () => {
    const host = router({ rules: [{ set: 'x-u', from: { cookie: 'uid' } }] })
    const uid = async (cookie: string) => (await route(host, { cookie })).get('x-u')
    expect(await uid(' uid = a b ;uid=2')).toBe('a b')
    expect(await uid('=x; uid=; uid=3')).toBe('')
    expect(await uid('xuid=1; uid="q"; ')).toBe('q')
    expect(await uid('uid="')).toBe('"')
    expect(await uid('a=1;;uid\t=\t7\t')).toBe('7')
    // U+00A0 (its UTF-8 bytes) is whitespace to trim() too.
    expect(await uid('uid=\u00c2\u00a0v\u00c2\u00a0')).toBe('v')
    expect(await uid('uidx=1; UID=2; id=3')).toBe(null)
  })

  it('drops a routing header the client sent itself', async () => {
    const host = router(canary(0))
    const headers = await route(host, { 'x-weft-canary': 'v2', cookie: 'uid=user-1' })
    expect(headers.has('x-weft-canary')).toBe(false)
  })

  it.each([
    ['no rules', {}],
    ['a rule without from', { rules: [{ set: 'x-a', value: '1' }] }],
    ['a percentage above 100', { rules: [{ set: 'x-a', value: '1', from: { cookie: 'u' }, percent: 120 }] }],
    ['a percentage without value', { rules: [{ set: 'x-a', from: { cookie: 'u' }, percent: 5 }] }],
    ['equals without value', { rules: [{ set: 'x-a', from: { header: 'x-b' }, equals: '1' }] }],
  ])('rejects a configuration with %s', (_case, config) => {
    expect(() => router(config)).toThrow(FilterConfigError)
  })
})
