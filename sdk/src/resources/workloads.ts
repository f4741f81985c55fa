import type { ApiPromise, PagePromise } from '../api-promise.js'
import { path, type RequestOptions } from '../http-client.js'
import type { Workload, WorkloadListOptions, WorkloadRevoke } from '../types.js'
import { Resource } from './resource.js'

/** Workloads (one per proxy instance that joined) and their revocation. */
export class Workloads extends Resource {
  /** Workloads, oldest first; filter by `service` and `revoked`. */
  list(query: WorkloadListOptions = {}, options?: RequestOptions): PagePromise<Workload> {
    return this.page({ method: 'GET', path: '/v1/workloads', query, options })
  }

  /** Revokes a workload: refreshes are refused at once and proxies learn it from their snapshot. @throws {NotFound} */
  revoke(id: string, body: WorkloadRevoke = {}, options?: RequestOptions): ApiPromise<Workload> {
    return this.call({ method: 'POST', path: path`/v1/workloads/${id}/revoke`, json: body, options })
  }
}
