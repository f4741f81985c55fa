// The Node sidecar's fetch for its control-plane calls (config long poll, identity, registration, telemetry,
// JWKS, filter blobs), over node:http(s) with keep-alive. Not Node's global fetch: that is a second undici (the
// one built into Node, beside the data plane's) whose HTTP parser is WebAssembly, and V8 optimising it takes
// ≈ 30 MiB at the peak and leaves several MiB of fragmented malloc arenas behind; node:http parses with the
// native llhttp. So a sidecar that has not forwarded a request yet compiles no WebAssembly parser at all, and
// one that has compiles one (undici's, for its upstreams) instead of two. Bodies are small JSON exchanges
// (and filter modules): the response is read whole.
import type { Agent as HttpAgent, IncomingMessage } from 'node:http'
import type { FetchLike } from '../control/index'
import { ownArrayBuffer } from './node-body'

/** Statuses whose responses carry no body (Fetch's "null body status"). */
const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304])

/**
 * A Response whose body was read whole: text(), json() and arrayBuffer() read that Buffer directly. A Response
 * built on the bytes would copy them into its own stream and copy again to read them: for a snapshot of
 * 1000 services (≈ 1.2 MB) that was ≈ 5 MiB of garbage per poll in a process that otherwise allocates little.
 */
class BufferedResponse extends Response {
  readonly #bytes: Buffer | null
  #used = false
  #stream: ReadableStream<Uint8Array<ArrayBuffer>> | null = null

  constructor(bytes: Buffer | null, status: number, headers: Headers) {
    super(null, { status, headers })
    this.#bytes = bytes
  }

  override get bodyUsed(): boolean {
    return this.#used
  }

  /** A stream of the bytes, for a caller that reads the body as a stream (none of the sidecar's does). */
  override get body(): ReadableStream<Uint8Array<ArrayBuffer>> | null {
    if (this.#bytes === null) return null
    this.#stream ??= new ReadableStream({
      start: (c) => {
        c.enqueue(new Uint8Array(this.#take()))
        c.close()
      },
    })
    return this.#stream
  }

  #take(): Buffer {
    if (this.#used) throw new TypeError('Body is unusable: Body has already been read')
    this.#used = true
    return this.#bytes ?? Buffer.alloc(0)
  }

  override async text(): Promise<string> {
    return this.#take().toString('utf8')
  }

  override async json(): Promise<any> {
    return JSON.parse(await this.text())
  }

  override async arrayBuffer(): Promise<ArrayBuffer> {
    return ownArrayBuffer(this.#take())
  }
}

type Transport = { request: typeof import('node:http').request; agent: HttpAgent }

// Socket inactivity timeout of the keep-alive agents: longer than any control exchange (the client puts its own
// deadline on each, a long poll's included), and needed for Node's agent to honour a server's `Keep-Alive:
// timeout=` hint (it closes an idle socket 1 s before the server would, instead of reusing it into a reset).
const SOCKET_TIMEOUT_MS = 120_000

/**
 * A fetch for `http:` and `https:` URLs: the response arrives with its whole body, as a standard Response.
 * Like fetch, a failed exchange rejects with `TypeError('fetch failed')` and the socket's error (`code`
 * ECONNREFUSED, …) as its cause, and an aborted one with the signal's reason. Unlike fetch it follows no
 * redirects and decodes no content-encoding (it asks for none): the control API answers neither way.
 */
export function createControlFetch(): FetchLike & { close(): void } {
  const transports = new Map<string, Promise<Transport>>()
  // node:https (TLS) is loaded by the first https call only.
  const transportFor = (protocol: string): Promise<Transport> => {
    let t = transports.get(protocol)
    if (!t) {
      t =
        protocol === 'https:'
          ? import('node:https').then((m) => ({ request: m.request as Transport['request'], agent: new m.Agent({ keepAlive: true, timeout: SOCKET_TIMEOUT_MS }) }))
          : import('node:http').then((m) => ({ request: m.request, agent: new m.Agent({ keepAlive: true, timeout: SOCKET_TIMEOUT_MS }) }))
      transports.set(protocol, t)
    }
    return t
  }

  const controlFetch = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    if (input instanceof Request) throw new TypeError('the control fetch takes a URL and init, not a Request')
    const url = new URL(input)
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`the control fetch speaks http and https, not ${url.protocol}`)
    const method = init.method ?? 'GET'
    const body = init.body ?? null
    if (body !== null && typeof body !== 'string' && !(body instanceof Uint8Array)) throw new TypeError('the control fetch sends string or byte bodies only')
    const headers: Record<string, string> = {}
    new Headers(init.headers).forEach((value, name) => (headers[name] = value))
    const signal = init.signal ?? undefined
    signal?.throwIfAborted()
    const { request, agent } = await transportFor(url.protocol)

    const answer = await new Promise<{ res: IncomingMessage; bytes: Buffer }>((resolve, reject) => {
      const fail = (err: unknown) => reject(signal?.aborted ? signal.reason : new TypeError('fetch failed', { cause: err }))
      const req = request(url, { method, headers, agent, signal }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({ res, bytes: Buffer.concat(chunks) }))
        res.on('error', fail)
        res.on('aborted', () => fail(new Error('the response was cut short')))
      })
      req.on('error', fail)
      req.end(body ?? undefined)
    })

    const status = answer.res.statusCode ?? 0
    const responseHeaders = new Headers()
    const raw = answer.res.rawHeaders
    for (let i = 0; i + 1 < raw.length; i += 2) responseHeaders.append(raw[i]!, raw[i + 1]!)
    const nullBody = NULL_BODY_STATUS.has(status) || method === 'HEAD'
    return new BufferedResponse(nullBody ? null : answer.bytes, status, responseHeaders)
  }

  return Object.assign(controlFetch, {
    close() {
      for (const t of transports.values()) void t.then(({ agent }) => agent.destroy())
      transports.clear()
    },
  })
}
