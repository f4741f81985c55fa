import { LruCache } from '../../../mesh/src/identity/lru-cache'
import { parseSpiffeId } from '../../../mesh/src/identity/spiffe'
import { audienceTokenMarginMs } from './backoff'
import { ControlClientConfigError } from './control-errors'
import type { HeldToken } from './control-identity'
import type { StoredAudienceToken } from './snapshot-store'

// Enough for a snapshot of 1000 services: one entry per callee this proxy talks to.
export const DEFAULT_MAX_AUDIENCE_TOKENS = 1024
// After a failed mint, callers for that audience get the same error for this long instead of each
// sending a request: an unreachable control API must not be hit once per outbound call.
export const DEFAULT_MINT_FAILURE_HOLD_MS = 1_000
// Audience tokens are saved at most once a second: at start a proxy mints for many callees at once, and each
// refresh-ahead would otherwise rewrite the whole set.
export const AUDIENCE_TOKEN_SAVE_GAP_MS = 1_000

export type AudienceEntry = { held: HeldToken; refreshAheadAt: number; usableUntil: number }
type Entry = AudienceEntry

/** When a token stops being handed out (its margin before expiry) and when a new one is minted behind it. */
export function audienceEntryOf(held: HeldToken): AudienceEntry {
  const margin = audienceTokenMarginMs(held.lifetimeMs)
  return { held, usableUntil: held.expiresAt - margin, refreshAheadAt: held.expiresAt - 2 * margin }
}

/** The cached tokens still usable at `now`, in the cache's order (least recently used first): what gets saved. */
export function persistableAudienceTokens(entries: Iterable<[string, AudienceEntry]>, now: number): StoredAudienceToken[] {
  const out: StoredAudienceToken[] = []
  for (const [audience, { held, usableUntil }] of entries) {
    if (now < usableUntil) out.push({ audience, token: held.token, spiffeId: held.spiffeId, workloadId: held.workloadId, issuedAt: held.issuedAt, expiresAt: held.expiresAt })
  }
  return out
}

/**
 * The persisted audience tokens a restarted proxy may use: minted for its stored identity (same subject and
 * workload: a proxy that joined again as a new workload, or another service's state, gets none) and still
 * outside the margin before expiry that the cache keeps. At most `max`, the most recently used ones.
 */
export function usableStoredAudienceTokens(
  stored: readonly StoredAudienceToken[],
  owner: { spiffeId: string; workloadId: string } | null,
  now: number,
  max = DEFAULT_MAX_AUDIENCE_TOKENS,
): { usable: HeldToken[]; discarded: number } {
  const usable: HeldToken[] = []
  if (owner) {
    for (const t of stored) {
      if (t.spiffeId !== owner.spiffeId || t.workloadId !== owner.workloadId || !(t.expiresAt > t.issuedAt)) continue
      try {
        parseSpiffeId(t.audience)
      } catch {
        continue
      }
      const held: HeldToken = { ...t, lifetimeMs: t.expiresAt - t.issuedAt }
      if (now < audienceEntryOf(held).usableUntil) usable.push(held)
    }
  }
  // Saved least recently used first: the tail is what was in use.
  const kept = usable.slice(-max)
  return { usable: kept, discarded: stored.length - kept.length }
}

export type AudienceTokensOptions = {
  mint: (audience: string) => Promise<HeldToken>
  now: () => number
  maxEntries?: number
  failureHoldMs?: number
  /** Called after each successful mint (not awaited, and never for a token adopted from the store). */
  onMinted?: () => void
}

export type AudienceTokenStats = { cached: number; hits: number; mints: number; failures: number }

/**
 * JWT-SVIDs for callees, one per audience (the callee's SPIFFE ID). A token is handed out until 10 % of
 * its lifetime (at most 60 s) before it expires; from twice that margin a new one is minted in the
 * background, so that the request path waits for the control API only on the first call to a callee.
 * Concurrent callers for one audience share one mint; the cache is a bounded LRU.
 */
export class AudienceTokens {
  readonly #mint: (audience: string) => Promise<HeldToken>
  readonly #now: () => number
  readonly #cache: LruCache<string, Entry>
  readonly #inflight = new Map<string, Promise<Entry>>()
  readonly #failures: LruCache<string, { until: number; error: unknown }>
  readonly #failureHoldMs: number
  readonly #onMinted: (() => void) | undefined
  #hits = 0
  #mints = 0
  #failed = 0

  constructor(options: AudienceTokensOptions) {
    const max = options.maxEntries ?? DEFAULT_MAX_AUDIENCE_TOKENS
    if (!Number.isInteger(max) || max < 1) throw new ControlClientConfigError(`maxAudienceTokens must be a positive integer, got ${max}`)
    this.#mint = options.mint
    this.#now = options.now
    this.#cache = new LruCache(max)
    this.#failures = new LruCache(max)
    this.#failureHoldMs = options.failureHoldMs ?? DEFAULT_MINT_FAILURE_HOLD_MS
    this.#onMinted = options.onMinted
  }

  /**
   * @throws ControlClientConfigError when `audience` is not a SPIFFE ID; the mint's error (ControlUnreachable,
   * ControlRequestFailed, IdentityRefused) when no usable token is cached and none could be minted.
   */
  async get(audience: string): Promise<string> {
    const now = this.#now()
    const entry = this.#cache.get(audience)
    if (entry && now < entry.usableUntil) {
      this.#hits++
      if (now >= entry.refreshAheadAt) this.#start(audience).catch(() => {})
      return entry.held.token
    }
    const failure = this.#failures.peek(audience)
    if (failure && now < failure.until && !this.#inflight.has(audience)) throw failure.error
    if (!entry) {
      try {
        parseSpiffeId(audience)
      } catch (err) {
        throw new ControlClientConfigError(`tokenFor: ${JSON.stringify(audience)} is not a SPIFFE ID (spiffe://<trust domain>/svc/<service>)`, { cause: err })
      }
    }
    return (await this.#start(audience)).held.token
  }

  stats(): AudienceTokenStats {
    return { cached: this.#cache.size, hits: this.#hits, mints: this.#mints, failures: this.#failed }
  }

  /** Takes tokens from the store (least recently used first); an audience already cached keeps its own. */
  adopt(tokens: readonly HeldToken[]): void {
    for (const held of tokens) if (!this.#cache.peek(held.audience)) this.#cache.set(held.audience, audienceEntryOf(held))
  }

  /** The cached tokens still usable, least recently used first: what `adopt` takes after a restart. */
  persistable(): StoredAudienceToken[] {
    return persistableAudienceTokens(this.#cache.entries(), this.#now())
  }

  clear(): void {
    this.#cache.clear()
    this.#failures.clear()
  }

  #start(audience: string): Promise<Entry> {
    let p = this.#inflight.get(audience)
    if (p) return p
    p = this.#obtain(audience).finally(() => this.#inflight.delete(audience))
    this.#inflight.set(audience, p)
    return p
  }

  async #obtain(audience: string): Promise<Entry> {
    this.#mints++
    try {
      const held = await this.#mint(audience)
      const entry = audienceEntryOf(held)
      this.#cache.set(audience, entry)
      this.#failures.delete(audience)
      this.#onMinted?.()
      return entry
    } catch (error) {
      this.#failed++
      this.#failures.set(audience, { until: this.#now() + this.#failureHoldMs, error })
      throw error
    }
  }
}
