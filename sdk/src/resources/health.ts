import type { ApiPromise } from '../api-promise.js'
import type { RequestOptions } from '../http-client.js'
import type { HealthStatus } from '../types.js'
import { Resource } from './resource.js'

/** Probes. Not retried unless asked: a probe should report what it sees now. */
export class HealthChecks extends Resource {
  /** Liveness: the process answers. */
  live(options?: RequestOptions): ApiPromise<HealthStatus> {
    return this.call({ method: 'GET', path: '/healthz', anonymous: true, options: { retry: false, ...options } })
  }

  /** Readiness: the database answers too. @throws {DatabaseUnavailable} */
  ready(options?: RequestOptions): ApiPromise<HealthStatus> {
    return this.call({ method: 'GET', path: '/readyz', anonymous: true, options: { retry: false, ...options } })
  }
}
