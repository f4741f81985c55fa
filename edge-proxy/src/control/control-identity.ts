import { decodeClaims, splitCompactJws } from '../../../mesh/src/identity/compact-jws'
import { parseSpiffeId } from '../../../mesh/src/identity/spiffe'
import { Backoff, type BackoffOptions, refreshDelayMs } from './backoff'
import { ControlClientError, ControlClientStopped, IdentityMismatch, IdentityRefused, isRetryable } from './control-errors'
import type { ControlHttp } from './control-http'
import type { ControlLogger } from './control-logger'
import type { SnapshotStore, StoredIdentity } from './snapshot-store'

/** A JWT-SVID as the client holds it; times on the proxy's clock, in ms since the epoch. */
export type HeldToken = {
  token: string
  spiffeId: string
  workloadId: string
  audience: string
  /** When the request that obtained it was sent (so the lifetime is never overestimated). */
  issuedAt: number
  /** issuedAt + (exp − iat): judged on the proxy's clock, so skew between the clocks does not matter. */
  expiresAt: number
  lifetimeMs: number
}

export type IdentitySource = 'join-token' | 'refresh' | 'store'

// A token this close to its expiry is not sent any more: it could expire on the way.
export const EXPIRY_SAFETY_MS = 5_000
// A persisted identity with less left than this is not worth adopting after a restart.
const MIN_ADOPT_REMAINING_MS = 30_000

type TokenResponse = { token?: unknown; spiffeId?: unknown; workloadId?: unknown; audience?: unknown }

/**
 * Reads a POST /v1/identity/token answer. The lifetime comes from the token's own `exp − iat` (the
 * control API's clock on both sides), counted from when the request was sent on the proxy's clock.
 */
export function heldTokenOf(text: string, sentAt: number): HeldToken {
  let body: TokenResponse
  try {
    body = JSON.parse(text) as TokenResponse
  } catch (err) {
    throw new ControlClientError('the identity answer is not JSON', { cause: err })
  }
  if (typeof body.token !== 'string' || typeof body.spiffeId !== 'string' || typeof body.workloadId !== 'string' || typeof body.audience !== 'string') {
    throw new ControlClientError('the identity answer lacks token, spiffeId, workloadId or audience')
  }
  let claims: Record<string, unknown>
  try {
    claims = decodeClaims(splitCompactJws(body.token)[1])
  } catch (err) {
    throw new ControlClientError('the issued token is not a JWT', { cause: err })
  }
  const { exp, iat } = claims
  if (typeof exp !== 'number' || typeof iat !== 'number' || exp <= iat) throw new ControlClientError('the issued token has no usable iat/exp')
  const lifetimeMs = (exp - iat) * 1000
  return { token: body.token, spiffeId: body.spiffeId, workloadId: body.workloadId, audience: body.audience, issuedAt: sentAt, expiresAt: sentAt + lifetimeMs, lifetimeMs }
}

export type ControlIdentityOptions = {
  http: ControlHttp
  controlUrl: string
  service: string
  joinToken: string | null
  store: SnapshotStore | undefined
  logger: ControlLogger
  now: () => number
  random: () => number
  backoff: BackoffOptions
  requestTimeoutMs: number
  /** Aborted when the client stops. */
  signal: AbortSignal
  report: (op: 'bootstrap' | 'refresh' | 'persist', err: unknown) => void
}

/**
 * The proxy's own identity towards the control API. It exchanges the join token once (and then forgets
 * it), refreshes at about 2/3 of the lifetime with jitter, retries a failed refresh with backoff while
 * the token is still valid, and shares one request among all concurrent callers.
 */
export class ControlIdentity {
  readonly #o: ControlIdentityOptions
  #joinToken: string | null
  #current: HeldToken | null = null
  #source: IdentitySource | null = null
  #refreshAt = 0
  #inflight: Promise<HeldToken> | null = null
  #refusal: ControlClientError | null = null
  #scheduling = false
  #timer: ReturnType<typeof setTimeout> | undefined
  readonly #refreshBackoff: Backoff
  readonly #writes = new Set<Promise<unknown>>()
  // Sent with every join exchange of this process: when an answer is lost (timeout, reset) after the control
  // API committed the exchange, the retry gets the same workload back instead of spending another use of the
  // join token — with a single-use token, that retry would otherwise be refused for good.
  #joinKey = `join-${crypto.randomUUID()}`
  /** Join-token exchanges sent by this process: at most one succeeds, by construction. */
  exchanges = 0
  refreshes = 0

