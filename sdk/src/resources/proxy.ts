import { ApiPromise } from '../api-promise.js'
import type { RequestOptions } from '../http-client.js'
import type { ProxyConfigQuery, Snapshot } from '../types.js'
import { Resource } from './resource.js'

/** Slack over the server's hold time before the client gives up on a long poll. */
const LONG_POLL_SLACK_MS = 15_000
/** Under common proxy and load-balancer idle timeouts (60 s), like the server's own cap of 55 s. */
const DEFAULT_WATCH_WAIT_SECONDS = 30

export type ProxyConfigParams = Omit<ProxyConfigQuery, 'wait'> & {
  /** Seconds the server may hold the request while nothing changes (long poll); it answers 304 after that. */
  wait?: number
  /** The `etag` of the snapshot you hold. */
  ifNoneMatch?: string
}

export type ProxyConfig =
  | { changed: true; snapshot: Snapshot; etag: string; revision: number }
  | { changed: false; snapshot: null; etag: string; revision: number }

/** What proxies read (workload JWT, or a tenant key for inspection). */
export class Proxies extends Resource {
  /**
   * A service's compiled snapshot. With `ifNoneMatch` and `wait`, a long poll: the answer comes when the tenant's
   * revision moves (`changed: true`) or after `wait` seconds (`changed: false`).
   */
  config(params: ProxyConfigParams, options?: RequestOptions): ApiPromise<ProxyConfig> {
    const { ifNoneMatch, wait, ...query } = params
    const answer = this.http
      .send<Snapshot | undefined>({
        method: 'GET',
        path: '/v1/proxy/config',
        // The API takes whole seconds.
        query: { ...query, wait: wait === undefined ? undefined : Math.ceil(wait) },
        ifNoneMatch,
        answers: [304],
        minTimeoutMs: wait ? wait * 1000 + LONG_POLL_SLACK_MS : undefined,
        options,
      })
      .then((r) => {
        const meta = { etag: r.etag ?? '', revision: r.revision ?? 0 }
        const data: ProxyConfig = r.status === 304 ? { changed: false, snapshot: null, ...meta } : { changed: true, snapshot: r.data!, ...meta }
        return { ...r, data }
      })
    return new ApiPromise(answer)
  }

  /**
   * Every new snapshot of a service, as it changes: the current one first, then one per change, by long poll.
   * Ends when the loop breaks or `options.signal` aborts.
   * @example
   * for await (const { snapshot, revision } of weft.proxy.watch({ service: 'payments' })) apply(snapshot)
   */
  async *watch(params: { service: string; wait?: number; ifNoneMatch?: string }, options?: RequestOptions): AsyncGenerator<{ snapshot: Snapshot; etag: string; revision: number }, void, undefined> {
    let etag = params.ifNoneMatch
    for (;;) {
      const r = await this.config({ service: params.service, wait: etag ? (params.wait ?? DEFAULT_WATCH_WAIT_SECONDS) : undefined, ifNoneMatch: etag }, options)
      etag = r.etag
      if (r.changed) yield { snapshot: r.snapshot, etag: r.etag, revision: r.revision }
    }
  }
}
