import type { ApiPromise } from '../api-promise.js'
import type { RequestOptions } from '../http-client.js'
import type { TracingSettings, TracingSettingsPut } from '../types.js'
import { Resource } from './resource.js'

/** Where every proxy of the tenant exports its spans (OTLP/HTTP), and how many traces it samples. */
export class Tracing extends Resource {
  /** The settings; header values come back as `[redacted]`. */
  get(options?: RequestOptions): ApiPromise<TracingSettings> {
    return this.call({ method: 'GET', path: '/v1/tracing', options })
  }

  /**
   * Sets the collector (admin). Leaving `headers` out keeps the current ones; `{}` removes them.
   * @example
   * await weft.tracing.set({ endpoint: 'https://collector.example.com/v1/traces', headers: { 'x-api-key': key }, sampleRate: 0.1 })
   */
  set(body: TracingSettingsPut, options?: RequestOptions): ApiPromise<TracingSettings> {
    return this.call({ method: 'PUT', path: '/v1/tracing', json: body, options })
  }

  /** Turns tracing off (admin). */
  disable(options?: RequestOptions): ApiPromise<void> {
    return this.call({ method: 'DELETE', path: '/v1/tracing', options })
  }
}
