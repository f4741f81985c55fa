import type { ApiPromise, PagePromise } from '../api-promise.js'
import { path, type RequestOptions } from '../http-client.js'
import type { Policy, PolicyInput, PolicyListOptions, PolicyVersion, PolicyWritten, SimulateRequest, SimulateResponse } from '../types.js'
import { Resource, type IfMatch } from './resource.js'

/** Typed policies: Route, BackendPolicy, AuthorizationPolicy, RateLimitPolicy, FaultPolicy, FilterChain. */
export class Policies extends Resource {
  /**
   * Creates a policy. `warnings` in the answer lists what was accepted but is probably not intended.
   * @example
   * await weft.policies.create({
   *   kind: 'RateLimitPolicy', name: 'payments-rl', targetRef: { service: 'payments' },
   *   spec: { limits: [{ key: 'source', requestsPerUnit: 100, unit: 'second', burst: 20 }] },
   * })
   * @throws {Conflict} the name is taken. {@link ValidationError} a bad field or reference.
   */
  create(policy: PolicyInput, options?: RequestOptions): ApiPromise<PolicyWritten> {
    return this.call({ method: 'POST', path: '/v1/policies', json: policy, options })
  }

  /**
   * Creates or replaces the policy named `policy.name` (PUT). Idempotent: applying the same policy twice
   * changes nothing, not even the version. The answer's status is 201 when it created it.
   * @throws {PreconditionFailed} `ifMatch` is stale. {@link Conflict} the name belongs to another kind.
   */
  apply(policy: PolicyInput, options?: RequestOptions & IfMatch): ApiPromise<PolicyWritten> {
    return this.call({ method: 'PUT', path: path`/v1/policies/${policy.name}`, json: policy, ifMatch: options?.ifMatch, options })
  }

  /** Policies by name; filter by `kind` and target `service`. */
  list(query: PolicyListOptions = {}, options?: RequestOptions): PagePromise<Policy> {
    return this.page({ method: 'GET', path: '/v1/policies', query, options })
  }

  /** @throws {NotFound} */
  get(name: string, options?: RequestOptions): ApiPromise<Policy> {
    return this.call({ method: 'GET', path: path`/v1/policies/${name}`, options })
  }

  /** Deletes a policy; its history stays, so it can be rolled back. @throws {PreconditionFailed} {@link NotFound} */
  delete(name: string, options?: RequestOptions & IfMatch): ApiPromise<void> {
    return this.call({ method: 'DELETE', path: path`/v1/policies/${name}`, ifMatch: options?.ifMatch, options })
  }

  /** Every version, newest first, each with the JSON Patch from the one before. @throws {NotFound} */
  history(name: string, options?: RequestOptions): PagePromise<PolicyVersion> {
    return this.page({ method: 'GET', path: path`/v1/policies/${name}/history`, options })
  }

  /** Restores an earlier version, as a new version. @throws {NotFound} {@link ValidationError} the version is a deletion. */
  rollback(name: string, version: number, options?: RequestOptions): ApiPromise<PolicyWritten> {
    return this.call({ method: 'POST', path: path`/v1/policies/${name}/rollback`, json: { version }, options })
  }

  /**
   * Dry run: the route, backends, authorization, rate limits, faults and filters a request would meet, and why,
   * evaluated by the proxies' own code against the current revision.
   * @example
   * const r = await weft.policies.simulate({
   *   source: { service: 'orders' }, destination: { service: 'payments' },
   *   request: { method: 'POST', path: '/charge', headers: { 'x-canary': '1' } },
   * })
   */
  simulate(request: SimulateRequest, options?: RequestOptions): ApiPromise<SimulateResponse> {
    return this.call({ method: 'POST', path: '/v1/simulate', json: request, options })
  }
}
