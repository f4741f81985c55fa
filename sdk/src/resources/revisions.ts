import type { ApiPromise } from '../api-promise.js'
import type { RequestOptions } from '../http-client.js'
import type { Convergence, ProxyStatus } from '../types.js'
import { Resource } from './resource.js'

export type { Convergence, ProxyStatus }

/** Tenant revisions and how far proxies have got with them. */
export class Revisions extends Resource {
  /**
   * Whether every live proxy has applied `revision` (or a later one), and how long each took.
   * @example
   * const { revision } = await weft.policies.apply(policy).withResponse()
   * const c = await weft.revisions.convergence(revision!)
   * @throws {NotFound} the revision has not been written yet.
   */
  convergence(revision: number, options?: RequestOptions): ApiPromise<Convergence> {
    return this.call({ method: 'GET', path: `/v1/revisions/${Math.trunc(revision)}/convergence`, options })
  }

  /** The tenant's live proxies (`includeGone` for the ones not seen recently). */
  proxies(query: { service?: string; includeGone?: boolean } = {}, options?: RequestOptions): ApiPromise<{ items: ProxyStatus[] }> {
    return this.call({ method: 'GET', path: '/v1/proxies', query, options })
  }
}
