import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import { upstreamUrl, type UpstreamTarget } from '../src/core/index'
import type { Http1ServerOptions, ServerExchange } from '../src/runtime/http1-server'

/**
 * Options for the sidecar's own HTTP/1.1 listener (runtime/http1-server.ts) in tests: generous timeouts checked
 * every 100 ms, a request that cannot be read closes its connection. Spread and override what a test is about.
 */
export function testListenerOptions(onRequest: (exchange: ServerExchange) => void): Http1ServerOptions {
  return {
    maxHeaderBytes: 16 * 1024,
    headersTimeoutMs: 5_000,
    requestTimeoutMs: 10_000,
    idleTimeoutMs: 5_000,
    checkIntervalMs: 100,
    onRequest,
    onClientError: (socket) => socket.destroy(),
  }
}

/** A small HTTP server on 127.0.0.1 with an ephemeral port, for tests. */
export type Loopback = { readonly port: number; readonly server: Server; close(): Promise<void> }

export async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Loopback> {
  const server = createServer(handler)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    port,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/**
 * A loopback port where nothing listens, for "the upstream is down" tests: 2, below the range listen(0) draws
 * from and not on Fetch's list of blocked ports (1 is, so fetch would refuse it without connecting). A port
 * taken from a closed test server is not safe: test files run in parallel, and another one can be given that
 * port in between (then the test sees a reset instead of a refusal).
 */
export const REFUSED_PORT = 2

export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

type Init = RequestInit & { duplex?: 'half' }

/** The transport the tests give the core: Node's fetch straight to the endpoint (what the sidecar will do with undici). */
export function fetchUpstream(request: Request, target: UpstreamTarget): Promise<Response> {
  const init: Init = { method: request.method, headers: request.headers, body: request.body, signal: request.signal, redirect: 'manual' }
  if (request.body !== null) init.duplex = 'half'
  return fetch(upstreamUrl(request, target), init)
}

/** The app side: forwards to a local server at `port`. */
export function fetchApp(port: number): (request: Request) => Promise<Response> {
  return (request) => fetchUpstream(request, { address: '127.0.0.1', port, service: 'app', spiffeId: '', endpointId: 'app' })
}

/**
 * A minimal HTTP front for a core handler, so that tests can send raw request lines (`//admin`, `/%61dmin`)
 * exactly as a client would, the way the Node sidecar will: the raw path goes into the Request URL as is.
 */
export async function serveHandler(handle: (request: Request) => Promise<Response>): Promise<Loopback> {
  return listen(async (req, res) => {
    const headers = new Headers()
    for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!)
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD'
    const init: Init = { method: req.method, headers }
    if (hasBody) {
      init.body = Readable.toWeb(req) as ReadableStream<Uint8Array>
      init.duplex = 'half'
    }
    const response = await handle(new Request(`http://${req.headers.host ?? 'localhost'}${req.url}`, init))
    res.writeHead(response.status, Object.fromEntries(response.headers))
    if (response.body === null) res.end()
    else Readable.fromWeb(response.body as import('node:stream/web').ReadableStream).pipe(res)
  })
}

/** Sends one request with a raw path (no client-side normalisation), returns status, headers and body text. */
export function rawRequest(port: number, path: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  return fetchRaw(port, path, options)
}

async function fetchRaw(port: number, path: string, options: { method?: string; headers?: Record<string, string>; body?: string }) {
  const { request } = await import('node:http')
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.on('error', reject)
    if (options.body !== undefined) req.write(options.body)
    req.end()
  })
}

/** A deterministic [0, 1) generator (mulberry32), so distribution tests give the same answer every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A logger that keeps its lines, for assertions (and silence). */
export function memoryLogger() {
  const lines: { level: string; obj: object; msg?: string }[] = []
  const at = (level: string) => (obj: object, msg?: string) => void lines.push({ level, obj, msg })
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
}
