// The one SHA-256 helper of the repo: pure WebCrypto, no control-API dependencies.
import { sha256Hex } from '../../../control-api/src/sha256-hex'
import { isStoredAudienceToken, type SnapshotStore, type StoredAudienceToken, type StoredIdentity, type StoredSnapshot } from './snapshot-store'

// The Worker's SnapshotStore: the last good snapshot, the control-API identity and the audience tokens, kept where every isolate of
// the Worker in one location finds them, so that a new isolate serves at once (and during a control-plane
// outage) and does not spend a join-token use. Two backends, both plain text by key: the Cache API
// (`caches.default`, always there, per location; note that it does not store anything on *.workers.dev
// hostnames, only on a zone of your own) or a KV namespace (global, eventually consistent; bind one as
// WEFT_STATE to use it).

/** The little both backends offer. */
export interface TextKeyValue {
  get(key: string): Promise<string | null>
  /** `ttlSeconds`: how long the value is worth keeping (the backend may drop it earlier). */
  put(key: string, value: string, ttlSeconds: number): Promise<void>
}

/** The parts of the Cache API used (declared here: the repo carries no workers-types). */
export interface CacheLike {
  match(request: Request | string): Promise<Response | undefined>
  put(request: Request | string, response: Response): Promise<void>
}

/** The parts of a KV namespace binding used. */
export interface KvLike {
  get(key: string): Promise<string | null>
  put(key: string, value: string, options?: { expirationTtl?: number }): Promise<void>
}

// Cache keys are URLs; this host is never fetched, it only names entries.
const CACHE_KEY_ORIGIN = 'https://weft-state.invalid/'
// KV refuses expirationTtl under 60 s.
const KV_MIN_TTL_SECONDS = 60

export function cacheKeyValue(cache: CacheLike): TextKeyValue {
  return {
    async get(key) {
      const res = await cache.match(CACHE_KEY_ORIGIN + key)
      return res ? res.text() : null
    },
    async put(key, value, ttlSeconds) {
      const res = new Response(value, { headers: { 'content-type': 'application/json', 'cache-control': `max-age=${Math.max(1, Math.floor(ttlSeconds))}` } })
      await cache.put(CACHE_KEY_ORIGIN + key, res)
    },
  }
}

export function kvKeyValue(kv: KvLike): TextKeyValue {
  return {
    get: (key) => kv.get(key),
    put: (key, value, ttlSeconds) => kv.put(key, value, { expirationTtl: Math.max(KV_MIN_TTL_SECONDS, Math.floor(ttlSeconds)) }),
  }
}

// The snapshot is the fallback for an outage: kept a week, refreshed on every change.
const SNAPSHOT_TTL_SECONDS = 7 * 24 * 3600

/**
 * Entries are named by a hash of the control URL, the service and the join token: unguessable without the
 * secret (other Workers on the same zone share `caches.default`), and a redeploy with a new join token or
 * another control API starts clean.
 */
export class KeyValueSnapshotStore implements SnapshotStore {
  readonly #kv: TextKeyValue
  readonly #prefix: Promise<string>
  readonly #now: () => number

  constructor(kv: TextKeyValue, scope: { controlUrl: string; service: string; joinToken: string }, now: () => number = Date.now) {
    this.#kv = kv
    this.#now = now
    this.#prefix = sha256Hex(`${scope.controlUrl}\n${scope.service}\n${scope.joinToken}`).then((h) => `weft/${scope.service}/${h.slice(0, 32)}`)
  }

  async load(): Promise<StoredSnapshot | null> {
    const text = await this.#kv.get(`${await this.#prefix}/snapshot`)
    if (!text) return null
    const v = JSON.parse(text) as Partial<StoredSnapshot>
    return typeof v.etag === 'string' && typeof v.body === 'string' ? { etag: v.etag, body: v.body } : null
  }

  async save(etag: string, body: string): Promise<void> {
    await this.#kv.put(`${await this.#prefix}/snapshot`, JSON.stringify({ etag, body }), SNAPSHOT_TTL_SECONDS)
  }

  async loadIdentity(): Promise<StoredIdentity | null> {
    const text = await this.#kv.get(`${await this.#prefix}/identity`)
    if (!text) return null
    const v = JSON.parse(text) as StoredIdentity | null
    return v && typeof v.token === 'string' && typeof v.expiresAt === 'number' ? v : null
  }

  async saveIdentity(identity: StoredIdentity | null): Promise<void> {
    // Neither backend deletes cheaply everywhere: an empty entry that lapses soon stands for "none".
    const ttl = identity ? (identity.expiresAt - this.#now()) / 1000 : 1
    if (ttl <= 0) return
    await this.#kv.put(`${await this.#prefix}/identity`, JSON.stringify(identity), ttl)
  }

  async loadAudienceTokens(): Promise<StoredAudienceToken[]> {
    const text = await this.#kv.get(`${await this.#prefix}/audience-tokens`)
    if (!text) return []
    const v = JSON.parse(text) as unknown
    return Array.isArray(v) ? v.filter(isStoredAudienceToken) : []
  }

  async saveAudienceTokens(tokens: StoredAudienceToken[]): Promise<void> {
    // Kept as long as the longest-lived of them; an empty set lapses soon, like a cleared identity.
    const ttl = tokens.length ? (Math.max(...tokens.map((t) => t.expiresAt)) - this.#now()) / 1000 : 1
    if (ttl <= 0) return
    await this.#kv.put(`${await this.#prefix}/audience-tokens`, JSON.stringify(tokens), ttl)
  }
}
