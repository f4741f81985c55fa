import type { ApiPromise, PagePromise } from '../api-promise.js'
import { path, type RequestOptions } from '../http-client.js'
import type { Filter, FilterPush, FilterVersion } from '../types.js'
import { Resource } from './resource.js'

/** The proxy-wasm filter registry. */
export class Filters extends Resource {
  /**
   * Pushes a module (editor). Versions are immutable: the same bytes again answer 200, other bytes 409.
   * The answer's `sha256` can pin the module in a FilterChain.
   * @example
   * const bytes = await readFile('filters/dist/add-header.wasm')
   * const { sha256 } = await weft.filters.push({ name: 'add-header', version: '1.0.0' }, bytes)
   * @throws {ValidationError} not a proxy-wasm module. {@link Conflict} that version exists with other bytes.
   */
  push(ref: FilterPush, module: Uint8Array | ArrayBuffer | Blob, options?: RequestOptions): ApiPromise<FilterVersion> {
    return this.call({ method: 'POST', path: '/v1/filters', query: ref, body: module, contentType: 'application/wasm', options })
  }

  /** Every version of every filter, by name. */
  list(options?: RequestOptions): PagePromise<FilterVersion> {
    return this.page({ method: 'GET', path: '/v1/filters', options })
  }

  /** One filter's versions. @throws {NotFound} */
  get(name: string, options?: RequestOptions): ApiPromise<Filter> {
    return this.call({ method: 'GET', path: path`/v1/filters/${name}`, options })
  }

  /** A module's bytes, by content hash. @throws {NotFound} */
  blob(sha256: string, options?: RequestOptions): ApiPromise<Uint8Array> {
    return this.call({ method: 'GET', path: path`/v1/filters/blobs/${sha256}`, accept: 'bytes', options })
  }
}
