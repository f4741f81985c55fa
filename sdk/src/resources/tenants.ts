import type { ApiPromise, PagePromise } from '../api-promise.js'
import { path, type RequestOptions } from '../http-client.js'
import type { Tenant, TenantCreate, TenantCreated, TenantListOptions, TenantWithUsage } from '../types.js'
import { Resource } from './resource.js'

/** Onboarding, for the operator (`wfo_…` key). */
export class Tenants extends Resource {
  /**
   * Onboards a tenant. The answer holds its first admin API key; the secret is shown this once, so a lost answer
   * is not resent (the API's replay of it would carry `secret: null`).
   * @example
   * const { tenant, adminKey } = await operator.tenants.create({ slug: 'acme' })
   * @throws {Conflict} the slug is taken. {@link Forbidden} the key is not the operator's.
   */
  create(body: TenantCreate, options?: RequestOptions): ApiPromise<TenantCreated> {
    return this.call({ method: 'POST', path: '/v1/tenants', json: body, resendable: false, options })
  }

  /** Every tenant, by slug. */
  list(query: TenantListOptions = {}, options?: RequestOptions): PagePromise<Tenant> {
    return this.page({ method: 'GET', path: '/v1/tenants', query, options })
  }

  /** A tenant with its usage. @throws {NotFound} */
  get(slug: string, options?: RequestOptions): ApiPromise<TenantWithUsage> {
    return this.call({ method: 'GET', path: path`/v1/tenants/${slug}`, options })
  }

  /** Deletes a tenant and everything it owns. @throws {NotFound} */
  delete(slug: string, options?: RequestOptions): ApiPromise<void> {
    return this.call({ method: 'DELETE', path: path`/v1/tenants/${slug}`, options })
  }
}
