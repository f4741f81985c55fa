import type { ApiPromise, PagePromise } from '../api-promise.js'
import { path, type RequestOptions } from '../http-client.js'
import type { JoinToken, JoinTokenCreate, JoinTokenListOptions, JoinTokenWithSecret } from '../types.js'
import { Resource } from './resource.js'

/** Bootstrap secrets for a service's proxies (admin or editor). */
export class JoinTokens extends Resource {
  /**
   * Creates a join token; `secret` (`wfj_…`) is in this answer only, so a lost answer is not resent. Single-use
   * and one hour by default.
   * @example
   * const { secret } = await weft.joinTokens.create('payments', { maxUses: 3 })
   */
  create(service: string, body: JoinTokenCreate = {}, options?: RequestOptions): ApiPromise<JoinTokenWithSecret> {
    return this.call({ method: 'POST', path: path`/v1/services/${service}/join-tokens`, json: body, resendable: false, options })
  }

  /** The service's tokens, never their secrets. */
  list(service: string, query: JoinTokenListOptions = {}, options?: RequestOptions): PagePromise<JoinToken> {
    return this.page({ method: 'GET', path: path`/v1/services/${service}/join-tokens`, query, options })
  }

  /** Revokes a token; proxies that already joined keep their identity. @throws {NotFound} */
  revoke(service: string, id: string, options?: RequestOptions): ApiPromise<void> {
    return this.call({ method: 'DELETE', path: path`/v1/services/${service}/join-tokens/${id}`, options })
  }
}
