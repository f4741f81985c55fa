import type { ApiPromise, PagePromise } from '../api-promise.js'
import type { RequestOptions } from '../http-client.js'
import type { Page, SigningKey } from '../types.js'
import { Resource } from './resource.js'

/** The tenant's JWT-SVID signing keys and their life cycle (admin). */
export class SigningKeys extends Resource {
  /** Keys, oldest first: next, current, previous, retired. */
  list(options?: RequestOptions): PagePromise<SigningKey> {
    return this.page({ method: 'GET', path: '/v1/signing-keys', options })
  }

  /** Rotates now: next becomes current; current keeps verifying until its tokens expire. Answers with the keys after. */
  rotate(options?: RequestOptions): ApiPromise<Page<SigningKey>> {
    return this.call({ method: 'POST', path: '/v1/signing-keys/rotate', options })
  }
}
