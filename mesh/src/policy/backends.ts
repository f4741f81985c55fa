import type { OutboundService, SnapshotEndpoint } from '../snapshot/types'
import type { RouteRule } from './schemas'

/** One weighted subset of a rule's backends: the endpoints of `service` whose labels include `labels`. */
export type BackendSubset = {
  readonly service: string
  readonly labels: Readonly<Record<string, string>>
  readonly weight: number
  /** Healthy endpoints; draining ones only when no healthy endpoint is left (see `pickBackendSubsets`). */
  readonly endpoints: readonly SnapshotEndpoint[]
  readonly reason: string
}

export type BackendSelection = {
  readonly subsets: readonly BackendSubset[]
  readonly totalWeight: number
  /**
   * True when no request can be forwarded: every subset with weight has no endpoint, or every weight is 0.
   * When only some subsets are empty, traffic that lands on them is refused (`no-healthy-upstream`) and the
   * rest flows: Gateway API keeps the split ("requests that would have been sent to [an invalid backend]
   * MUST receive a 500", the others are unaffected) rather than shifting the empty subset's share elsewhere.
   */
  readonly unroutable: boolean
  readonly reason: string
}

/**
 * The weighted subsets a request is split across (Gateway API HTTPBackendRef: "traffic ... is split
 * proportionally to the weight"). A rule without backendRefs (or no rule, when the destination has no Route
 * policy) sends everything to the destination service, weight 1. A backendRef naming another service needs
 * that service in `outbound` (the caller's snapshot), else its subset is empty and reported.
 *
 * Draining endpoints receive traffic only when a subset has no healthy endpoint left, as Envoy's panic mode
 * prefers a likely answer over a certain 503. O(backendRefs × endpoints × labels): the proxy should cache
 * the result per snapshot (evaluate-request.ts does).
 */
export function pickBackendSubsets(
  rule: RouteRule | null,
  destination: OutboundService,
  outbound: Readonly<Record<string, OutboundService>> = {},
): BackendSelection {
  const refs = rule?.backendRefs
  if (refs === undefined || refs.length === 0) {
    const subset = subsetOf(destination, destination.name, {}, 1)
    const why = rule === null ? 'no Route rule applies (pass-through)' : 'the rule has no backendRefs'
    return { subsets: [subset], totalWeight: 1, unroutable: subset.endpoints.length === 0, reason: `${why}: all endpoints of ${JSON.stringify(destination.name)}, weight 1` }
  }
  const subsets = refs.map((ref) => {
    const name = ref.service ?? destination.name
    const service = name === destination.name ? destination : Object.hasOwn(outbound, name) ? outbound[name] : undefined
    const labels = ref.labels ?? {}
    const weight = ref.weight ?? 1
    if (service === undefined) {
      return { service: name, labels, weight, endpoints: [], reason: `service ${JSON.stringify(name)} is not in this snapshot (unknown, or not callable from here): requests sent here are refused` }
    }
    return subsetOf(service, name, labels, weight)
  })
  const totalWeight = subsets.reduce((sum, s) => sum + s.weight, 0)
  const live = subsets.filter((s) => s.weight > 0 && s.endpoints.length > 0)
  const unroutable = live.length === 0
  const split = subsets.map((s) => `${describe(s)} ${totalWeight === 0 ? 0 : percent(s.weight / totalWeight)}%`).join(', ')
  const reason =
    totalWeight === 0
      ? `every backendRef has weight 0: no request is forwarded`
      : unroutable
        ? `no backend with weight has an endpoint: ${split}`
        : `split by weight: ${split}`
  return { subsets, totalWeight, unroutable, reason }
}

/**
 * Picks one item with probability weight / total weight; weight 0 is never chosen, and null means nothing can
 * be (empty list or all weights 0). Deterministic given `random` (a function returning [0, 1), like
 * Math.random). O(n), no allocation.
 */
export function chooseWeighted<T extends { readonly weight: number }>(items: readonly T[], random: () => number): T | null {
  let total = 0
  for (const item of items) if (item.weight > 0) total += item.weight
  if (total === 0) return null
  let point = random() * total
  let last: T | null = null
  for (const item of items) {
    if (!(item.weight > 0)) continue
    if (point < item.weight) return item
    point -= item.weight
    last = item
  }
  // Only reached when `random` returns 1 (or rounding eats the last sliver): the last eligible item.
  return last
}

function subsetOf(service: OutboundService, name: string, labels: Readonly<Record<string, string>>, weight: number): BackendSubset {
  const selected = service.endpoints.filter((e) => hasLabels(e, labels))
  const healthy = selected.filter((e) => e.health === 'healthy')
  const endpoints = healthy.length > 0 ? healthy : selected
  const who = `${JSON.stringify(name)}${Object.keys(labels).length > 0 ? ` with ${labelText(labels)}` : ''}`
  const reason =
    selected.length === 0
      ? `no endpoint of ${who}: requests sent here are refused (no-healthy-upstream)`
      : healthy.length > 0
        ? `${healthy.length} healthy endpoint${healthy.length === 1 ? '' : 's'} of ${who}`
        : `only draining endpoints of ${who} (${selected.length}): used, since none is healthy`
  return { service: name, labels, weight, endpoints, reason }
}

function hasLabels(endpoint: SnapshotEndpoint, labels: Readonly<Record<string, string>>): boolean {
  for (const key in labels) if (!Object.hasOwn(endpoint.labels, key) || endpoint.labels[key] !== labels[key]) return false
  return true
}

const labelText = (labels: Readonly<Record<string, string>>) =>
  Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',')

const describe = (s: BackendSubset) => `${s.service}${Object.keys(s.labels).length > 0 ? `{${labelText(s.labels)}}` : ''}`

const percent = (share: number) => Math.round(share * 10_000) / 100
