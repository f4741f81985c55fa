// The sidecar's response writer, through a real listener: an upstream answer passed on untouched is written
// from undici's own header record and Node stream, one the core changed keeps its changes, and the proxy's own
// answers are sent with a length (or chunked when they stream).
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { listen, memoryLogger } from '../../test-support/loopback'
import { problemResponse, useMadeResponses } from '../core/index'
import { dispatchFetch } from './dispatch-fetch'
import { createLimitedServer, DEFAULT_LISTENER_LIMITS } from './listener-limits'
import { MadeResponse, madeResponse } from './made-response'
import { UpstreamResponse } from './upstream-response'
import { createUpstreamPool } from './upstream-pool'

const open: { close(): unknown }[] = []
afterEach(async () => {
  useMadeResponses(null)
  for (const o of open.splice(0)) await o.close()
})

async function serve(handler: (request: Request) => Promise<Response>): Promise<number> {
  const server = createLimitedServer(handler, { name: 'inbound', limits: DEFAULT_LISTENER_LIMITS, logger: memoryLogger() })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  open.push({ close: () => new Promise((r) => (server.closeAllConnections(), server.close(r))) })
  return (server.address() as { port: number }).port
}

type Got = { status: number; headers: IncomingMessage['headers']; raw: string[]; body: string }
function get(port: number, method = 'GET'): Promise<Got> {
  return new Promise((resolve, reject) =>
    httpRequest({ host: '127.0.0.1', port, path: '/x', method }, (res) => {
      let body = ''
      res.on('data', (d) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, raw: res.rawHeaders, body }))
    })
      .on('error', reject)
      .end(),
  )
}

async function upstream(): Promise<number> {
  const up = await listen((_req, res) => {
    res.writeHead(201, { 'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2'], 'x-up': 'yes', 'keep-alive': 'timeout=99' })
    res.end('from upstream')
  })
  open.push(up)
  return up.port
}

describe('writeResponse', () => {
  it('writes an untouched upstream answer as it came: repeated Set-Cookie kept, hop-by-hop fields dropped', async () => {
    const upPort = await upstream()
    const pool = createUpstreamPool(1_000)
    open.push(pool)
    let seen: unknown = null
    const port = await serve(async (req) => {
      const response = await dispatchFetch(`http://127.0.0.1:${upPort}/x`, req, pool)
      seen = response
      return response
    })
    const got = await get(port)
    expect(seen).toBeInstanceOf(UpstreamResponse)
    expect([got.status, got.body, got.headers['x-up']]).toEqual([201, 'from upstream', 'yes'])
    expect(got.headers['set-cookie']).toEqual(['a=1', 'b=2'])
    // Node's own Keep-Alive hint for this connection, not the upstream's.
    expect(got.headers['keep-alive']).not.toBe('timeout=99')
  })

  it('keeps what the core changed: headers read and replaced, the body still streamed from upstream', async () => {
    const upPort = await upstream()
    const pool = createUpstreamPool(1_000)
    open.push(pool)
    const port = await serve(async (req) => {
      const response = await dispatchFetch(`http://127.0.0.1:${upPort}/x`, req, pool)
      const headers = new Headers(response.headers)
      headers.set('x-added', 'by-core')
      headers.delete('x-up')
      return new Response(response.body, { status: response.status, headers })
    })
    const got = await get(port)
    expect([got.status, got.body, got.headers['x-added'], got.headers['x-up']]).toEqual([201, 'from upstream', 'by-core', undefined])
    expect(got.headers['set-cookie']).toEqual(['a=1', 'b=2'])
  })

  it("sends the proxy's own answer with a Content-Length and its Connection: close, and HEAD without a body", async () => {
    const port = await serve(async (req) => problemResponse('authz-denied', { detail: 'no', headers: { connection: 'close' }, method: req.method }))
    const got = await get(port)
    expect(got.status).toBe(403)
    expect(got.headers['content-length']).toBe(String(Buffer.byteLength(got.body)))
    expect(got.headers.connection).toBe('close')
    expect(JSON.parse(got.body)).toMatchObject({ detail: 'no' })
    const head = await get(port, 'HEAD')
    expect([head.status, head.body]).toEqual([403, ''])
  })

  it("writes the proxy's own answer byte for byte alike as a Fetch Response or as the sidecar's MadeResponse, also when the core read it", async () => {
    const answers: Record<string, Got[]> = {}
    for (const kind of ['fetch', 'made', 'made, read by the core'] as const) {
      useMadeResponses(kind === 'fetch' ? null : madeResponse)
      const port = await serve(async (req) => {
        const r = problemResponse('rate-limited', { detail: 'slow down', headers: { 'Retry-After': '3', connection: 'close' }, method: req.method })
        expect(r instanceof MadeResponse).toBe(kind !== 'fetch')
        if (kind === 'made, read by the core') expect(r.headers.get('weft-reason')).toBe('rate-limited')
        return r
      })
      answers[kind] = [await get(port), await get(port, 'HEAD')]
    }
    const view = (g: Got) => ({ status: g.status, body: g.body, headers: Object.fromEntries(Object.entries(g.headers).filter(([k]) => k !== 'date')) })
    expect(view(answers.made![0]!)).toEqual(view(answers.fetch![0]!))
    expect(view(answers.made![1]!)).toEqual(view(answers.fetch![1]!))
    expect(view(answers['made, read by the core']![0]!)).toEqual(view(answers.fetch![0]!))
    expect(answers.made![0]!.headers).toMatchObject({ 'retry-after': '3', 'content-type': 'application/problem+json', 'weft-reason': 'rate-limited', connection: 'close' })
    expect(JSON.parse(answers.made![0]!.body)).toMatchObject({ status: 429, detail: 'slow down', reason: 'rate-limited' })
  })

  it('streams a body that comes in several chunks, chunked', async () => {
    const port = await serve(async () => {
      const chunks = ['one ', 'two ', 'three']
      const body = new ReadableStream<Uint8Array>({
        pull(c) {
          const next = chunks.shift()
          if (next === undefined) c.close()
          else c.enqueue(new TextEncoder().encode(next))
        },
      })
      return new Response(body, { headers: { 'x-kind': 'stream' } })
    })
    const got = await get(port)
    expect([got.status, got.body, got.headers['transfer-encoding'], got.headers['x-kind']]).toEqual([200, 'one two three', 'chunked', 'stream'])
  })
})
