import type { ApiPromise } from '../api-promise.js'
import type { RequestOptions } from '../http-client.js'
import type { Tenant, TenantPatch, TenantWithUsage } from '../types.js'
import { Resource } from './resource.js'

/** The caller's own tenant (any tenant key). */
export class CurrentTenant extends Resource {
  /** The tenant, its quotas and its usage. */
  get(options?: RequestOptions): ApiPromise<TenantWithUsage> {
    return this.call({ method: 'GET', path: '/v1/tenant', options })
  }

  /** Changes tenant settings (admin). @throws {Forbidden} the key is not an admin's. */
  update(patch: TenantPatch, options?: RequestOptions): ApiPromise<Tenant> {
    return this.call({ method: 'PATCH', path: '/v1/tenant', json: patch, contentType: 'application/merge-patch+json', options })
  }
}