  constructor(options: ControlIdentityOptions) {
    this.#o = options
    this.#joinToken = options.joinToken
    this.#refreshBackoff = new Backoff(options.backoff, options.random)
  }

  get current(): HeldToken | null {
    return this.#current
  }

  get source(): IdentitySource | null {
    return this.#source
  }

  get refreshAt(): number | null {
    return this.#current ? this.#refreshAt : null
  }

  /** Set when the control API refused the identity for good and nothing is left to try. */
  get refusal(): ControlClientError | null {
    return this.#current ? null : this.#refusal
  }

  /** Adopts the persisted identity when it belongs to this service and control API (renewing it first when it expired). */
  async loadPersisted(): Promise<boolean> {
    const store = this.#o.store
    if (!store?.loadIdentity) return false
    let stored: StoredIdentity | null
    try {
      stored = await store.loadIdentity()
    } catch (err) {
      this.#o.logger.warn({ err: String(err) }, 'the persisted identity could not be read; starting without it')
      return false
    }
    if (!stored || stored.service !== this.#o.service || stored.controlUrl !== this.#o.controlUrl) return false
    const lifetimeMs = stored.expiresAt - stored.issuedAt
    this.#adopt({ ...stored, audience: '', lifetimeMs }, 'store')
    if (stored.expiresAt - this.#o.now() < MIN_ADOPT_REMAINING_MS) {
      // Expired (or about to) while the proxy was down: still worth keeping, because the control API renews an
      // expired token within its grace (WEFT_RENEWAL_GRACE_HOURS), so a spent join token does not strand the proxy.
      this.#refreshAt = this.#o.now()
      if (this.#scheduling) this.#schedule(0)
      this.#o.logger.info({ spiffeId: stored.spiffeId, workloadId: stored.workloadId, expiresAt: new Date(stored.expiresAt).toISOString() }, 'the persisted identity has expired: renewing it')
      return true
    }
    this.#o.logger.info({ spiffeId: stored.spiffeId, workloadId: stored.workloadId, expiresAt: new Date(stored.expiresAt).toISOString() }, 'resuming with the persisted identity')
    return true
  }

  /** Starts refreshing on a timer (the sidecar); without it, refreshes happen lazily in `token()`. */
  startScheduling(): void {
    this.#scheduling = true
    if (this.#current) this.#schedule(Math.max(0, this.#refreshAt - this.#o.now()))
  }

  stop(): void {
    this.#scheduling = false
    clearTimeout(this.#timer)
  }

  /** A valid control-API token, bootstrapping or refreshing first when needed. */
  async token(): Promise<string> {
    const cur = this.#current
    const now = this.#o.now()
    if (cur && now < cur.expiresAt - EXPIRY_SAFETY_MS) {
      // No timer (the Worker) or a timer that did not fire (a suspended process): refresh in the background.
      if (!this.#scheduling && now >= this.#refreshAt && !this.#inflight) this.#acquire().catch(() => {})
      return cur.token
    }
    return (await this.#acquire()).token
  }

  /** Refreshes now (joining first when there is no identity yet). Concurrent calls share one request. */
  refresh(): Promise<HeldToken> {
    return this.#acquire()
  }

  /** The control API answered 401 to `token`: get a new one unless that already happened meanwhile. */
  async afterRefusal(token: string): Promise<string> {
    if (this.#current && this.#current.token !== token) return this.#current.token
    return (await this.#acquire()).token
  }

  #acquire(): Promise<HeldToken> {
    if (this.#o.signal.aborted) return Promise.reject(new ControlClientStopped())
    this.#inflight ??= this.#obtain().finally(() => {
      this.#inflight = null
    })
    return this.#inflight
  }

  async #obtain(): Promise<HeldToken> {
    const cur = this.#current
    if (cur) {
      try {
        return await this.#request(cur.token, 'refresh')
      } catch (err) {
        if (!(err instanceof IdentityRefused)) {
          this.#o.report('refresh', err)
          throw err
        }
        this.#current = null
        this.#source = null
        this.#refusal = err
        // A join after a refused refresh is a new exchange, not a retry of an earlier one.
        this.#joinKey = `join-${crypto.randomUUID()}`
        this.#persist(null)
        this.#o.report('refresh', err)
        this.#o.logger.error(
          { err: err.message, workloadId: cur.workloadId, joinTokenLeft: this.#joinToken !== null },
          this.#joinToken !== null
            ? 'the control API refused to refresh the identity; joining again with the join token'
            : 'the control API refused to refresh the identity and the join token is spent: the proxy keeps its last snapshot but gets no updates until it is restarted with a new join token',
        )
        if (this.#joinToken === null) throw err
      }
    }
    if (this.#joinToken === null) {
      throw this.#refusal ?? new IdentityRefused('no identity and no join token to obtain one', { status: 401 })
    }
    try {
      return await this.#request(this.#joinToken, 'join-token')
    } catch (err) {
      // The network or the server failed before the exchange could commit: the token may be tried again.
      // Any other answer means it was judged, so it is never sent again.
      if (err instanceof IdentityMismatch) {
        this.#o.logger.error({ err: err.message }, 'the identity is for another service: the proxy cannot watch its own')
      } else if (!isRetryable(err) && !(err instanceof ControlClientStopped)) {
        this.#joinToken = null
        if (err instanceof ControlClientError) this.#refusal = err
        this.#o.logger.error({ err: (err as Error).message }, 'the join token was refused: the proxy cannot obtain an identity')
      }
      this.#o.report('bootstrap', err)
      throw err
    }
  }

  async #request(bearer: string, source: 'join-token' | 'refresh'): Promise<HeldToken> {
    const sentAt = this.#o.now()
    if (source === 'join-token') this.exchanges++
    else this.refreshes++
    const headers = source === 'join-token' ? { 'idempotency-key': this.#joinKey } : undefined
    const res = await this.#o.http({ method: 'POST', path: '/v1/identity/token', bearer, headers, signal: this.#o.signal, timeoutMs: this.#o.requestTimeoutMs })
    if (source === 'join-token') this.#joinToken = null // exchanged: never again, whatever follows
    const held = heldTokenOf(res.text, sentAt)
    let service: string | undefined
    try {
      service = parseSpiffeId(held.spiffeId).service
    } catch {
      // reported below
    }
    if (service !== this.#o.service) {
      const err = new IdentityMismatch(`the control API issued ${held.spiffeId}, but this proxy is for service "${this.#o.service}": is the join token for another service?`)
      this.#refusal = err
      this.#current = null
      throw err
    }
    this.#adopt(held, source)
    this.#refusal = null
    this.#refreshBackoff.reset()
    this.#o.logger.info(
      { spiffeId: held.spiffeId, workloadId: held.workloadId, expiresAt: new Date(held.expiresAt).toISOString(), refreshAt: new Date(this.#refreshAt).toISOString() },
      source === 'join-token' ? 'joined the mesh' : 'identity refreshed',
    )
    this.#persist({ controlUrl: this.#o.controlUrl, service: this.#o.service, token: held.token, spiffeId: held.spiffeId, workloadId: held.workloadId, issuedAt: held.issuedAt, expiresAt: held.expiresAt })
    return held
  }

  #adopt(held: HeldToken, source: IdentitySource): void {
    this.#current = held
    this.#source = source
    this.#refreshAt = held.issuedAt + refreshDelayMs(held.lifetimeMs, this.#o.random)
    if (this.#scheduling) this.#schedule(Math.max(0, this.#refreshAt - this.#o.now()))
  }

  #schedule(delayMs: number): void {
    clearTimeout(this.#timer)
    if (!this.#scheduling) return
    this.#timer = setTimeout(() => void this.#scheduledRefresh(), delayMs)
  }

  async #scheduledRefresh(): Promise<void> {
    try {
      await this.#acquire()
    } catch (err) {
      if (!this.#scheduling || !isRetryable(err)) return
      const cur = this.#current
      const left = cur ? cur.expiresAt - EXPIRY_SAFETY_MS - this.#o.now() : 0
      // Retry while the token can still refresh itself; after that, `token()` tries on demand.
      if (cur && left > 0) {
        const delay = Math.min(this.#refreshBackoff.next(), left)
        this.#refreshAt = this.#o.now() + delay
        this.#schedule(delay)
      }
    }
  }

  /** Resolves when every identity write started so far has finished. */
  async settled(): Promise<void> {
    await Promise.all([...this.#writes])
  }

  // Not awaited by the caller: a slow disk must not delay the token. `settled()` waits for it.
  #persist(identity: StoredIdentity | null): void {
    const store = this.#o.store
    if (!store?.saveIdentity) return
    const write = store
      .saveIdentity(identity)
      .catch((err) => this.#o.report('persist', err))
      .finally(() => this.#writes.delete(write))
    this.#writes.add(write)
  }
}
