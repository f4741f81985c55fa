// A response the Node sidecar makes itself (a problem+json refusal: 401, 403, 429, 503…), Response-shaped for
// the core but built lazily, as upstream-response.ts does for an upstream's answer: Fetch's Response made a
// Headers object and a Web stream over its body for every refusal, and the listener read the stream back
// (≈ 30 µs of the ≈ 115 a refused request cost the inbound hop on the bench mesh). Until the core asks for
// `headers` or `body`, the listener writes the fields and the bytes as they are (node-response.ts).
import { Readable } from 'node:stream'
import { NodeBackedResponse, usedBody } from './node-body'

export class MadeResponse extends NodeBackedResponse {
  readonly #fields: Record<string, string>
  readonly #text: string | null
  #headers: Headers | undefined
  #body: ReadableStream<Uint8Array> | null | undefined

  constructor(status: number, fields: Record<string, string>, text: string | null) {
    super(status)
    this.#fields = fields
    this.#text = text
  }

  get headers(): Headers {
    return (this.#headers ??= new Headers(this.#fields))
  }

  get body(): ReadableStream<Uint8Array> | null {
    if (this.#body === undefined) this.#body = this.#text === null ? null : new Response(this.#text).body
    return this.#body
  }

  protected takeUnread(): Readable | null {
    if (this.#body !== undefined || this.#text === null) return null
    this.#body = usedBody()
    return Readable.from([Buffer.from(this.#text)])
  }

  get bodyUsed(): boolean {
    return this.#body != null && this.#body.locked
  }

  /**
   * For the listener's writer: the fields and the body's bytes when the core asked for neither (then nothing
   * it did can be lost by writing them as they are); null otherwise. The body reads as used after.
   */
  takeUntouched(): { fields: Record<string, string>; bytes: Buffer | null } | null {
    if (this.#headers !== undefined || this.#body !== undefined) return null
    this.#body = this.#text === null ? null : usedBody()
    return { fields: this.#fields, bytes: this.#text === null ? null : Buffer.from(this.#text) }
  }

  clone(): MadeResponse {
    if (this.bodyUsed || (this.#body !== undefined && this.#body !== null)) throw new TypeError('a response whose body was asked for cannot be cloned')
    return new MadeResponse(this.status, { ...this.#fields }, this.#text)
  }
}

/** The factory the Node entry hands to useMadeResponses (core/problem-response.ts). */
export const madeResponse = (status: number, fields: Record<string, string>, text: string | null): Response => new MadeResponse(status, fields, text) as unknown as Response
