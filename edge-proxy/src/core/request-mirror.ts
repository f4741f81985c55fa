import { pickBackendSubsets, type BackendSubset, type RouteRule } from '../../../mesh/src/policy/index'
import type { Snapshot } from '../../../mesh/src/snapshot/types'
import { toAbortSignal } from './cancel-signal'
import type { CoreContext } from './core-context'
import { Deadline } from './deadline'
import { WEFT_IDENTITY_HEADER } from './forwarded-headers'
import { loadBalancerFor } from './load-balancer'
import type { RequestBody } from './replayable-body'
import type { RequestMirror } from './route-filters'

const subsets = new WeakMap<RequestMirror, BackendSubset>()

export type MirrorSource = {
  readonly destination: string
  readonly method: string
  readonly pathAndQuery: string
  readonly headers: Headers
  readonly body: RequestBody
  readonly timeoutMs: number
}

/**
 * Gateway API RequestMirror: a copy of `percent` % of the requests goes to the mirror backend and its answer
 * is thrown away; the caller never waits for it and never sees its failures. The copy's Host is
 * `<service>-shadow` (Envoy's convention, so the mirror can tell copies from real traffic). Only replayable
 * bodies (buffered within the replay cap) are copied: a large streamed body is not held for a copy, and that
 * request is not mirrored (counted as "skipped").
 */
export function mirrorRequest(ctx: CoreContext, snapshot: Snapshot, mirror: RequestMirror, source: MirrorSource): void {
  const percent = mirror.percent ?? 100
  if (!(ctx.random() * 100 < percent)) return
  const serviceName = mirror.backendRef.service ?? source.destination
  if (!source.body.replayable) {
    ctx.metrics.mirrors.inc([serviceName, 'skipped'])
    return
  }
  const body = source.body.bytes
  const service = Object.hasOwn(snapshot.outbound, serviceName) ? snapshot.outbound[serviceName]! : null
  if (service === null) {
    ctx.logger.debug({ mirror: serviceName }, 'mirror target is not in the snapshot; copy not sent')
    return
  }
  let subset = subsets.get(mirror)
  if (subset === undefined) {
    const rule = { backendRefs: [{ service: serviceName, labels: mirror.backendRef.labels ?? {}, weight: 1 }] } as RouteRule
    subset = pickBackendSubsets(rule, service, snapshot.outbound).subsets[0]!
    subsets.set(mirror, subset)
  }
  if (subset.endpoints.length === 0) return
  const spec = service.backendPolicy?.spec
  ctx.outliers.refresh(ctx.now())
  const set = ctx.pools.of(serviceName, subset.endpoints).candidates(ctx.outliers.epoch, null)
  const candidate = loadBalancerFor(spec).pick(set, { random: ctx.random, hashKey: null })
  const headers = new Headers(source.headers)
  const deadline = new Deadline('overall', source.timeoutMs)
  ctx.metrics.mirrors.inc([serviceName, 'sent'])
  const work = (async () => {
    try {
      headers.set(WEFT_IDENTITY_HEADER, await ctx.deps.identity.tokenFor(service.spiffeId))
      const request = new Request(`http://${serviceName}-shadow${source.pathAndQuery}`, {
        method: source.method,
        headers,
        body,
        redirect: 'manual',
        signal: toAbortSignal(deadline.signal),
      })
      const response = await ctx.deps.upstream(request, {
        address: candidate.endpoint.address,
        port: candidate.endpoint.port,
        service: serviceName,
        spiffeId: service.spiffeId,
        endpointId: candidate.endpoint.id,
      })
      await response.body?.cancel()
    } catch (err) {
      ctx.logger.debug({ mirror: serviceName, err: String(err) }, 'mirrored request failed (ignored)')
    } finally {
      deadline.clear()
    }
  })()
  ctx.deps.waitUntil?.(work)
}
