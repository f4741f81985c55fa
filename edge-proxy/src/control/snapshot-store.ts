/**
 * Where a proxy keeps what it must survive a restart with: the last good snapshot, so that it serves at
 * once even when the control API is down, and optionally its current identity, so that a restarted proxy
 * whose single-use join token is spent can carry on by refreshing instead of joining again. The sidecar
 * uses `FileSnapshotStore` (file-snapshot-store.ts); the Worker passes one over the Cache API or KV.
 */
export interface SnapshotStore {
  /** The snapshot last saved, exactly as the control API sent it, or null when there is none. */
  load(): Promise<StoredSnapshot | null>
  save(etag: string, body: string): Promise<void>
  /** Optional: the identity last saved (null: none, or cleared because the control API refused it). */
  loadIdentity?(): Promise<StoredIdentity | null>
  saveIdentity?(identity: StoredIdentity | null): Promise<void>
  /**
   * Optional: the audience tokens (JWT-SVIDs minted for callees) last saved, so that a proxy restarted while
   * the control API is down can still call out. The client judges them at load (expiry, subject, workload).
   */
  loadAudienceTokens?(): Promise<StoredAudienceToken[]>
  /** Replaces the saved set; the client saves only still-usable tokens, and few (its LRU's bound). */
  saveAudienceTokens?(tokens: StoredAudienceToken[]): Promise<void>
}

export type StoredSnapshot = { etag: string; body: string }

/** A control-API JWT-SVID with the facts needed to judge it after a restart; times in ms since the epoch. */
export type StoredIdentity = {
  controlUrl: string
  service: string
  token: string
  spiffeId: string
  workloadId: string
  /** On the proxy's clock: when it was requested. */
  issuedAt: number
  /** On the proxy's clock: issuedAt plus the token's lifetime (exp − iat). */
  expiresAt: number
}

/** A token minted for calling `audience` (the callee's SPIFFE ID); times on the proxy's clock, ms since the epoch. */
export type StoredAudienceToken = {
  audience: string
  token: string
  /** The subject: the proxy's own SPIFFE ID, and its workload, when it was minted. */
  spiffeId: string
  workloadId: string
  issuedAt: number
  expiresAt: number
}

/** The shape check of a stored audience token (a state file or a KV entry may hold anything). */
export function isStoredAudienceToken(v: unknown): v is StoredAudienceToken {
  const t = v as Partial<StoredAudienceToken> | null
  return (
    typeof t === 'object' &&
    t !== null &&
    typeof t.audience === 'string' &&
    typeof t.token === 'string' &&
    typeof t.spiffeId === 'string' &&
    typeof t.workloadId === 'string' &&
    typeof t.issuedAt === 'number' &&
    typeof t.expiresAt === 'number'
  )
}

/** Keeps everything in memory: for tests, and for a Worker isolate without a cache of its own. */
export class MemorySnapshotStore implements SnapshotStore {
  #snapshot: StoredSnapshot | null = null
  #identity: StoredIdentity | null = null
  #audienceTokens: StoredAudienceToken[] = []
  saves = 0
  audienceTokenSaves = 0

  constructor(initial?: { snapshot?: StoredSnapshot; identity?: StoredIdentity; audienceTokens?: StoredAudienceToken[] }) {
    this.#snapshot = initial?.snapshot ?? null
    this.#identity = initial?.identity ?? null
    this.#audienceTokens = initial?.audienceTokens ?? []
  }

  async load(): Promise<StoredSnapshot | null> {
    return this.#snapshot
  }

  async save(etag: string, body: string): Promise<void> {
    this.saves++
    this.#snapshot = { etag, body }
  }

  async loadIdentity(): Promise<StoredIdentity | null> {
    return this.#identity
  }

  async saveIdentity(identity: StoredIdentity | null): Promise<void> {
    this.#identity = identity
  }

  async loadAudienceTokens(): Promise<StoredAudienceToken[]> {
    return this.#audienceTokens
  }

  async saveAudienceTokens(tokens: StoredAudienceToken[]): Promise<void> {
    this.audienceTokenSaves++
    this.#audienceTokens = tokens
  }
}
