import type { SnapshotEndpoint } from '../../../mesh/src/snapshot/types'

/**
 * What the proxy learns about one endpoint while it sends to it: load (in flight), latency (peak EWMA) and
 * outlier-detection history. Kept across snapshots, keyed by service and endpoint id, so that a policy
 * change does not forget an ejection or reset the latency estimate.
 */
export class EndpointState {
  readonly key: string
  readonly service: string
  endpoint: SnapshotEndpoint
  /** Attempts sent and still awaiting response headers. */
  inFlight = 0
  /** Peak-EWMA of the time to response headers, ms; 0 until the first sample (so new endpoints get probed). */
  latencyMs = 0
  lastSampleAt = 0
  consecutive5xx = 0
  consecutive5xxSince = 0
  consecutiveGateway = 0
  consecutiveGatewaySince = 0
  ejected = false
  ejectedUntil = 0
  timesEjected = 0
  /** When the last ejection ended (for decaying `timesEjected`). */
  returnedAt = 0

  constructor(service: string, endpoint: SnapshotEndpoint) {
    this.key = endpointKey(service, endpoint.id)
    this.service = service
    this.endpoint = endpoint
  }

  /**
   * Linkerd's peak-EWMA: a sample above the estimate replaces it at once (a slowing endpoint is avoided
   * quickly), a lower one pulls it down with weight exp(-Δt/τ), so the estimate follows time, not request count.
   */
  recordLatency(ms: number, now: number): void {
    if (this.lastSampleAt === 0 || ms > this.latencyMs) {
      this.latencyMs = ms
    } else {
      const w = Math.exp(-Math.max(0, now - this.lastSampleAt) / LATENCY_DECAY_MS)
      this.latencyMs = this.latencyMs * w + ms * (1 - w)
    }
    this.lastSampleAt = now
  }
}

// Linkerd's default decay: a slow spike is forgotten within tens of seconds.
const LATENCY_DECAY_MS = 10_000

export const endpointKey = (service: string, id: string) => `${service}/${id}`

/** Every endpoint's state, created on first use and pruned when an endpoint leaves the snapshot. */
export class EndpointRegistry {
  readonly #states = new Map<string, EndpointState>()

  stateOf(service: string, endpoint: SnapshotEndpoint): EndpointState {
    const key = endpointKey(service, endpoint.id)
    let state = this.#states.get(key)
    if (state === undefined) {
      state = new EndpointState(service, endpoint)
      this.#states.set(key, state)
    } else if (state.endpoint !== endpoint) {
      state.endpoint = endpoint
    }
    return state
  }

  /** Forgets endpoints not in `live` (keys from `endpointKey`); returns the states dropped. */
  retain(live: ReadonlySet<string>): EndpointState[] {
    const dropped: EndpointState[] = []
    for (const [key, state] of this.#states) {
      if (!live.has(key)) {
        this.#states.delete(key)
        dropped.push(state)
      }
    }
    return dropped
  }

  get size(): number {
    return this.#states.size
  }

  values(): IterableIterator<EndpointState> {
    return this.#states.values()
  }
}
