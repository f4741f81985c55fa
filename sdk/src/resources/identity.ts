import type { ApiPromise } from '../api-promise.js'
import { path, type RequestOptions } from '../http-client.js'
import type { Jwks, TokenRequest, TokenResponse } from '../types.js'
import { Resource } from './resource.js'

/** Workload identity: JWT-SVIDs and the keys that verify them. */
export class Identity extends Resource {
  /**
   * Issues a JWT-SVID. Call it with a join token as the client's `apiKey` (a proxy's first start) or with the
   * current workload JWT (refresh); `audience` is a callee's SPIFFE ID, or omitted for the control API. A lost
   * answer is not resent: the API keeps no Idempotency-Key answers for join tokens, so a resend would spend a use.
   * @example
   * const proxy = new Weft({ baseUrl, apiKey: process.env.WEFT_JOIN_TOKEN })
   * const { token, expiresAt } = await proxy.identity.token()
   * @throws {Unauthorized} the join token is used up, expired or revoked, or the workload is revoked.
   */
  token(body: TokenRequest = {}, options?: RequestOptions): ApiPromise<TokenResponse> {
    return this.call({ method: 'POST', path: '/v1/identity/token', json: body, resendable: false, options })
  }

  /** A tenant's public signing keys (public: sent without credentials). @throws {NotFound} */
  jwks(slug: string, options?: RequestOptions): ApiPromise<Jwks> {
    return this.call({ method: 'GET', path: path`/v1/tenants/${slug}/jwks.json`, anonymous: true, options })
  }
}
