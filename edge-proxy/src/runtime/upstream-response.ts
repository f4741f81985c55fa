// An upstream's (or the app's) answer on the Node sidecar, Response-shaped for the core but built lazily: the
// core reads `status` on every request and `headers` or `body` only when a filter, a header modifier or a
// retry asks. Until then the listener writes the client's header record and body as they came
// (node-response.ts), and no Headers object, stream or Response is made for the request at all.
import type { Readable } from 'node:stream'
import { lazyWebStream, NodeBackedResponse, takeNodeStream, usedBody } from './node-body'
import type { ResponseBody } from './response-body'

/** Header values as http1-agent.ts gives them: lower-case names, repeated fields as arrays. */
export type RawHeaders = Record<string, string | string[] | undefined>

export class UpstreamResponse extends NodeBackedResponse {
  readonly #raw: RawHeaders
  /** null: a response without a body (HEAD, 204, 304…). */
  readonly #source: ResponseBody | null
  #headers: Headers | undefined
  #body: ReadableStream<Uint8Array> | null | undefined

  constructor(status: number, raw: RawHeaders, source: ResponseBody | null) {
    super(status)
    this.#raw = raw
    this.#source = source
  }

  get headers(): Headers {
    if (this.#headers === undefined) {
      const headers = new Headers()
      for (const name in this.#raw) {
        const value = this.#raw[name]
        if (value === undefined) continue
        if (typeof value === 'string') headers.append(name, value)
        else for (const v of value) headers.append(name, v)
      }
      this.#headers = headers
    }
    return this.#headers
  }

  get body(): ReadableStream<Uint8Array> | null {
    if (this.#body === undefined) this.#body = this.#source === null ? null : lazyWebStream(this.#source.toReadable())
    return this.#body
  }

  protected takeUnread(): Readable | null {
    if (this.#body !== undefined || this.#source === null) return null
    this.#body = usedBody()
    return this.#source.toReadable()
  }

  get bodyUsed(): boolean {
    return this.#body != null && this.#body.locked
  }

  /**
   * For the listener's writer: the client's header record and body, when the core touched neither (then
   * nothing it did can be lost by writing them as they came); null otherwise. The body is the caller's then:
   * the connection's own when nothing asked for a stream, else the Node stream behind an unread Web stream.
   */
  takeUntouched(): { headers: RawHeaders; body: ResponseBody | Readable | null } | null {
    if (this.#headers !== undefined) return null
    if (this.#source === null) return { headers: this.#raw, body: null }
    if (this.#body !== undefined) {
      const readable = this.#body === null ? null : takeNodeStream(this.#body)
      return readable === null ? null : { headers: this.#raw, body: readable }
    }
    this.#body = null
    return { headers: this.#raw, body: this.#source }
  }

  clone(): never {
    throw new TypeError('an upstream response on the Node sidecar cannot be cloned; read its body once')
  }
}
