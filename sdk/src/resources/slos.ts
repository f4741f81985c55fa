import type { ApiPromise, PagePromise } from '../api-promise.js'
import { path, type RequestOptions } from '../http-client.js'
import type { Alert, AlertListOptions, Slo, SloCreate, SloListOptions, SloStatus, Webhook, WebhookCreate, WebhookWithSecret } from '../types.js'
import { Resource } from './resource.js'

/** Service level objectives with multi-window burn-rate alerting. */
export class Slos extends Resource {
  /**
   * Defines an SLO over a service's callee-side telemetry.
   * @example
   * await weft.slos.create({ name: 'payments-latency', service: 'payments', objective: { type: 'latency', thresholdMs: 250, target: 99.9 }, window: '14d' })
   * @throws {ValidationError} unknown service, a threshold that is not a latency bucket bound. {@link Conflict}
   */
  create(body: SloCreate, options?: RequestOptions): ApiPromise<Slo> {
    return this.call({ method: 'POST', path: '/v1/slos', json: body, options })
  }

  list(query: SloListOptions = {}, options?: RequestOptions): PagePromise<Slo> {
    return this.page({ method: 'GET', path: '/v1/slos', query, options })
  }

  /** The SLO with its current burn rates, remaining error budget and open alerts. @throws {NotFound} */
  get(name: string, options?: RequestOptions): ApiPromise<SloStatus> {
    return this.call({ method: 'GET', path: path`/v1/slos/${name}`, options })
  }

  /** @throws {NotFound} */
  delete(name: string, options?: RequestOptions): ApiPromise<void> {
    return this.call({ method: 'DELETE', path: path`/v1/slos/${name}`, options })
  }
}

/** Alerts opened and resolved by SLO burn rates, with their webhook deliveries. */
export class Alerts extends Resource {
  /** Newest first; filter by `state` (open, resolved) and `slo`. */
  list(query: AlertListOptions = {}, options?: RequestOptions): PagePromise<Alert> {
    return this.page({ method: 'GET', path: '/v1/alerts', query, options })
  }
}

/** Where alerts go (admin): each gets a signed POST (`Weft-Signature: t=…,v1=…`). */
export class Webhooks extends Resource {
  /** The answer carries the signing secret, once. */
  create(body: WebhookCreate, options?: RequestOptions): ApiPromise<WebhookWithSecret> {
    return this.call({ method: 'POST', path: '/v1/webhooks', json: body, options })
  }

  list(options?: RequestOptions): ApiPromise<{ items: Webhook[] }> {
    return this.call({ method: 'GET', path: '/v1/webhooks', options })
  }

  /** @throws {NotFound} */
  delete(id: string, options?: RequestOptions): ApiPromise<void> {
    return this.call({ method: 'DELETE', path: path`/v1/webhooks/${id}`, options })
  }
}
