import { Backoff, type BackoffOptions } from './backoff'
import { ControlClientConfigError, ControlClientStopped, ControlRequestFailed, isRetryable } from './control-errors'
import type { ControlResponse } from './control-http'
import type { ControlLogger } from './control-logger'
import { sleep as sleepOrAbort } from './sleep'

export type EndpointHealth = 'healthy' | 'draining'

export type EndpointInput = {
  address: string
  port: number
  zone?: string
  labels?: Record<string, string>
  weight?: number
  /** The control API drops the endpoint from snapshots this long after the last heartbeat (5–3600). */
  ttlSeconds: number
}

export type RegisteredEndpoint = { id: string; address: string; port: number; ttlSeconds: number }

export type EndpointStatus = RegisteredEndpoint & { health: EndpointHealth; registeredAt: number; lastHeartbeatAt: number | null }

/**
 * A request to the control API with the workload token, sent once more after a 401 with a refreshed one.
 * `afterStop`: not aborted by the client stopping (the last deregistration of a draining sidecar).
 */
export type AuthedRequest = (method: 'POST' | 'DELETE', path: string, json?: unknown, opts?: { afterStop?: boolean }) => Promise<ControlResponse>

export type EndpointRegistrationOptions = {
  request: AuthedRequest
  service: string
  logger: ControlLogger
  now: () => number
  random: () => number
  backoff: BackoffOptions
  /** Aborted when the client stops. */
  signal: AbortSignal
  report: (op: 'register' | 'heartbeat' | 'deregister', err: unknown) => void
}

function checkInput(input: EndpointInput): void {
  const problems: string[] = []
  if (typeof input?.address !== 'string' || input.address === '') problems.push('address must be a non-empty string')
  if (!Number.isInteger(input?.port) || input.port < 1 || input.port > 65535) problems.push('port must be an integer 1–65535')
  if (!Number.isInteger(input?.ttlSeconds) || input.ttlSeconds < 5 || input.ttlSeconds > 3600) problems.push('ttlSeconds must be an integer 5–3600')
  if (input?.weight !== undefined && (!Number.isInteger(input.weight) || input.weight < 0 || input.weight > 10000)) problems.push('weight must be an integer 0–10000')
  if (input?.labels !== undefined && (typeof input.labels !== 'object' || Object.values(input.labels).some((v) => typeof v !== 'string'))) problems.push('labels must map strings to strings')
  if (problems.length) throw new ControlClientConfigError(`registerEndpoint: ${problems.join('; ')}`)
}

/**
 * The proxy's own endpoint in its service: registered (retrying while the control API is unreachable),
 * renewed every ttl/3 so that two heartbeats may be lost before it lapses, registered again when a
 * heartbeat finds it gone (404: deleted, e.g. by an operator or a cleanup), deleted on `deregister()`.
 */
export class EndpointRegistration {
  readonly #o: EndpointRegistrationOptions
  #input: EndpointInput | null = null
  #health: EndpointHealth = 'healthy'
  #current: EndpointStatus | null = null
  #loop: AbortController | null = null
  heartbeats = 0
  registrations = 0

  constructor(options: EndpointRegistrationOptions) {
    this.#o = options
  }

  status(): EndpointStatus | null {
    return this.#current
  }

  /**
   * Registers and starts heartbeating. Resolves on the first successful registration; while the control
   * API is unreachable it keeps trying. Registering again replaces the previous registration.
   * @throws ControlClientConfigError for bad input; ControlRequestFailed when the control API refuses it
   * (400, 403, 404: not worth retrying); ControlClientStopped.
   */
  async register(input: EndpointInput): Promise<RegisteredEndpoint> {
    checkInput(input)
    const previous = this.#current
    this.#cancelLoop()
    if (previous && (previous.address !== input.address || previous.port !== input.port)) await this.#delete(previous).catch(() => {})
    this.#input = { ...input }
    this.#current = null
    const loop = this.#startLoop()
    const backoff = new Backoff(this.#o.backoff, this.#o.random)
    for (;;) {
      if (loop.signal.aborted) throw new ControlClientStopped('the registration was replaced or the client stopped')
      try {
        const registered = await this.#register()
        void this.#heartbeatLoop(loop.signal)
        return registered
      } catch (err) {
        if (!isRetryable(err)) throw err
        const delay = backoff.next()
        this.#o.logger.warn({ err: (err as Error).message, retryInMs: delay }, 'endpoint registration failed; retrying')
        await sleepOrAbort(delay, loop.signal)
      }
    }
  }

  /** Reports health with a heartbeat now (e.g. `draining` before shutdown) and in every later one. */
  async setHealth(health: EndpointHealth): Promise<void> {
    this.#health = health
    const cur = this.#current
    if (!cur) return
    await this.#heartbeat(cur, { health })
  }

  /** Stops heartbeating and deletes the endpoint. A 404 (already gone) is success. */
  async deregister(): Promise<void> {
    this.#cancelLoop()
    const cur = this.#current
    this.#current = null
    this.#input = null
    if (cur) await this.#delete(cur)
  }

  stop(): void {
    this.#cancelLoop()
  }

  #startLoop(): AbortController {
    const loop = new AbortController()
    if (this.#o.signal.aborted) loop.abort()
    else this.#o.signal.addEventListener('abort', () => loop.abort(), { once: true })
    this.#loop = loop
    return loop
  }

  #cancelLoop(): void {
    this.#loop?.abort()
    this.#loop = null
  }

