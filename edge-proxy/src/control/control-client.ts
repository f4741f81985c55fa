import type { Snapshot } from '../../../mesh/src/snapshot/types'
import { AUDIENCE_TOKEN_SAVE_GAP_MS, AudienceTokens, type AudienceTokenStats, DEFAULT_MAX_AUDIENCE_TOKENS, usableStoredAudienceTokens } from './audience-tokens'
import { type BackoffOptions, DEFAULT_BACKOFF } from './backoff'
import { CoalescedWrite } from './coalesced-write'
import { ConfigWatch, DEFAULT_POLL_WAIT_SECONDS, type SnapshotListener, type SnapshotSource } from './config-watch'
import { ControlClientConfigError, ControlClientStopped, ControlRequestFailed, IdentityRefused } from './control-errors'
import { createControlHttp, type ControlResponse, type FetchLike } from './control-http'
import { ControlIdentity, type HeldToken, heldTokenOf, type IdentitySource } from './control-identity'
import type { ControlLogger } from './control-logger'
import { type EndpointHealth, type EndpointInput, EndpointRegistration, type RegisteredEndpoint } from './endpoint-registration'
import type { SnapshotStore } from './snapshot-store'

// Every request but the long poll: generous for a control API under load, short enough to retry soon.
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000

export type ControlRuntime = 'node' | 'workers'

export type ControlClientOptions = {
  /** The control API's base URL, e.g. `https://weft.example.com` (a path prefix is kept). */
  controlUrl: string
  service: string
  /** `wfj_…`. Exchanged once; optional when the store holds a still-valid identity. */
  joinToken?: string
  runtime: ControlRuntime
  logger: ControlLogger
  /** Defaults to the global `fetch`. */
  fetch?: FetchLike
  store?: SnapshotStore
  /** Sent with every poll for GET /v1/proxies (e.g. `{version: 'v1'}`). */
  labels?: Record<string, string>
  /** A UUID naming this proxy instance; a random one by default. */
  proxyId?: string
  /** Milliseconds since the epoch. */
  now?: () => number
  /** In [0, 1): the jitter of backoffs and refreshes. */
  random?: () => number
  backoff?: Partial<BackoffOptions>
  /** Long-poll wait in seconds (1–55). */
  pollWaitSeconds?: number
  requestTimeoutMs?: number
  /** Audience tokens kept (LRU). */
  maxAudienceTokens?: number
}

export type ControlClientState = 'idle' | 'bootstrapping' | 'ready' | 'degraded' | 'unauthorized' | 'stopped'

export type ControlOp = 'bootstrap' | 'refresh' | 'poll' | 'apply' | 'persist' | 'load' | 'mint' | 'register' | 'heartbeat' | 'deregister'

/** For the admin endpoint (`/config_dump`, `/ready`): JSON-ready, times as ISO strings. */
export type ControlClientStatus = {
  state: ControlClientState
  service: string
  proxyId: string
  runtime: ControlRuntime
  controlUrl: string
  labels: Record<string, string>
  bootstrapped: boolean
  identity: { spiffeId: string; workloadId: string; source: IdentitySource; issuedAt: string; expiresAt: string; refreshAt: string | null } | null
  snapshot: { revision: number; etag: string; source: SnapshotSource; receivedAt: string } | null
  appliedRevision: number
  /** The last poll the control API answered (200 or 304). */
  lastPollAt: string | null
  lastChangeAt: string | null
  consecutiveFailures: number
  lastError: { at: string; op: ControlOp; code: string; message: string; status?: number } | null
  endpoint: { id: string; address: string; port: number; health: EndpointHealth; registeredAt: string; lastHeartbeatAt: string | null } | null
  audienceTokens: AudienceTokenStats
}

