import type { LoadBalancer } from './load-balancer'

/**
 * Smooth weighted round-robin (nginx's): every pick adds each endpoint's weight to its credit, takes the
 * endpoint with the most credit and charges it the total. Equal weights give plain rotation; weights 5:1:1
 * give a a b a c a a, spread out rather than bunched. O(n) per pick; the credits live with the candidate
 * list and start afresh when it changes.
 */
export const roundRobin: LoadBalancer = {
  type: 'RoundRobin',
  pick(set) {
    const list = set.list
    if (list.length === 1) return list[0]!
    let credit = set.scratch.rr as Float64Array | undefined
    if (credit === undefined) credit = set.scratch.rr = new Float64Array(list.length)
    let total = 0
    for (const c of list) total += c.weight
    const uniform = total === 0
    if (uniform) total = list.length
    let best = 0
    for (let i = 0; i < list.length; i++) {
      credit[i]! += uniform ? 1 : list[i]!.weight
      if (credit[i]! > credit[best]!) best = i
    }
    credit[best]! -= total
    return list[best]!
  },
}
