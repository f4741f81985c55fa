import { describe, expect, it } from 'vitest'
import { AudienceTokens } from './audience-tokens'
import { ControlClientConfigError, ControlUnreachable } from './control-errors'
import type { HeldToken } from './control-identity'

const aud = (s: string) => `spiffe://t.weft/svc/${s}`

function harness(lifetimeMs = 900_000, maxEntries?: number) {
  let t = 1_000_000
  const calls: string[] = []
  let minted = 0
  let fail: Error | null = null
  let gate: Promise<void> = Promise.resolve()
  const tokens = new AudienceTokens({
    now: () => t,
    maxEntries,
    onMinted: () => minted++,
    async mint(audience): Promise<HeldToken> {
      calls.push(audience)
      const issuedAt = t
      await gate
      if (fail) throw fail
      return { token: `${audience}#${calls.length}`, spiffeId: aud('me'), workloadId: 'w', audience, issuedAt, expiresAt: issuedAt + lifetimeMs, lifetimeMs }
    },
  })
  return {
    tokens,
    calls,
    minted: () => minted,
    now: () => t,
    advance: (ms: number) => (t += ms),
    failWith: (e: Error | null) => (fail = e),
    hold: () => {
      let release!: () => void
      gate = new Promise((r) => (release = r))
      return () => release()
    },
  }
}

describe('AudienceTokens', () => {
  it('mints once per audience and serves the cache until 10 % (max 60 s) before expiry', async () => {
    const h = harness(900_000)
    const first = await h.tokens.get(aud('payments'))
    h.advance(900_000 - 121_000) // before refresh-ahead (2 × 60 s margin)
    expect(await h.tokens.get(aud('payments'))).toBe(first)
    expect(h.calls).toHaveLength(1)
    expect(await h.tokens.get(aud('ledger'))).not.toBe(first)
    expect(h.calls).toEqual([aud('payments'), aud('ledger')])
  })

  it('refreshes ahead in the background, then stops handing out a token inside the margin', async () => {
    const h = harness(900_000)
    const first = await h.tokens.get(aud('payments'))
    h.advance(900_000 - 100_000) // inside 2 × margin: still served, a new one minted behind it
    const release = h.hold()
    expect(await h.tokens.get(aud('payments'))).toBe(first)
    expect(h.calls).toHaveLength(2)
    release()
    await new Promise((r) => setTimeout(r, 0))
    const second = await h.tokens.get(aud('payments'))
    expect(second).not.toBe(first)
    expect(h.calls).toHaveLength(2)
    h.advance(900_000 - 59_000) // inside the 60 s margin of the second one: never handed out, minted afresh
    const third = await h.tokens.get(aud('payments'))
    expect(third).not.toBe(second)
    expect(h.calls).toHaveLength(3)
  })

  it('concurrent callers for one audience share one mint', async () => {
    const h = harness()
    const release = h.hold()
    const all = Promise.all(Array.from({ length: 50 }, () => h.tokens.get(aud('payments'))))
    release()
    expect(new Set(await all).size).toBe(1)
    expect(h.calls).toHaveLength(1)
  })

  it('is bounded: the least recently used audience is evicted', async () => {
    const h = harness(900_000, 2)
    await h.tokens.get(aud('a'))
    await h.tokens.get(aud('b'))
    await h.tokens.get(aud('a'))
    await h.tokens.get(aud('c')) // evicts b
    expect(h.tokens.stats().cached).toBe(2)
    await h.tokens.get(aud('a'))
    expect(h.calls).toEqual([aud('a'), aud('b'), aud('c')])
    await h.tokens.get(aud('b'))
    expect(h.calls).toEqual([aud('a'), aud('b'), aud('c'), aud('b')])
  })

  it('after a failed mint, callers get the same error for a second instead of each calling the control API', async () => {
    const h = harness()
    h.failWith(new ControlUnreachable('down'))
    await expect(h.tokens.get(aud('payments'))).rejects.toBeInstanceOf(ControlUnreachable)
    await expect(h.tokens.get(aud('payments'))).rejects.toBeInstanceOf(ControlUnreachable)
    expect(h.calls).toHaveLength(1)
    h.failWith(null)
    h.advance(1_001)
    expect(await h.tokens.get(aud('payments'))).toMatch(/#2$/)
  })

  it('refuses an audience that is not a SPIFFE ID without calling the control API', async () => {
    const h = harness()
    await expect(h.tokens.get('payments')).rejects.toBeInstanceOf(ControlClientConfigError)
    expect(h.calls).toHaveLength(0)
  })

  it('hands out adopted (persisted) tokens without minting, and lists only usable tokens to persist, LRU first', async () => {
    const h = harness(900_000)
    const t0 = h.now()
    const stored = (callee: string) => ({ token: `stored-${callee}`, spiffeId: aud('me'), workloadId: 'w', audience: aud(callee), issuedAt: t0 - 60_000, expiresAt: t0 + 840_000, lifetimeMs: 900_000 })
    h.tokens.adopt([stored('payments'), stored('ledger')])
    expect(await h.tokens.get(aud('payments'))).toBe('stored-payments')
    expect(h.calls).toHaveLength(0)
    expect(h.minted()).toBe(0) // adopting is not news to persist
    await h.tokens.get(aud('shipping'))
    expect(h.minted()).toBe(1)
    // A freshly minted token is not replaced by an older stored one.
    h.tokens.adopt([stored('shipping')])
    expect(await h.tokens.get(aud('shipping'))).toBe(`${aud('shipping')}#1`)
    expect(h.tokens.persistable().map((p) => [p.audience, p.token])).toEqual([
      [aud('ledger'), 'stored-ledger'],
      [aud('payments'), 'stored-payments'],
      [aud('shipping'), `${aud('shipping')}#1`],
    ])
    h.advance(840_000 - 60_000) // the stored ones reach their margin: no longer worth persisting
    expect(h.tokens.persistable().map((p) => p.audience)).toEqual([aud('shipping')])
  })
})
