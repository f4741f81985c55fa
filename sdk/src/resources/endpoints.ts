import type { ApiPromise, PagePromise } from '../api-promise.js'
import { path, type RequestOptions } from '../http-client.js'
import type { Endpoint, EndpointHeartbeat, EndpointListOptions, EndpointRegister } from '../types.js'
import { Resource } from './resource.js'

/** The instances of a service (tenant keys, or the service's own workload). */
export class Endpoints extends Resource {
  /**
   * Registers an instance; registering the same address and port again updates and renews it.
   * @example
   * const ep = await weft.endpoints.register('payments', { address: '10.0.0.12', port: 8080, labels: { version: 'v2' } })
   * @throws {NotFound} no such service. {@link QuotaExceeded}
   */
  register(service: string, body: EndpointRegister, options?: RequestOptions): ApiPromise<Endpoint> {
    return this.call({ method: 'POST', path: path`/v1/services/${service}/endpoints`, json: body, options })
  }

  /** Live endpoints (`includeExpired` for the lapsed ones too). */
  list(service: string, query: EndpointListOptions = {}, options?: RequestOptions): PagePromise<Endpoint> {
    return this.page({ method: 'GET', path: path`/v1/services/${service}/endpoints`, query, options })
  }

  /** @throws {NotFound} */
  get(service: string, id: string, options?: RequestOptions): ApiPromise<Endpoint> {
    return this.call({ method: 'GET', path: path`/v1/services/${service}/endpoints/${id}`, options })
  }

  /** Renews the TTL, and reports health when given. @throws {NotFound} */
  heartbeat(service: string, id: string, body: EndpointHeartbeat = {}, options?: RequestOptions): ApiPromise<Endpoint> {
    return this.call({ method: 'POST', path: path`/v1/services/${service}/endpoints/${id}/heartbeat`, json: body, options })
  }

  /** Deregisters. @throws {NotFound} */
  delete(service: string, id: string, options?: RequestOptions): ApiPromise<void> {
    return this.call({ method: 'DELETE', path: path`/v1/services/${service}/endpoints/${id}`, options })
  }
}
