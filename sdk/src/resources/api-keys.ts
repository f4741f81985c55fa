import type { ApiPromise, PagePromise } from '../api-promise.js'
import { path, type RequestOptions } from '../http-client.js'
import type { ApiKey, ApiKeyCreate, ApiKeyListOptions, ApiKeyWithSecret } from '../types.js'
import { Resource } from './resource.js'

/** The tenant's API keys (admin). */
export class ApiKeys extends Resource {
  /**
   * Creates a key; `secret` is in this answer only, so a lost answer is not resent (the API's replay of it would
   * carry `secret: null`): list the keys and revoke the orphan instead.
   * @example
   * const { secret } = await weft.apiKeys.create({ name: 'ci', role: 'editor' })
   * @throws {QuotaExceeded} {@link Forbidden}
   */
  create(body: ApiKeyCreate, options?: RequestOptions): ApiPromise<ApiKeyWithSecret> {
    return this.call({ method: 'POST', path: '/v1/api-keys', json: body, resendable: false, options })
  }

  /** Keys, oldest first, never their secrets. */
  list(query: ApiKeyListOptions = {}, options?: RequestOptions): PagePromise<ApiKey> {
    return this.page({ method: 'GET', path: '/v1/api-keys', query, options })
  }

  /** Revokes a key; it stops working at once. @throws {NotFound} */
  revoke(id: string, options?: RequestOptions): ApiPromise<void> {
    return this.call({ method: 'DELETE', path: path`/v1/api-keys/${id}`, options })
  }
}