export interface ControlClient {
  readonly proxyId: string
  readonly service: string
  /**
   * Loads the persisted identity and snapshot (so `snapshot()` answers before the control API does), then
   * starts the background work: join or refresh, the refresh timer, the long-poll watch. Resolves once
   * the persisted state is loaded; it never waits for the network.
   */
  start(): Promise<void>
  /** Ends every loop and timer and aborts in-flight requests; waits for pending writes to the store. */
  stop(): Promise<void>
  snapshot(): Snapshot | null
  /** Listeners see every later snapshot (register before `start()` to see the persisted one). */
  onSnapshot(listener: SnapshotListener): () => void
  /** @throws ControlClientStopped when the client stops, or `timeoutMs` passes, first. */
  waitForSnapshot(options?: { timeoutMs?: number }): Promise<Snapshot>
  /** One poll outside the loop: `waitSeconds` 0 (default) answers at once (the Worker uses createWorkerControl instead). @returns whether the snapshot changed */
  syncOnce(options?: { waitSeconds?: number }): Promise<boolean>
  /** A valid token for the control API itself. */
  controlToken(): Promise<string>
  /** Refreshes the control-API token now. */
  refreshIdentity(): Promise<void>
  /** A JWT-SVID for calling `audience` (the callee's SPIFFE ID), cached until shortly before expiry. */
  tokenFor(audience: string): Promise<string>
  registerEndpoint(input: EndpointInput): Promise<RegisteredEndpoint>
  /** Heartbeats the health now; `draining` before shutdown lets peers move away first. */
  setEndpointHealth(health: EndpointHealth): Promise<void>
  deregister(): Promise<void>
  status(): ControlClientStatus
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
// The control API's rule for acknowledged labels (control-api/src/distribution/proxy-registry.ts); a
// label outside it would be dropped there silently, so it is refused here, loudly, at start-up.
const LABEL_KEY = /^[A-Za-z0-9][-A-Za-z0-9_./]{0,62}$/
const LABEL_VALUE = /^[-A-Za-z0-9_.]{0,63}$/
const SERVICE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/

function checkOptions(o: ControlClientOptions): void {
  const problems: string[] = []
  let url: URL | null = null
  try {
    url = new URL(o.controlUrl)
  } catch {
    // reported below
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) problems.push(`controlUrl must be an http(s) URL, got ${JSON.stringify(o.controlUrl)}`)
  if (typeof o.service !== 'string' || !SERVICE.test(o.service)) problems.push(`service must be a DNS label, got ${JSON.stringify(o.service)}`)
  if (o.joinToken !== undefined && (typeof o.joinToken !== 'string' || !o.joinToken.startsWith('wfj_'))) problems.push('joinToken must start with wfj_')
  if (o.joinToken === undefined && !o.store?.loadIdentity) problems.push('joinToken is required unless the store can hold an identity')
  if (o.runtime !== 'node' && o.runtime !== 'workers') problems.push(`runtime must be "node" or "workers", got ${JSON.stringify(o.runtime)}`)
  if (!o.logger || typeof o.logger.warn !== 'function') problems.push('logger is required')
  if (o.proxyId !== undefined && !UUID.test(o.proxyId)) problems.push('proxyId must be a UUID')
  for (const [k, v] of Object.entries(o.labels ?? {})) {
    if (!LABEL_KEY.test(k) || typeof v !== 'string' || !LABEL_VALUE.test(v)) problems.push(`label ${JSON.stringify(`${k}=${v}`)} is not a valid label`)
  }
  if (o.pollWaitSeconds !== undefined && (!Number.isInteger(o.pollWaitSeconds) || o.pollWaitSeconds < 1 || o.pollWaitSeconds > 55)) problems.push('pollWaitSeconds must be an integer 1–55')
  if (o.requestTimeoutMs !== undefined && !(o.requestTimeoutMs > 0)) problems.push('requestTimeoutMs must be positive')
  const b = o.backoff
  if (b && ((b.initialMs !== undefined && !(b.initialMs > 0)) || (b.maxMs !== undefined && !(b.maxMs > 0)))) problems.push('backoff times must be positive')
  if (problems.length) throw new ControlClientConfigError(`createControlClient: ${problems.join('; ')}`)
}

const iso = (t: number | null | undefined) => (t === null || t === undefined ? null : new Date(t).toISOString())

/**
 * The proxy's control-plane client, the same in the Node sidecar and the Worker: fetch, WebCrypto-free
 * JSON and timers only; persistence and fetch are injected. See README.md beside this file.
 *
 * @example
 * const client = createControlClient({ controlUrl, service: 'orders', joinToken, runtime: 'node', logger,
 *   store: new FileSnapshotStore(stateDir), labels: { version: 'v1' } })
 * client.onSnapshot((s) => core.apply(s))
 * await client.start()
 * await client.registerEndpoint({ address: '127.0.0.1', port: 15006, labels: { version: 'v1' }, ttlSeconds: 30 })
 * @throws ControlClientConfigError when the options do not make sense (all problems at once).
 */
export function createControlClient(options: ControlClientOptions): ControlClient {
  checkOptions(options)
  const { service, runtime, logger } = options
  const controlUrl = options.controlUrl.replace(/\/+$/, '')
  const now = options.now ?? Date.now
  const random = options.random ?? Math.random
  const backoff: BackoffOptions = { ...DEFAULT_BACKOFF, ...options.backoff }
  const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
  const proxyId = (options.proxyId ?? crypto.randomUUID()).toLowerCase()
  const labels = { ...options.labels }
  const fetchImpl: FetchLike = options.fetch ?? ((input, init) => fetch(input, init))
  const http = createControlHttp({ baseUrl: controlUrl, fetch: fetchImpl, now })
  const stopping = new AbortController()
  const signal = stopping.signal

  let lastError: ControlClientStatus['lastError'] = null
  const reported = new WeakSet<object>()
  function report(op: ControlOp, err: unknown): void {
    if (err instanceof ControlClientStopped) return
    if (typeof err === 'object' && err !== null) {
      if (reported.has(err)) return
      reported.add(err)
    }
    const e = err as { code?: string; message?: string }
    lastError = {
      at: new Date(now()).toISOString(),
      op,
      code: e?.code ?? 'ERR_UNKNOWN',
      message: e?.message ?? String(err),
      ...(err instanceof ControlRequestFailed ? { status: err.status } : {}),
    }
  }

  const identity = new ControlIdentity({
    http,
    controlUrl,
    service,
    joinToken: options.joinToken ?? null,
    store: options.store,
    logger,
    now,
    random,
    backoff,
    requestTimeoutMs,
    signal,
    report,
  })

  /** A control-API request with the workload token; after a 401 the token is refreshed and it is sent once more. */
  async function authed(method: 'GET' | 'POST' | 'DELETE', path: string, json?: unknown, opts: { afterStop?: boolean } = {}): Promise<ControlResponse> {
    let token = await identity.token()
    const send = (bearer: string) => http({ method, path, bearer, json, signal: opts.afterStop ? undefined : signal, timeoutMs: requestTimeoutMs })
    try {
      return await send(token)
    } catch (err) {
      if (!(err instanceof IdentityRefused)) throw err
      token = await identity.afterRefusal(token)
      return send(token)
    }
  }

  const store = options.store
  // So that a sidecar restarted while the control API is down can still call out (see loadPersisted).
  const audienceTokenWrites =
    store?.saveAudienceTokens && store.loadAudienceTokens
      ? new CoalescedWrite({
          write: () => store.saveAudienceTokens!(audienceTokens.persistable()),
          onError: (err) => {
            report('persist', err)
            logger.warn({ err: String(err) }, 'the audience tokens could not be saved')
          },
          now,
          minGapMs: AUDIENCE_TOKEN_SAVE_GAP_MS,
        })
      : null

  const audienceTokens = new AudienceTokens({
    now,
    maxEntries: options.maxAudienceTokens,
    onMinted: () => audienceTokenWrites?.request(),
    async mint(audience): Promise<HeldToken> {
      const sentAt = now()
      try {
        const res = await authed('POST', '/v1/identity/token', { audience })
        return heldTokenOf(res.text, sentAt)
      } catch (err) {
        report('mint', err)
        throw err
      }
    },
  })

  const proxyHeaders: Record<string, string> = { 'weft-proxy-id': proxyId, 'weft-proxy-runtime': runtime }
  const labelHeader = Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',')
  if (labelHeader) proxyHeaders['weft-proxy-labels'] = labelHeader

