import type { ApiPromise, PagePromise } from '../api-promise.js'
import { path, type RequestOptions } from '../http-client.js'
import type { Service, ServiceCreate, ServicePatch, ServiceListOptions, ServiceReplace } from '../types.js'
import { Resource, type IfMatch } from './resource.js'

/**
 * Services: DNS-label names, protocol, port, labels. Writes answer with an `ETag`
 * (`(await call.withResponse()).etag`); pass it as `ifMatch` to change only what you read.
 */
export class Services extends Resource {
  /**
   * Registers a service.
   * @example
   * const payments = await weft.services.create({ name: 'payments', port: 8080, labels: { team: 'pay' } })
   * @throws {Conflict} the name is taken. {@link ValidationError} {@link QuotaExceeded}
   */
  create(body: ServiceCreate, options?: RequestOptions): ApiPromise<Service> {
    return this.call({ method: 'POST', path: '/v1/services', json: body, options })
  }

  /** Services, by name. */
  list(query: ServiceListOptions = {}, options?: RequestOptions): PagePromise<Service> {
    return this.page({ method: 'GET', path: '/v1/services', query, options })
  }

  /** @throws {NotFound} */
  get(name: string, options?: RequestOptions): ApiPromise<Service> {
    return this.call({ method: 'GET', path: path`/v1/services/${name}`, options })
  }

  /**
   * Replaces the whole service (PUT): omitted fields go back to their defaults.
   * @throws {PreconditionFailed} `ifMatch` is stale. {@link NotFound}
   */
  replace(name: string, body: ServiceReplace, options?: RequestOptions & IfMatch): ApiPromise<Service> {
    return this.call({ method: 'PUT', path: path`/v1/services/${name}`, json: body, ifMatch: options?.ifMatch, options })
  }

  /**
   * Changes the given fields only (JSON merge patch: a label set to `null` is removed).
   * @example
   * const { data, etag } = await weft.services.get('payments').withResponse()
   * await weft.services.update('payments', { port: data.port + 1 }, { ifMatch: etag! })
   * @throws {PreconditionFailed} `ifMatch` is stale. {@link NotFound}
   */
  update(name: string, patch: ServicePatch, options?: RequestOptions & IfMatch): ApiPromise<Service> {
    return this.call({ method: 'PATCH', path: path`/v1/services/${name}`, json: patch, contentType: 'application/merge-patch+json', ifMatch: options?.ifMatch, options })
  }

  /** Deletes the service and its endpoints. @throws {PreconditionFailed} {@link NotFound} */
  delete(name: string, options?: RequestOptions & IfMatch): ApiPromise<void> {
    return this.call({ method: 'DELETE', path: path`/v1/services/${name}`, ifMatch: options?.ifMatch, options })
  }
}
