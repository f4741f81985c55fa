import { ApiPromise, PagePromise } from '../api-promise.js'
import type { HttpClient, HttpRequest, RequestOptions } from '../http-client.js'
import type { Page } from '../types.js'

/** Optimistic concurrency: the `ETag` you read, or the resource's `version` (the API's ETag is the quoted version). */
export type IfMatch = { ifMatch?: string | number }

/** The base of every namespace: turns requests into ApiPromises and lists into PagePromises. */
export abstract class Resource {
  constructor(protected readonly http: HttpClient) {}

  protected call<T>(req: HttpRequest): ApiPromise<T> {
    return new ApiPromise(this.http.send<T>(req))
  }

  /**
   * A list route. Unpaginated routes (`{ items }` only) come through here too, as one page, so that every
   * `list()` reads the same, and keeps working if the route starts paging.
   */
  protected page<T>(req: HttpRequest): PagePromise<T> {
    const fetchPage = async (cursor: string | undefined) => {
      const r = await this.http.send<{ items: T[]; nextCursor?: string | null }>(cursor === undefined ? req : { ...req, query: { ...req.query, cursor } })
      return { ...r, data: { items: r.data.items, nextCursor: r.data.nextCursor ?? null } satisfies Page<T> }
    }
    return new PagePromise(fetchPage(undefined), fetchPage)
  }
}

export type { RequestOptions }
