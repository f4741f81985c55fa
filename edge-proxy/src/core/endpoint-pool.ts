import type { SnapshotEndpoint } from '../../../mesh/src/snapshot/types'
import type { EndpointRegistry, EndpointState } from './endpoint-state'

/** One endpoint a balancer may choose, with the weight it balances by. */
export type Candidate = { readonly endpoint: SnapshotEndpoint; readonly state: EndpointState; readonly weight: number }

/**
 * The endpoints a balancer chooses among right now, plus the balancer's scratch state for exactly this list
 * (round-robin positions, a Maglev table). Rebuilt only when the list changes: an ejection, a return, or a
 * new snapshot; so per request the balancer reads a cached array.
 */
export type CandidateSet = { readonly list: readonly Candidate[]; readonly scratch: Record<string, unknown> }

/**
 * The endpoints of one backend subset (`BackendSubset.endpoints`, an array that lives as long as its
 * snapshot) with their states. `candidates` leaves out ejected endpoints, unless that would leave none
 * (Envoy's panic threshold at its simplest: a likely failure beats a certain one), then prefers endpoints in
 * the proxy's own zone when the BackendPolicy asks for locality and any is there.
 */
export class EndpointPool {
  readonly service: string
  readonly all: readonly Candidate[]
  #epoch = -1
  #set: CandidateSet = { list: [], scratch: {} }

  constructor(service: string, endpoints: readonly SnapshotEndpoint[], registry: EndpointRegistry) {
    this.service = service
    this.all = endpoints.map((endpoint) => ({ endpoint, state: registry.stateOf(service, endpoint), weight: Math.max(0, endpoint.weight) }))
  }

  candidates(epoch: number, zone: string | null): CandidateSet {
    if (epoch === this.#epoch) return this.#set
    let list: readonly Candidate[] = this.all.filter((c) => !c.state.ejected)
    if (list.length === 0) list = this.all
    if (zone !== null) {
      const local = list.filter((c) => c.endpoint.zone === zone)
      if (local.length > 0) list = local
    }
    this.#epoch = epoch
    this.#set = { list, scratch: {} }
    return this.#set
  }
}

/** One proxy core's pools, by subset endpoint array (per core: the states belong to its registry). */
export class EndpointPools {
  readonly #pools = new WeakMap<readonly SnapshotEndpoint[], EndpointPool>()
  readonly #registry: EndpointRegistry

  constructor(registry: EndpointRegistry) {
    this.#registry = registry
  }

  of(service: string, endpoints: readonly SnapshotEndpoint[]): EndpointPool {
    let pool = this.#pools.get(endpoints)
    if (pool === undefined) {
      pool = new EndpointPool(service, endpoints, this.#registry)
      this.#pools.set(endpoints, pool)
    }
    return pool
  }
}
