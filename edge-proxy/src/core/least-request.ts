import type { LoadBalancer } from './load-balancer'

/**
 * Least request by the power of two choices (Mitzenmacher; Envoy's and Linkerd's default): draw two distinct
 * endpoints at random and take the one with the lower cost, latency × load, where latency is the endpoint's
 * peak-EWMA (EndpointState) and load its attempts in flight + 1. A millisecond is added to the latency so that
 * unsampled (0) endpoints still compare by load. O(1); avoids the herd that "always the least loaded" causes.
 */
export const leastRequest: LoadBalancer = {
  type: 'LeastRequest',
  pick(set, ctx) {
    const list = set.list
    if (list.length === 1) return list[0]!
    const i = Math.min(list.length - 1, Math.floor(ctx.random() * list.length))
    let j = Math.min(list.length - 2, Math.floor(ctx.random() * (list.length - 1)))
    if (j >= i) j++
    const a = list[i]!
    const b = list[j]!
    return cost(b.state) < cost(a.state) ? b : a
  },
}

function cost(state: { latencyMs: number; inFlight: number }): number {
  return (state.latencyMs + 1) * (state.inFlight + 1)
}
