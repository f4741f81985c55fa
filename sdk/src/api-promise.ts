import type { Page } from './types.js'

/** A parsed answer with the headers that matter to callers. */
export type ApiResponse<T> = {
  data: T
  status: number
  headers: Headers
  /** `ETag`: pass it back as `ifMatch` for optimistic concurrency. */
  etag: string | null
  /** `Weft-Revision`: the tenant revision a write produced (proxies converge on it). */
  revision: number | null
  /** `X-Request-Id`: finds the request in the control API's logs. */
  requestId: string | null
}

/**
 * What every SDK call returns: a Promise of the body, and `.withResponse()` for the body together with the
 * status and headers (ETag, revision, request id). The request starts at once, like any promise.
 *
 * @example
 * const service = await weft.services.get('payments')
 * const { data, etag } = await weft.services.get('payments').withResponse()
 */
export class ApiPromise<T> extends Promise<T> {
  // Derived promises (then/catch/finally) are plain Promises: they have no response to expose.
  static override get [Symbol.species](): PromiseConstructor {
    return Promise
  }

  readonly #response: Promise<ApiResponse<T>>
  #data: Promise<T> | undefined

  constructor(response: Promise<ApiResponse<T>>) {
    // The base promise is never observed: then/catch/finally read #response instead.
    super((resolve) => resolve(undefined as T))
    this.#response = response
  }

  /** The body with the status and headers. */
  withResponse(): Promise<ApiResponse<T>> {
    return this.#response
  }

  #body(): Promise<T> {
    return (this.#data ??= this.#response.then((r) => r.data))
  }

  override then<A = T, B = never>(
    onfulfilled?: ((value: T) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.#body().then(onfulfilled, onrejected)
  }

  override catch<B = never>(onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<T | B> {
    return this.#body().catch(onrejected)
  }

  override finally(onfinally?: (() => void) | null): Promise<T> {
    return this.#body().finally(onfinally)
  }
}

/**
 * A list call: await it for the first page (`{ items, nextCursor }`), or iterate it with `for await` for every
 * item across every page, fetching the next page only when the current one is used up.
 *
 * @example
 * for await (const service of weft.services.list({ limit: 100 })) console.log(service.name)
 * const firstPage = await weft.services.list()
 */
export class PagePromise<T> extends ApiPromise<Page<T>> implements AsyncIterable<T> {
  readonly #next: (cursor: string) => Promise<ApiResponse<Page<T>>>

  constructor(first: Promise<ApiResponse<Page<T>>>, next: (cursor: string) => Promise<ApiResponse<Page<T>>>) {
    super(first)
    this.#next = next
  }

  /** Every page, in order, starting with the one this call fetched. */
  async *pages(): AsyncGenerator<Page<T>, void, undefined> {
    let page = (await this.withResponse()).data
    yield page
    while (page.nextCursor) {
      page = (await this.#next(page.nextCursor)).data
      yield page
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    for await (const page of this.pages()) yield* page.items
  }

  /** Every item of every page. Mind the size of what you list. */
  async toArray(): Promise<T[]> {
    const out: T[] = []
    for await (const item of this) out.push(item)
    return out
  }
}