  const watch = new ConfigWatch({
    http,
    identity,
    service,
    proxyHeaders,
    store: options.store,
    logger,
    now,
    random,
    backoff,
    waitSeconds: options.pollWaitSeconds ?? DEFAULT_POLL_WAIT_SECONDS,
    signal,
    report,
  })

  const endpoint = new EndpointRegistration({
    request: authed,
    service,
    logger,
    now,
    random,
    backoff,
    signal,
    report,
  })

  let started: Promise<void> | null = null
  let watching: Promise<void> | null = null
  let loaded: Promise<void> | null = null
  let syncing: Promise<boolean> | null = null

  // The persisted state, loaded once whichever of start() and syncOnce() comes first.
  function loadPersisted(): Promise<void> {
    loaded ??= (async () => {
      await watch.loadPersisted()
      await identity.loadPersisted()
      await loadAudienceTokens()
    })()
    return loaded
  }

  // After the identity: a token is kept only when it was minted for that identity (subject and workload).
  async function loadAudienceTokens(): Promise<void> {
    if (!audienceTokenWrites) return
    try {
      const stored = await store!.loadAudienceTokens!()
      if (stored.length === 0) return
      const { usable, discarded } = usableStoredAudienceTokens(stored, identity.current, now(), options.maxAudienceTokens ?? DEFAULT_MAX_AUDIENCE_TOKENS)
      audienceTokens.adopt(usable)
      logger.info({ loaded: usable.length, discarded }, 'resuming with the persisted audience tokens')
    } catch (err) {
      report('load', err)
      logger.warn({ err: String(err) }, 'the persisted audience tokens could not be read; starting without them')
    }
  }

