import { LruCache } from '../../../mesh/src/identity/lru-cache'
import { parseSpiffeId } from '../../../mesh/src/identity/spiffe'
import type { Snapshot } from '../../../mesh/src/snapshot/types'
import { type BackoffOptions, backoffDelayMs, DEFAULT_BACKOFF, refreshDelayMs } from './backoff'
import {
  AUDIENCE_TOKEN_SAVE_GAP_MS,
  type AudienceEntry,
  audienceEntryOf,
  DEFAULT_MAX_AUDIENCE_TOKENS,
  persistableAudienceTokens,
  usableStoredAudienceTokens,
} from './audience-tokens'
import { ControlClientConfigError, ControlClientError, ControlRequestFailed, ControlUnreachable, IdentityMismatch, IdentityRefused, isRetryable } from './control-errors'
import { createControlHttp, type ControlResponse, type FetchLike } from './control-http'
import { EXPIRY_SAFETY_MS, type HeldToken, heldTokenOf } from './control-identity'
import type { ControlLogger } from './control-logger'
import { parseSnapshot } from './parse-snapshot'
import type { SnapshotStore } from './snapshot-store'

// The control-plane client of the Cloudflare Worker. workerd binds every I/O object (a fetch, its
// AbortSignal, a timer, a stream) to the request that created it and refuses it in any other request
// ("Cannot perform I/O on behalf of a different request"); a promise created by one request and awaited by
// another hangs when the first one ends. The Node client (control-client.ts) is built on exactly those
// things: a stop AbortController, refresh and heartbeat timers, a long poll, shared in-flight promises. So the
// Worker gets its own composition of the same parts (control-http, heldTokenOf, parseSnapshot, the backoff
// rules) where the isolate keeps only PLAIN DATA between requests (snapshot, tokens, endpoint id, due
// times) and every network call is made, and awaited or handed to `waitUntil`, by the request that needs it.

// How old the snapshot may get before a request refreshes it (in the background): a policy change reaches
// a busy Worker within about this long.
export const DEFAULT_WORKER_SYNC_INTERVAL_MS = 1_000
// A request that finds another request of the isolate already fetching the same thing waits for its result
// this long at most (checking every POLL_MS), then tries itself.
const SHARED_WAIT_MS = 5_000
const SHARED_POLL_MS = 20
// Per control API call: the Worker's own request is waiting on some of them.
export const DEFAULT_WORKER_REQUEST_TIMEOUT_MS = 5_000
// A persisted identity with less left than this is not worth adopting in a new isolate.
const MIN_ADOPT_REMAINING_MS = 30_000
// The endpoint's TTL: heartbeats every third of it, so two may be missed. The Worker heartbeats only while it
// gets requests or cron triggers, so a Worker idle for longer than this drops out of its service until the
// next request; a cron trigger every minute keeps it listed.
export const DEFAULT_WORKER_ENDPOINT_TTL_SECONDS = 180

export type WorkerEndpoint = { address: string; port: number; labels?: Record<string, string>; ttlSeconds?: number }

export type WorkerControlOptions = {
  controlUrl: string
  service: string
  /** `wfj_…`. Every isolate joins with it unless the store holds a usable identity: give it enough uses. */
  joinToken: string
  logger: ControlLogger
  labels?: Record<string, string>
  /** The Worker's own public address: registered as an endpoint of its service and kept alive. */
  endpoint?: WorkerEndpoint
  /** Shared by the isolates of a location (Cache API or KV): the last good snapshot, the identity, the audience tokens. */
  store?: SnapshotStore
  fetch?: FetchLike
  now?: () => number
  random?: () => number
  syncIntervalMs?: number
  requestTimeoutMs?: number
  backoff?: Partial<BackoffOptions>
}

/** Plain data, JSON-ready: for logs and tests. */
export type WorkerControlStatus = {
  service: string
  proxyId: string
  snapshot: { revision: number; etag: string; source: 'store' | 'control'; receivedAt: string } | null
  appliedRevision: number
  identity: { spiffeId: string; expiresAt: string } | null
  endpoint: { id: string; lastHeartbeatAt: string } | null
  consecutiveFailures: number
  lastError: { op: string; code: string; message: string } | null
}

