import type { Snapshot } from '../../../mesh/src/snapshot/types'
import { Backoff, type BackoffOptions } from './backoff'
import { ControlClientStopped, ControlRequestFailed, IdentityRefused, InvalidSnapshot } from './control-errors'
import type { ControlHttp, ControlResponse } from './control-http'
import type { ControlIdentity } from './control-identity'
import type { ControlLogger } from './control-logger'
import { parseSnapshot } from './parse-snapshot'
import { sleep as sleepUnlessAborted } from './sleep'
import type { SnapshotStore } from './snapshot-store'

export type SnapshotSource = 'store' | 'control'
export type SnapshotInfo = { etag: string; revision: number; source: SnapshotSource; receivedAt: number }
/** Called with each new snapshot; a rejection means "not applied" and withholds the acknowledgement. */
export type SnapshotListener = (snapshot: Snapshot, info: SnapshotInfo) => void | Promise<void>

// Held well under the control API's cap (55 s) and common 60 s idle timeouts of proxies and load balancers.
export const DEFAULT_POLL_WAIT_SECONDS = 30
// A long poll gets this much longer than its wait before the client gives up on it: the answer to a
// wait=30 poll is due after 30 s, and a connection silently dropped by the network must not hang forever.
const POLL_GRACE_MS = 15_000

export type ConfigWatchOptions = {
  http: ControlHttp
  identity: ControlIdentity
  service: string
  /** The acknowledgement headers sent with every poll, except the applied revision. */
  proxyHeaders: Record<string, string>
  store: SnapshotStore | undefined
  logger: ControlLogger
  now: () => number
  random: () => number
  backoff: BackoffOptions
  waitSeconds: number
  signal: AbortSignal
  report: (op: 'poll' | 'apply' | 'persist' | 'load', err: unknown) => void
}

/**
 * Watches the service's snapshot: long-polls GET /v1/proxy/config with If-None-Match, validates what
 * arrives, hands it to the listeners, acknowledges the applied revision on the next poll, and persists
 * it. When the control API is unreachable it keeps the last good snapshot and retries with capped,
 * jittered exponential backoff.
 */
export class ConfigWatch {
  readonly #o: ConfigWatchOptions
  readonly #listeners = new Set<SnapshotListener>()
  readonly #backoff: Backoff
  #snapshot: Snapshot | null = null
  #info: SnapshotInfo | null = null
  #applied = 0
  // The ETag of a snapshot that failed validation: polled against, so that the same bad bytes are not
  // fetched in a loop; the next revision replaces them.
  #rejectedEtag: string | null = null
  #lastPollAt: number | null = null
  #lastChangeAt: number | null = null
  #failures = 0
  #waiters = new Set<(s: Snapshot) => void>()
  #writes = new Set<Promise<unknown>>()
  polls = 0

  constructor(options: ConfigWatchOptions) {
    this.#o = options
    this.#backoff = new Backoff(options.backoff, options.random)
  }

  snapshot(): Snapshot | null {
    return this.#snapshot
  }

  info(): SnapshotInfo | null {
    return this.#info
  }

  get appliedRevision(): number {
    return this.#applied
  }

  get lastPollAt(): number | null {
    return this.#lastPollAt
  }

  get lastChangeAt(): number | null {
    return this.#lastChangeAt
  }

  get consecutiveFailures(): number {
    return this.#failures
  }