  function assertRunning(): void {
    if (signal.aborted) throw new ControlClientStopped()
  }

  return {
    proxyId,
    service,

    start() {
      assertRunning()
      started ??= (async () => {
        await loadPersisted()
        if (signal.aborted) return
        identity.startScheduling()
        watching = watch.run()
        logger.info({ service, proxyId, runtime, controlUrl }, 'control client started')
      })()
      return started
    },

    async stop() {
      if (signal.aborted) return
      stopping.abort()
      identity.stop()
      endpoint.stop()
      await watching
      await Promise.all([watch.settled(), identity.settled(), audienceTokenWrites?.flush()])
      logger.info({ service, proxyId }, 'control client stopped')
    },

    snapshot: () => watch.snapshot(),
    onSnapshot: (listener) => watch.onSnapshot(listener),

    async waitForSnapshot(opts = {}) {
      const ctl = new AbortController()
      const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => ctl.abort(), opts.timeoutMs)
      try {
        return await watch.waitForSnapshot(ctl.signal)
      } catch (err) {
        if (ctl.signal.aborted) throw new ControlClientStopped(`no snapshot within ${opts.timeoutMs} ms`)
        throw err
      } finally {
        clearTimeout(timer)
      }
    },

    async syncOnce(opts = {}) {
      assertRunning()
      // Many requests of one Worker isolate may ask at once: they share one poll.
      syncing ??= (async () => {
        await loadPersisted()
        try {
          return await watch.pollOnce(opts.waitSeconds ?? 0)
        } catch (err) {
          report('poll', err)
          throw err
        }
      })().finally(() => {
        syncing = null
      })
      return syncing
    },

    async controlToken() {
      assertRunning()
      return identity.token()
    },

    async refreshIdentity() {
      assertRunning()
      await identity.refresh()
    },

    async tokenFor(audience) {
      assertRunning()
      return audienceTokens.get(audience)
    },

    async registerEndpoint(input) {
      assertRunning()
      return endpoint.register(input)
    },

    setEndpointHealth: (health) => endpoint.setHealth(health),

    // Allowed after stop(): a sidecar may stop watching first and deregister last, when draining is done.
    deregister: () => endpoint.deregister(),

    status() {
      const held = identity.current
      const info = watch.info()
      const ep = endpoint.status()
      let state: ControlClientState
      if (signal.aborted) state = 'stopped'
      else if (!started) state = 'idle'
      else if (identity.refusal) state = 'unauthorized'
      else if (watch.consecutiveFailures > 0) state = 'degraded'
      else if (!held || watch.lastPollAt === null) state = 'bootstrapping'
      else state = 'ready'
      return {
        state,
        service,
        proxyId,
        runtime,
        controlUrl,
        labels,
        bootstrapped: held !== null,
        identity: held
          ? { spiffeId: held.spiffeId, workloadId: held.workloadId, source: identity.source!, issuedAt: iso(held.issuedAt)!, expiresAt: iso(held.expiresAt)!, refreshAt: iso(identity.refreshAt) }
          : null,
        snapshot: info ? { revision: info.revision, etag: info.etag, source: info.source, receivedAt: iso(info.receivedAt)! } : null,
        appliedRevision: watch.appliedRevision,
        lastPollAt: iso(watch.lastPollAt),
        lastChangeAt: iso(watch.lastChangeAt),
        consecutiveFailures: watch.consecutiveFailures,
        lastError,
        endpoint: ep ? { id: ep.id, address: ep.address, port: ep.port, health: ep.health, registeredAt: iso(ep.registeredAt)!, lastHeartbeatAt: iso(ep.lastHeartbeatAt) } : null,
        audienceTokens: audienceTokens.stats(),
      }
    },
  }
}