export interface WorkerControl {
  readonly proxyId: string
  snapshot(): Snapshot | null
  /**
   * Called at the start of every request (and of every cron run). Loads the stored snapshot in a new isolate;
   * waits for the control API only when there is no snapshot at all; otherwise starts what is due (sync,
   * identity refresh, heartbeat, audience tokens about to expire) in `waitUntil` and returns at once.
   * Never throws: failures are logged and the last good snapshot keeps serving.
   */
  prepare(waitUntil: (work: Promise<unknown>) => void): Promise<void>
  /** A cron trigger: everything that is due, awaited. */
  maintain(): Promise<void>
  /** A JWT-SVID for calling `audience`, cached until shortly before expiry. */
  tokenFor(audience: string): Promise<string>
  /**
   * The FilterChain modules (sha256) the Worker's bundle lacks for its current snapshot; sent with every config
   * poll as `Weft-Missing-Filters`, so `GET /v1/proxies` shows the Worker is out of date.
   */
  reportMissingFilters(digests: string[]): void
  /** The workload token for the control API (as `authed` calls use); waits for the network only when there is none. */
  controlToken(): Promise<string>
  /** After the control API refused `token` with 401: forgets it (if still held), so the next controlToken() obtains another. */
  discardControlToken(token: string): void
  status(): WorkerControlStatus
}

type Snap = { snapshot: Snapshot; etag: string; source: 'store' | 'control'; receivedAt: number }

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
const iso = (t: number) => new Date(t).toISOString()

/**
 * @example
 * const control = createWorkerControl({ controlUrl: env.WEFT_URL, service: 'edge', joinToken, logger, store })
 * export default { async fetch(req, env, ctx) { await control.prepare((p) => ctx.waitUntil(p)); … } }
 * @throws ControlClientConfigError when the options do not make sense.
 */
