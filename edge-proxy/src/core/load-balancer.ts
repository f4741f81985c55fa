import type { BackendPolicySpec } from '../../../mesh/src/policy/index'
import type { Candidate, CandidateSet } from './endpoint-pool'
import { leastRequest } from './least-request'
import { maglev } from './maglev'
import { randomChoice } from './random-choice'
import { roundRobin } from './round-robin'

export type PickContext = {
  readonly random: () => number
  /** ConsistentHash only: the header or cookie value; null when the request has none (then: random). */
  readonly hashKey: string | null
}

/** Chooses one endpoint from a non-empty candidate set. */
export type LoadBalancer = {
  readonly type: LoadBalancerType
  pick(set: CandidateSet, ctx: PickContext): Candidate
}

export type LoadBalancerType = NonNullable<BackendPolicySpec['loadBalancer']>['type']

const BALANCERS: Readonly<Record<LoadBalancerType, LoadBalancer>> = {
  RoundRobin: roundRobin,
  Random: randomChoice,
  LeastRequest: leastRequest,
  ConsistentHash: maglev,
}

/** BackendPolicy `loadBalancer.type`; RoundRobin when there is no policy (Envoy's and Istio's default too). */
export function loadBalancerFor(spec: BackendPolicySpec | undefined): LoadBalancer {
  return BALANCERS[spec?.loadBalancer?.type ?? 'RoundRobin']
}

/**
 * The hash key of a request for ConsistentHash: the named header's value, or the named cookie's. Null when
 * absent (Envoy then picks at random: no key, no affinity).
 */
export function hashKeyOf(spec: BackendPolicySpec | undefined, headers: Headers): string | null {
  const on = spec?.loadBalancer?.hashOn
  if (spec?.loadBalancer?.type !== 'ConsistentHash' || on === undefined) return null
  if (on.header !== undefined) {
    const v = headers.get(on.header)
    if (v !== null) return v
  }
  if (on.cookie !== undefined) return cookieValue(headers.get('cookie'), on.cookie)
  return null
}

function cookieValue(header: string | null, name: string): string | null {
  if (header === null) return null
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq < 0) continue
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return null
}