  async #register(): Promise<RegisteredEndpoint> {
    const input = this.#input!
    this.registrations++
    let res: ControlResponse
    try {
      res = await this.#o.request('POST', `/v1/services/${encodeURIComponent(this.#o.service)}/endpoints`, {
        address: input.address,
        port: input.port,
        ...(input.zone !== undefined ? { zone: input.zone } : {}),
        labels: input.labels ?? {},
        ...(input.weight !== undefined ? { weight: input.weight } : {}),
        health: this.#health,
        ttlSeconds: input.ttlSeconds,
      })
    } catch (err) {
      this.#o.report('register', err)
      throw err
    }
    const body = JSON.parse(res.text) as { id: string; address: string; port: number; ttlSeconds: number }
    const now = this.#o.now()
    this.#current = { id: body.id, address: body.address, port: body.port, ttlSeconds: body.ttlSeconds, health: this.#health, registeredAt: now, lastHeartbeatAt: null }
    this.#o.logger.info({ endpointId: body.id, address: `${body.address}:${body.port}`, ttlSeconds: body.ttlSeconds }, 'endpoint registered')
    return { id: body.id, address: body.address, port: body.port, ttlSeconds: body.ttlSeconds }
  }

  async #heartbeatLoop(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff(this.#o.backoff, this.#o.random)
    let delay = this.#interval()
    while (!signal.aborted) {
      await sleepOrAbort(delay, signal)
      if (signal.aborted) return
      try {
        const cur = this.#current
        if (cur) await this.#heartbeat(cur, undefined)
        else await this.#register()
        backoff.reset()
        delay = this.#interval()
      } catch (err) {
        if (signal.aborted || err instanceof ControlClientStopped) return
        if (err instanceof ControlRequestFailed && err.status === 404 && this.#current) {
          this.#o.logger.warn({ endpointId: this.#current.id }, 'the endpoint is gone from the control API; registering it again')
          this.#current = null
          delay = 0
          continue
        }
        // Sooner than the next regular beat, never later: the TTL keeps running.
        delay = Math.min(backoff.next(), this.#interval())
        this.#o.logger.warn({ err: (err as Error).message, retryInMs: delay }, 'endpoint heartbeat failed')
      }
    }
  }

  #interval(): number {
    return ((this.#input?.ttlSeconds ?? 30) * 1000) / 3
  }

  async #heartbeat(cur: EndpointStatus, json: { health: EndpointHealth } | undefined): Promise<void> {
    try {
      await this.#o.request('POST', `/v1/services/${encodeURIComponent(this.#o.service)}/endpoints/${cur.id}/heartbeat`, json)
    } catch (err) {
      this.#o.report('heartbeat', err)
      throw err
    }
    this.heartbeats++
    if (this.#current?.id === cur.id) this.#current = { ...this.#current, health: this.#health, lastHeartbeatAt: this.#o.now() }
  }

  async #delete(cur: EndpointStatus): Promise<void> {
    try {
      await this.#o.request('DELETE', `/v1/services/${encodeURIComponent(this.#o.service)}/endpoints/${cur.id}`, undefined, { afterStop: true })
      this.#o.logger.info({ endpointId: cur.id }, 'endpoint deregistered')
    } catch (err) {
      if (err instanceof ControlRequestFailed && err.status === 404) return
      this.#o.report('deregister', err)
      throw err
    }
  }
}