  onSnapshot(listener: SnapshotListener): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** Resolves with the current snapshot, or the first one to arrive once its listeners have run. */
  waitForSnapshot(signal?: AbortSignal): Promise<Snapshot> {
    if (this.#snapshot) return Promise.resolve(this.#snapshot)
    return new Promise((resolve, reject) => {
      const stop = () => {
        this.#waiters.delete(done)
        reject(new ControlClientStopped('stopped waiting for a snapshot'))
      }
      const done = (s: Snapshot) => {
        signal?.removeEventListener('abort', stop)
        this.#o.signal.removeEventListener('abort', stop)
        resolve(s)
      }
      if (signal?.aborted || this.#o.signal.aborted) return stop()
      this.#waiters.add(done)
      signal?.addEventListener('abort', stop, { once: true })
      this.#o.signal.addEventListener('abort', stop, { once: true })
    })
  }

  /** Publishes the persisted snapshot, if there is a readable one for this service. */
  async loadPersisted(): Promise<boolean> {
    if (!this.#o.store) return false
    try {
      const stored = await this.#o.store.load()
      if (!stored) return false
      const snapshot = parseSnapshot(stored.body, this.#o.service)
      await this.#publish(snapshot, stored.etag, 'store')
      this.#o.logger.info({ revision: snapshot.revision, etag: stored.etag }, 'serving the persisted snapshot')
      return true
    } catch (err) {
      this.#o.report('load', err)
      this.#o.logger.warn({ err: String(err) }, 'the persisted snapshot could not be used; waiting for the control API')
      return false
    }
  }

  /**
   * One poll. `waitSeconds` 0 answers at once (the Worker, on a request); the loop uses the long poll.
   * @returns true when a new snapshot was applied.
   * @throws the request's error (ControlUnreachable, ControlRequestFailed, IdentityRefused, InvalidSnapshot)
   */
  async pollOnce(waitSeconds: number): Promise<boolean> {
    let token = await this.#o.identity.token()
    let res: ControlResponse
    try {
      res = await this.#get(token, waitSeconds)
    } catch (err) {
      if (!(err instanceof IdentityRefused)) throw err
      // Expired or refused: one refresh (or a join, if the join token was never used), then one retry.
      token = await this.#o.identity.afterRefusal(token)
      res = await this.#get(token, waitSeconds)
    }
    this.#lastPollAt = this.#o.now()
    if (this.#failures > 0) this.#o.logger.info({ after: this.#failures }, 'the control API answers again')
    this.#failures = 0
    this.#backoff.reset()
    if (res.status === 304) return false

    const etag = res.headers.get('etag') ?? ''
    let snapshot: Snapshot
    try {
      snapshot = parseSnapshot(res.text, this.#o.service)
    } catch (err) {
      this.#rejectedEtag = etag || null
      this.#o.logger.error({ err: (err as Error).message, etag }, 'refused a snapshot from the control API; keeping the last good one')
      throw err
    }
    this.#rejectedEtag = null
    if (this.#info && snapshot.revision < this.#info.revision) {
      this.#o.logger.warn({ from: this.#info.revision, to: snapshot.revision }, 'the control API sent an older revision; applying it (it holds the truth)')
    }
    await this.#publish(snapshot, etag, 'control')
    this.#save(etag, res.text)
    return true
  }

  /** Polls until the signal aborts. */
  async run(): Promise<void> {
    const { signal } = this.#o
    while (!signal.aborted) {
      try {
        // The first poll, and the first after a failure, do not wait: an answer at once tells that the
        // control API is reachable (status() says so) and that a persisted snapshot is still current.
        await this.pollOnce(this.#lastPollAt === null || this.#failures > 0 ? 0 : this.#o.waitSeconds)
      } catch (err) {
        if (signal.aborted || err instanceof ControlClientStopped) break
        this.#failures++
        this.#o.report('poll', err)
        const delay = Math.max(this.#backoff.next(), err instanceof ControlRequestFailed ? (err.retryAfterMs ?? 0) : 0)
        const level = this.#failures === 1 || err instanceof InvalidSnapshot ? 'warn' : 'debug'
        this.#o.logger[level]({ err: (err as Error).message, code: (err as { code?: string }).code, failures: this.#failures, retryInMs: delay }, 'config poll failed; serving the last good snapshot')
        await sleepUnlessAborted(delay, signal)
      }
    }
  }

  /** Resolves when every snapshot write started so far has finished. */
  async settled(): Promise<void> {
    await Promise.all([...this.#writes])
  }

  #get(token: string, waitSeconds: number): Promise<ControlResponse> {
    this.polls++
    const etag = this.#rejectedEtag ?? this.#info?.etag
    const query = `service=${encodeURIComponent(this.#o.service)}&wait=${waitSeconds}`
    return this.#o.http({
      method: 'GET',
      path: `/v1/proxy/config?${query}`,
      bearer: token,
      headers: { ...this.#o.proxyHeaders, 'weft-applied-revision': String(this.#applied), ...(etag ? { 'if-none-match': etag } : {}) },
      signal: this.#o.signal,
      timeoutMs: waitSeconds * 1000 + POLL_GRACE_MS,
    })
  }

  async #publish(snapshot: Snapshot, etag: string, source: SnapshotSource): Promise<void> {
    const info: SnapshotInfo = { etag, revision: snapshot.revision, source, receivedAt: this.#o.now() }
    this.#snapshot = snapshot
    this.#info = info
    this.#lastChangeAt = info.receivedAt
    const results = await Promise.allSettled([...this.#listeners].map(async (l) => l(snapshot, info)))
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed.length === 0) {
      this.#applied = snapshot.revision
    } else {
      for (const f of failed) this.#o.report('apply', f.reason)
      this.#o.logger.error({ revision: snapshot.revision, err: String(failed[0]!.reason) }, 'a snapshot listener failed: the revision is not acknowledged as applied')
    }
    for (const w of this.#waiters) w(snapshot)
    this.#waiters.clear()
  }

  #save(etag: string, body: string): void {
    const store = this.#o.store
    if (!store) return
    const write = store
      .save(etag, body)
      .catch((err) => {
        this.#o.report('persist', err)
        this.#o.logger.warn({ err: String(err) }, 'the snapshot could not be persisted')
      })
      .finally(() => this.#writes.delete(write))
    this.#writes.add(write)
  }
}