export function createWorkerControl(options: WorkerControlOptions): WorkerControl {
  const { service, logger, store } = options
  if (!options.joinToken?.startsWith('wfj_')) throw new ControlClientConfigError('createWorkerControl: joinToken must start with wfj_')
  let base: URL
  try {
    base = new URL(options.controlUrl)
  } catch {
    throw new ControlClientConfigError(`createWorkerControl: controlUrl must be an http(s) URL, got ${JSON.stringify(options.controlUrl)}`)
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new ControlClientConfigError('createWorkerControl: controlUrl must be an http(s) URL')
  const controlUrl = options.controlUrl.replace(/\/+$/, '')
  const now = options.now ?? Date.now
  const random = options.random ?? Math.random
  const backoff: BackoffOptions = { ...DEFAULT_BACKOFF, ...options.backoff }
  const syncIntervalMs = options.syncIntervalMs ?? DEFAULT_WORKER_SYNC_INTERVAL_MS
  const timeoutMs = options.requestTimeoutMs ?? DEFAULT_WORKER_REQUEST_TIMEOUT_MS
  // Each call makes its AbortController and timer in the calling request and clears them before returning.
  const http = createControlHttp({ baseUrl: controlUrl, fetch: options.fetch ?? ((input, init) => fetch(input, init)), now })
  const proxyId = crypto.randomUUID()
  const labelHeader = Object.entries(options.labels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',')
  const proxyHeaders: Record<string, string> = { 'weft-proxy-id': proxyId, 'weft-proxy-runtime': 'workers', ...(labelHeader ? { 'weft-proxy-labels': labelHeader } : {}) }
  const endpointTtl = options.endpoint?.ttlSeconds ?? DEFAULT_WORKER_ENDPOINT_TTL_SECONDS

  // ---- the isolate's state: plain data only ----
  let joinToken: string | null = options.joinToken
  let held: HeldToken | null = null
  let refreshAt = 0
  let snap: Snap | null = null
  let applied = 0
  let loaded = false
  let nextSyncAt = 0
  let failures = 0
  let endpoint: { id: string; lastHeartbeatAt: number } | null = null
  let nextBeatAt = 0
  let lastError: WorkerControlStatus['lastError'] = null
  const audience = new LruCache<string, AudienceEntry>(DEFAULT_MAX_AUDIENCE_TOKENS)
  // What some request of the isolate is fetching right now, with when it started: a request that needs the
  // same thing waits for the data to appear instead of awaiting the other request's promise.
  const busy = new Map<string, number>()
  const failed = new Map<string, unknown>()
  // Audiences whose cached token is nearly due: the next request re-mints them in its waitUntil.
  const dueAudiences = new Set<string>()
  // A token was minted since the audience tokens were last saved: the next request saves them in its waitUntil
  // (a new isolate, even during an outage of the control API, then calls out with them).
  let audienceTokensDirty = false
  let nextAudienceSaveAt = 0

  function report(op: string, err: unknown): void {
    const e = err as { code?: string; message?: string }
    lastError = { op, code: e?.code ?? 'ERR_UNKNOWN', message: e?.message ?? String(err) }
  }

  /**
   * Runs `work` unless another request of this isolate is already running it; then polls (with its own
   * timers) until that one finished, and answers from the shared state via `read`. A flag older than
   * SHARED_WAIT_MS belongs to a request that was cancelled mid-way and is ignored.
   */
  async function shared<T>(key: string, work: () => Promise<T>, read: () => T | undefined): Promise<T> {
    const started = busy.get(key)
    if (started !== undefined && now() - started < SHARED_WAIT_MS) {
      while (busy.get(key) === started && now() - started < SHARED_WAIT_MS) await sleep(SHARED_POLL_MS)
      if (busy.get(key) !== started) {
        // It finished: its result, or its error (a control API that is down is not asked again at once).
        const value = read()
        if (value !== undefined) return value
        if (failed.has(key)) throw failed.get(key)
      }
    }
    const mine = now()
    busy.set(key, mine)
    try {
      const value = await work()
      failed.delete(key)
      return value
    } catch (err) {
      failed.set(key, err)
      throw err
    } finally {
      if (busy.get(key) === mine) busy.delete(key)
    }
  }

  // ---- identity ----
  function adopt(h: HeldToken): void {
    held = h
    refreshAt = h.issuedAt + refreshDelayMs(h.lifetimeMs, random)
  }

  const validToken = () => (held && now() < held.expiresAt - EXPIRY_SAFETY_MS ? held.token : undefined)

  // Sent with this isolate's join exchanges: a retry after a lost answer gets the same workload back instead of
  // spending another use of the join token (control-identity.ts says more).
  let joinKey = `join-${crypto.randomUUID()}`

  async function obtainIdentity(): Promise<string> {
    const current = validToken()
    const bearer = current ?? joinToken
    if (!bearer) throw new IdentityRefused('no identity and no join token left to obtain one', { status: 401 })
    const sentAt = now()
    let res: ControlResponse
    try {
      res = await http({ method: 'POST', path: '/v1/identity/token', bearer, headers: current ? undefined : { 'idempotency-key': joinKey }, timeoutMs })
    } catch (err) {
      if (current && err instanceof IdentityRefused && joinToken) {
        // The refresh was refused (workload revoked?): join again once, as a new exchange.
        held = null
        joinKey = `join-${crypto.randomUUID()}`
        return obtainIdentity()
      }
      if (!current && !isRetryable(err)) {
        joinToken = null
        logger.error({ err: (err as Error).message }, 'the join token was refused: the Worker cannot obtain an identity; deploy it with a new WEFT_JOIN_TOKEN')
      }
      throw err
    }
    const h = heldTokenOf(res.text, sentAt)
    let issuedFor: string | undefined
    try {
      issuedFor = parseSpiffeId(h.spiffeId).service
    } catch {
      // reported below
    }
    if (issuedFor !== service) throw new IdentityMismatch(`the control API issued ${h.spiffeId}, but this Worker is for service "${service}": is WEFT_JOIN_TOKEN for another service?`)
    adopt(h)
    logger.info({ spiffeId: h.spiffeId, expiresAt: iso(h.expiresAt), source: current ? 'refresh' : 'join-token' }, current ? 'identity refreshed' : 'joined the mesh')
    if (store?.saveIdentity) {
      await store
        .saveIdentity({ controlUrl, service, token: h.token, spiffeId: h.spiffeId, workloadId: h.workloadId, issuedAt: h.issuedAt, expiresAt: h.expiresAt })
        .catch((err) => report('persist', err))
    }
    return h.token
  }

  /** A valid control-API token; waits for the network only when there is none. */
  function identityToken(): Promise<string> {
    const token = validToken()
    if (token) return Promise.resolve(token)
    return shared('identity', obtainIdentity, validToken)
  }

  /** A control-API call with the workload token; after a 401 the identity is refreshed and it is sent once more. */
  async function authed(req: { method: 'GET' | 'POST'; path: string; json?: unknown; headers?: Record<string, string> }): Promise<ControlResponse> {
    const token = await identityToken()
    try {
      return await http({ ...req, bearer: token, timeoutMs })
    } catch (err) {
      if (!(err instanceof IdentityRefused)) throw err
      if (held?.token === token) held = null
      return http({ ...req, bearer: await identityToken(), timeoutMs })
    }
  }

  // ---- snapshot ----
  async function loadStored(): Promise<true> {
    if (loaded || !store) {
      loaded = true
      return true
    }
    try {
      // Unreadable audience tokens cost only outbound calls during an outage, never the snapshot.
      const tokensLoaded = (store.loadAudienceTokens?.() ?? Promise.resolve([])).catch((err) => {
        report('load', err)
        logger.warn({ err: String(err) }, 'the cached audience tokens could not be read; starting without them')
        return []
      })
      const [stored, identity, audienceTokens] = await Promise.all([store.load(), store.loadIdentity?.() ?? null, tokensLoaded])
      if (stored && !snap) {
        const snapshot = parseSnapshot(stored.body, service)
        snap = { snapshot, etag: stored.etag, source: 'store', receivedAt: now() }
        applied = snapshot.revision
        logger.info({ revision: snapshot.revision }, 'serving the cached snapshot')
      }
      if (identity && !held && identity.service === service && identity.controlUrl === controlUrl && identity.expiresAt - now() >= MIN_ADOPT_REMAINING_MS) {
        adopt({ ...identity, audience: '', lifetimeMs: identity.expiresAt - identity.issuedAt })
      }
      if (audienceTokens.length) {
        // Only tokens minted for the stored identity of this service and control API (subject and workload).
        const owner = identity && identity.service === service && identity.controlUrl === controlUrl ? identity : null
        const { usable, discarded } = usableStoredAudienceTokens(audienceTokens, owner, now(), DEFAULT_MAX_AUDIENCE_TOKENS)
        for (const h of usable) if (!audience.peek(h.audience)) audience.set(h.audience, audienceEntryOf(h))
        logger.info({ loaded: usable.length, discarded }, 'using the cached audience tokens')
      }
    } catch (err) {
      report('load', err)
      logger.warn({ err: String(err) }, 'the cached snapshot could not be used; waiting for the control API')
    }
    loaded = true
    return true
  }

  // Plain data, like everything kept between requests: the digests checkFilters found missing.
  let missingFilters: string[] = []

  async function sync(): Promise<boolean> {
    const etag = snap?.etag
    let res: ControlResponse
    try {
      res = await authed({
        method: 'GET',
        path: `/v1/proxy/config?service=${encodeURIComponent(service)}&wait=0`,
        headers: {
          ...proxyHeaders,
          'weft-applied-revision': String(applied),
          ...(missingFilters.length ? { 'weft-missing-filters': missingFilters.join(',') } : {}),
          ...(etag ? { 'if-none-match': etag } : {}),
        },
      })
    } catch (err) {
      failures++
      const retryAfter = err instanceof ControlRequestFailed ? (err.retryAfterMs ?? 0) : 0
      nextSyncAt = now() + Math.max(syncIntervalMs, backoffDelayMs(failures - 1, backoff, random), retryAfter)
      report('poll', err)
      logger[failures === 1 ? 'warn' : 'debug']({ err: (err as Error).message, failures }, 'config sync failed; serving the last good snapshot')
      throw err
    }
    if (failures > 0) logger.info({ after: failures }, 'the control API answers again')
    failures = 0
    nextSyncAt = now() + syncIntervalMs
    if (res.status === 304) return false
    const newEtag = res.headers.get('etag') ?? ''
    const snapshot = parseSnapshot(res.text, service)
    // The core reads snapshot() per request: from here on every request uses it, so it is applied.
    snap = { snapshot, etag: newEtag, source: 'control', receivedAt: now() }
    applied = snapshot.revision
    if (store) await store.save(newEtag, res.text).catch((err) => report('persist', err))
    return true
  }

  const sharedSync = () => shared('sync', sync, () => (snap ? false : undefined))

  // ---- endpoint ----
  async function beat(): Promise<void> {
    const ep = options.endpoint!
    const path = `/v1/services/${encodeURIComponent(service)}/endpoints`
    nextBeatAt = now() + (endpointTtl * 1000) / 3
    try {
      if (endpoint) {
        try {
          await authed({ method: 'POST', path: `${path}/${endpoint.id}/heartbeat` })
          endpoint = { ...endpoint, lastHeartbeatAt: now() }
          return
        } catch (err) {
          if (!(err instanceof ControlRequestFailed && err.status === 404)) throw err
          endpoint = null // deleted meanwhile: register again
        }
      }
      // Idempotent per address and port: every isolate of the Worker renews the same endpoint.
      const res = await authed({ method: 'POST', path, json: { address: ep.address, port: ep.port, labels: ep.labels ?? {}, ttlSeconds: endpointTtl } })
      const body = JSON.parse(res.text) as { id: string }
      endpoint = { id: body.id, lastHeartbeatAt: now() }
      logger.info({ endpointId: body.id, address: `${ep.address}:${ep.port}` }, 'endpoint registered')
    } catch (err) {
      nextBeatAt = now() + Math.min(backoffDelayMs(0, backoff, random), (endpointTtl * 1000) / 3)
      report('heartbeat', err)
      logger.warn({ err: (err as Error).message }, 'endpoint heartbeat failed')
      throw err
    }
  }

  // ---- audience tokens ----
  async function mint(aud: string): Promise<string> {
    const sentAt = now()
    const res = await authed({ method: 'POST', path: '/v1/identity/token', json: { audience: aud } })
    const h = heldTokenOf(res.text, sentAt)
    audience.set(aud, audienceEntryOf(h))
    audienceTokensDirty = true
    return h.token
  }

  const usableToken = (aud: string) => {
    const e = audience.get(aud)
    if (!e || now() >= e.usableUntil) return undefined
    if (now() >= e.refreshAheadAt) dueAudiences.add(aud)
    return e.held.token
  }

  /** Everything that is due, as separate pieces of work (each caught and logged by itself). */
  function dueWork(): Promise<unknown>[] {
    const t = now()
    const work: Promise<unknown>[] = []
    if (snap && t >= nextSyncAt && !busy.has('sync')) {
      nextSyncAt = t + syncIntervalMs
      work.push(sharedSync())
    }
    if (held && t >= refreshAt && !busy.has('identity')) {
      refreshAt = t + backoffDelayMs(0, backoff, random)
      work.push(shared('identity', obtainIdentity, () => undefined))
    }
    if (options.endpoint && t >= nextBeatAt && !busy.has('endpoint')) work.push(shared('endpoint', beat, () => undefined))
    if (audienceTokensDirty && store?.saveAudienceTokens && t >= nextAudienceSaveAt && !busy.has('aud-save')) {
      audienceTokensDirty = false
      nextAudienceSaveAt = t + AUDIENCE_TOKEN_SAVE_GAP_MS
      const save = store.saveAudienceTokens.bind(store)
      const saveTokens = async () => {
        try {
          await save(persistableAudienceTokens(audience.entries(), now()))
        } catch (err) {
          audienceTokensDirty = true // a later request tries again
          report('persist', err)
          throw err
        }
      }
      work.push(shared('aud-save', saveTokens, () => undefined))
    }
    for (const aud of dueAudiences) {
      dueAudiences.delete(aud)
      if (!busy.has(`aud:${aud}`)) work.push(shared(`aud:${aud}`, () => mint(aud), () => undefined))
    }
    return work.map((p) => p.catch(() => {}))
  }

  return {
    proxyId,
    snapshot: () => snap?.snapshot ?? null,

    async prepare(waitUntil) {
      if (!loaded) await shared('load', loadStored, () => (loaded ? true : undefined)).catch(() => {})
      if (!snap && now() >= nextSyncAt) {
        // Nothing to serve from: this request waits for the control API (the core answers 503 if it fails).
        // After a failure, requests within the backoff answer at once instead of each waiting for a timeout.
        await sharedSync().catch(() => {})
      }
      for (const work of dueWork()) waitUntil(work)
    },

    async maintain() {
      if (!loaded) await loadStored()
      if (!snap && now() >= nextSyncAt) await sharedSync().catch(() => {})
      await Promise.all(dueWork())
    },

    async tokenFor(aud) {
      const token = usableToken(aud)
      if (token) return token
      try {
        parseSpiffeId(aud)
      } catch (err) {
        throw new ControlClientConfigError(`tokenFor: ${JSON.stringify(aud)} is not a SPIFFE ID`, { cause: err })
      }
      try {
        return await shared(`aud:${aud}`, () => mint(aud), () => usableToken(aud))
      } catch (err) {
        report('mint', err)
        throw err instanceof ControlClientError ? err : new ControlUnreachable(`minting a token for ${aud} failed: ${String(err)}`, { cause: err })
      }
    },

    controlToken: identityToken,

    discardControlToken(token) {
      if (held?.token === token) held = null
    },

    reportMissingFilters(digests) {
      const next = [...new Set(digests)].sort()
      // A change is news for the control API: poll again on the next request rather than at the next interval.
      if (next.join() !== missingFilters.join()) nextSyncAt = 0
      missingFilters = next
    },

    status() {
      return {
        service,
        proxyId,
        snapshot: snap ? { revision: snap.snapshot.revision, etag: snap.etag, source: snap.source, receivedAt: iso(snap.receivedAt) } : null,
        appliedRevision: applied,
        identity: held ? { spiffeId: held.spiffeId, expiresAt: iso(held.expiresAt) } : null,
        endpoint: endpoint ? { id: endpoint.id, lastHeartbeatAt: iso(endpoint.lastHeartbeatAt) } : null,
        consecutiveFailures: failures,
        lastError,
      }
    },
  }
}
