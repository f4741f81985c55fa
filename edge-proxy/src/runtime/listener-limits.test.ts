// The listener limits over real sockets on loopback: raw HTTP/1.1 written by hand, so that oversize headers,
// dribbled headers and bodies, and surplus connections are exactly what a hostile client would send.
import { connect, type Server, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { listen as listenUpstream, memoryLogger, readBody } from '../../test-support/loopback'
import { checkListenerLimits, connectionsCheckingInterval, createLimitedServer, DEFAULT_LISTENER_LIMITS, type ListenerLimits, type ListenerRefusal } from './listener-limits'

type Raw = { status: number; headers: Record<string, string>; body: string; closed: boolean; text: string }

const servers: { close(): unknown }[] = []
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close()
})

/** A limited server around `handler` on 127.0.0.1:0; `refusals` collects what the limits refused. */
async function start(limits: Partial<ListenerLimits>, handler: (request: Request) => Promise<Response> = async () => new Response('ok')) {
  const refusals: ListenerRefusal[] = []
  const logger = memoryLogger()
  const server = createLimitedServer(handler, { name: 'inbound', limits: { ...DEFAULT_LISTENER_LIMITS, ...limits }, logger, onRefusal: (_l, r) => refusals.push(r) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  servers.push({
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  })
  return { server, port: (server.address() as { port: number }).port, refusals, logger }
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket))
    socket.once('error', reject)
  })
}

/** Reads from `socket` until the server closes it (or `ms` pass) and parses the first response on it. */
function readResponse(socket: Socket, ms = 5_000): Promise<Raw> {
  return new Promise((resolve) => {
    let text = ''
    let closed = false
    const done = () => {
      clearTimeout(timer)
      const [head = '', ...rest] = text.split('\r\n\r\n')
      const [statusLine = '', ...lines] = head.split('\r\n')
      const headers: Record<string, string> = {}
      for (const l of lines) {
        const i = l.indexOf(':')
        if (i > 0) headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim()
      }
      resolve({ status: Number(statusLine.split(' ')[1] ?? 0), headers, body: rest.join('\r\n\r\n'), closed, text })
    }
    const timer = setTimeout(done, ms)
    socket.on('data', (d) => (text += d))
    socket.on('error', () => {})
    socket.on('close', () => {
      closed = true
      done()
    })
  })
}

async function exchange(port: number, raw: string): Promise<Raw> {
  const socket = await open(port)
  const answer = readResponse(socket)
  socket.write(raw)
  return answer
}

function expectProblem(r: Raw, status: number, reason: string) {
  expect(r.status, r.text).toBe(status)
  expect(r.headers['content-type']).toBe('application/problem+json')
  expect(r.headers['weft-reason']).toBe(reason)
  expect(r.headers.connection).toBe('close')
  const body = JSON.parse(r.body)
  expect(body).toMatchObject({ type: `https://weft.dev/problems/proxy/${reason}`, status, reason })
  return body as { detail: string }
}

const headerLines = (n: number) => Array.from({ length: n }, (_, i) => `x-h${i}: v\r\n`).join('')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('header limits', () => {
  it('answers 431 problem+json (not Node\'s bare 431) when the headers pass the size limit', async () => {
    const { port, refusals } = await start({ maxHeaderBytes: 4096 })
    const ok = await exchange(port, `GET / HTTP/1.1\r\nhost: a\r\nx-fill: ${'a'.repeat(3000)}\r\nconnection: close\r\n\r\n`)
    expect(ok.status).toBe(200)
    const r = await exchange(port, `GET / HTTP/1.1\r\nhost: a\r\nx-fill: ${'a'.repeat(5000)}\r\n\r\n`)
    expect(expectProblem(r, 431, 'header-too-large').detail).toContain('4096 bytes')
    expect(r.closed).toBe(true)
    expect(refusals).toEqual(['header-too-large'])
  })

  it('answers 431 when a request has more header fields than allowed, counting repeated names', async () => {
    let reached = 0
    const { port, refusals } = await start({ maxHeaders: 10 }, async () => {
      reached++
      return new Response('ok')
    })
    // host + 8 + connection = 10: at the limit.
    expect((await exchange(port, `GET / HTTP/1.1\r\nhost: a\r\n${headerLines(8)}connection: close\r\n\r\n`)).status).toBe(200)
    const r = await exchange(port, `GET / HTTP/1.1\r\nhost: a\r\n${'x-same: 1\r\n'.repeat(10)}\r\n`)
    expect(expectProblem(r, 431, 'header-too-large').detail).toBe('the request has 11 header fields; this listener allows 10')
    expect(r.closed).toBe(true)
    expect(reached).toBe(1)
    expect(refusals).toEqual(['header-too-large'])
  })

  it('answers other parse failures with 400 malformed-request', async () => {
    const { port } = await start({})
    expectProblem(await exchange(port, 'GET / HTTP/1.1\r\nhost: a\r\nbad header line\r\n\r\n'), 400, 'malformed-request')
  })
})

describe('timeouts', () => {
  it('cuts off a client that dribbles its headers (slowloris) with 408 once the headers timeout passes', async () => {
    const { port, refusals } = await start({ headersTimeoutMs: 400, requestTimeoutMs: 2_000 })
    const socket = await open(port)
    const answer = readResponse(socket)
    const started = Date.now()
    socket.write('GET / HTTP/1.1\r\nhost: a\r\n')
    // A header line every 100 ms: never idle long, never finished.
    const drip = setInterval(() => socket.writable && socket.write(`x-${Date.now()}: 1\r\n`), 100)
    const r = await answer
    clearInterval(drip)
    expect(expectProblem(r, 408, 'request-timeout').detail).toContain('headers within 400ms')
    expect(r.closed).toBe(true)
    const took = Date.now() - started
    expect(took).toBeGreaterThanOrEqual(400)
    expect(took).toBeLessThan(2_000)
    expect(refusals).toEqual(['request-timeout'])
  })

  it('cuts off a request whose body does not arrive within the request timeout', async () => {
    let aborted = false
    const { port } = await start({ headersTimeoutMs: 200, requestTimeoutMs: 500 }, async (request) => {
      request.signal.addEventListener('abort', () => (aborted = true))
      await request.text().catch(() => '')
      return new Response('read it all')
    })
    const socket = await open(port)
    const answer = readResponse(socket)
    socket.write('POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 100\r\n\r\n')
    const drip = setInterval(() => socket.writable && socket.write('x'), 100)
    const r = await answer
    clearInterval(drip)
    expectProblem(r, 408, 'request-timeout')
    expect(r.closed).toBe(true)
    for (const until = Date.now() + 2_000; !aborted && Date.now() < until; ) await sleep(10)
    expect(aborted).toBe(true)
  })

  it('closes a keep-alive connection that stays idle past the idle timeout, not before', async () => {
    const { port } = await start({ idleTimeoutMs: 300 })
    const socket = await open(port)
    let closedAt = 0
    socket.on('close', () => (closedAt = Date.now()))
    let text = ''
    socket.on('data', (d) => (text += d))
    socket.write('GET / HTTP/1.1\r\nhost: a\r\n\r\n')
    await sleep(150)
    expect(text).toMatch(/^HTTP\/1\.1 200 /)
    expect(text.toLowerCase()).toContain('keep-alive: timeout=0') // Node advertises whole seconds, rounded down
    const answered = Date.now()
    socket.write('GET / HTTP/1.1\r\nhost: a\r\n\r\n') // still open: a second request is served
    await sleep(100)
    expect(text.match(/HTTP\/1\.1 200/g)).toHaveLength(2)
    for (const until = Date.now() + 3_000; closedAt === 0 && Date.now() < until; ) await sleep(20)
    expect(closedAt).toBeGreaterThan(0)
    expect(closedAt - answered).toBeGreaterThanOrEqual(300)
  })

  it('rejects a headers timeout longer than the request timeout, and checks often enough for short ones', () => {
    expect(() => checkListenerLimits({ ...DEFAULT_LISTENER_LIMITS, headersTimeoutMs: 5_000, requestTimeoutMs: 1_000 })).toThrow(/must not exceed the request timeout/)
    expect(() => checkListenerLimits({ ...DEFAULT_LISTENER_LIMITS, maxHeaders: 0 })).toThrow(/maxHeaders must be a positive integer/)
    expect(checkListenerLimits({ ...DEFAULT_LISTENER_LIMITS, requestTimeoutMs: 0, maxConnections: 0 }).requestTimeoutMs).toBe(0)
    expect(connectionsCheckingInterval(DEFAULT_LISTENER_LIMITS)).toBe(1_000)
    expect(connectionsCheckingInterval({ headersTimeoutMs: 400, requestTimeoutMs: 2_000 })).toBe(100)
  })
})

describe('body size limit', () => {
  /** A handler that streams the request body to a real upstream, as the proxy does (hop-by-hop headers dropped). */
  async function proxyTo(upstreamPort: number) {
    return async (request: Request) => {
      const headers = new Headers(request.headers)
      for (const h of ['host', 'connection', 'transfer-encoding']) headers.delete(h)
      const init: RequestInit & { duplex: 'half' } = { method: request.method, headers, body: request.body, duplex: 'half', signal: request.signal }
      return fetch(`http://127.0.0.1:${upstreamPort}/`, init)
    }
  }

  it('passes a body within the limit through untouched', async () => {
    const upstream = await listenUpstream(async (req, res) => res.end(`got ${(await readBody(req)).length}`))
    servers.push(upstream)
    const { port } = await start({ maxBodyBytes: 1000 }, await proxyTo(upstream.port))
    const r = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: 'x'.repeat(1000) })
    expect(await r.text()).toBe('got 1000')
  })

  it('answers 413 from a declared Content-Length over the limit without calling the handler', async () => {
    let reached = false
    const { port, refusals } = await start({ maxBodyBytes: 1000 }, async () => {
      reached = true
      return new Response('ok')
    })
    const r = await exchange(port, 'POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 1001\r\n\r\n')
    expect(expectProblem(r, 413, 'body-too-large').detail).toBe("Content-Length 1001 exceeds this listener's limit of 1000 bytes")
    expect(r.closed).toBe(true)
    expect(reached).toBe(false)
    expect(refusals).toEqual(['body-too-large'])
  })

  it('counts a chunked body as it streams: 413 once it passes the limit, the upstream request aborted', async () => {
    let upstreamSaw = -1
    let upstreamAborted = false
    const upstream = await listenUpstream((req, res) => {
      let n = 0
      req.on('data', (c: Buffer) => (n += c.length))
      req.on('error', () => {})
      req.on('close', () => {
        upstreamSaw = n
        upstreamAborted = !req.complete
      })
      req.on('end', () => res.end('complete'))
    })
    servers.push(upstream)
    const { port, refusals } = await start({ maxBodyBytes: 10_000 }, await proxyTo(upstream.port))
    const socket = await open(port)
    const answer = readResponse(socket)
    socket.write('POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n')
    const chunk = 'y'.repeat(4096)
    // Three chunks pass the limit in the third; the client would go on sending.
    for (let i = 0; i < 4 && socket.writable; i++) {
      socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`)
      await sleep(30)
    }
    const r = await answer
    expect(expectProblem(r, 413, 'body-too-large').detail).toBe("the request body passed this listener's limit of 10000 bytes")
    expect(r.closed).toBe(true)
    expect(refusals).toEqual(['body-too-large'])
    for (const until = Date.now() + 2_000; upstreamSaw < 0 && Date.now() < until; ) await sleep(10)
    expect(upstreamAborted).toBe(true)
    expect(upstreamSaw).toBeLessThanOrEqual(10_000)
  })
})

describe('connection limit', () => {
  it('closes connections past the limit on accept and keeps serving the ones it holds', async () => {
    const { server, port, refusals, logger } = await start({ maxConnections: 3 })
    const held = await Promise.all([open(port), open(port), open(port)])
    for (let until = Date.now() + 2_000; (await connections(server)) < 3 && Date.now() < until; ) await sleep(10)
    const extra = await open(port) // the kernel accepts; Node then closes it
    const r = await (async () => {
      const answer = readResponse(extra, 2_000)
      extra.write('GET / HTTP/1.1\r\nhost: a\r\n\r\n')
      return answer
    })()
    expect(r.closed).toBe(true)
    expect(r.status).toBe(0)
    expect(refusals).toEqual(['connection-limit'])
    expect(logger.lines.some((l) => l.level === 'warn' && l.msg?.includes('connection limit reached'))).toBe(true)
    // The held connections still work.
    const answer = readResponse(held[0]!)
    held[0]!.write('GET / HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n')
    expect((await answer).status).toBe(200)
    for (const s of held) s.destroy()
    // And with room again, a new connection is served.
    for (let until = Date.now() + 2_000; (await connections(server)) > 0 && Date.now() < until; ) await sleep(10)
    expect((await exchange(port, 'GET / HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n')).status).toBe(200)
  })
})

function connections(server: Server): Promise<number> {
  return new Promise((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))))
}

describe('CONNECT', () => {
  it('answers 405 tunnel-unsupported instead of dropping the socket', async () => {
    const { port, refusals } = await start({})
    const r = await exchange(port, 'CONNECT payments:443 HTTP/1.1\r\nhost: payments:443\r\n\r\n')
    expect(expectProblem(r, 405, 'tunnel-unsupported').detail).toContain('CONNECT payments:443: this listener opens no tunnels')
    expect(r.closed).toBe(true)
    expect(refusals).toEqual(['tunnel-unsupported'])
  })
})

describe('Expect: 100-continue and Host', () => {
  it('sends no 100 Continue for a body declared too large, and does for one within the limit', async () => {
    const { port } = await start({ maxBodyBytes: 100 }, async (r) => new Response(`got ${(await r.text()).length}`))
    const big = await exchange(port, 'POST / HTTP/1.1\r\nhost: a\r\nexpect: 100-continue\r\ncontent-length: 101\r\n\r\n')
    expect(big.text).not.toContain('100 Continue')
    expectProblem(big, 413, 'body-too-large')

    const socket = await open(port)
    let text = ''
    socket.on('data', (d) => (text += d))
    socket.write('POST / HTTP/1.1\r\nhost: a\r\nexpect: 100-continue\r\ncontent-length: 5\r\nconnection: close\r\n\r\n')
    for (const until = Date.now() + 2_000; !text.includes('100 Continue') && Date.now() < until; ) await sleep(10)
    expect(text).toMatch(/^HTTP\/1\.1 100 Continue\r\n/)
    socket.write('hello')
    await new Promise((r) => socket.on('close', r))
    expect(text).toMatch(/HTTP\/1\.1 200 OK[\s\S]*got 5$/)
  })

  it('answers an HTTP/1.1 request without Host with 400 malformed-request', async () => {
    const { port, refusals } = await start({})
    expect(expectProblem(await exchange(port, 'GET / HTTP/1.1\r\n\r\n'), 400, 'malformed-request').detail).toBe('an HTTP/1.1 request without a Host header')
    expect(refusals).toEqual(['malformed-request'])
  })
})

describe('Content-Length framing', () => {
  it('never hands the handler more bytes than a Content-Length within the limit declares', async () => {
    const { port } = await start({ maxBodyBytes: 10 }, async (r) => new Response(`got ${JSON.stringify(await r.text())}`))
    // 10 declared, more sent: the parser takes 10 as the body and reads what follows as the next request.
    const r = await exchange(port, `POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 10\r\n\r\n${'a'.repeat(10)}POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 2\r\nconnection: close\r\n\r\nbb`)
    expect(r.status).toBe(200)
    expect(r.text.match(/got "[ab]*"/g)).toEqual(['got "aaaaaaaaaa"', 'got "bb"'])
    // Content-Length together with Transfer-Encoding (request smuggling) is refused outright.
    const smuggled = await exchange(port, 'POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n')
    expectProblem(smuggled, 400, 'malformed-request')
  })
})

describe('requests the adapter cannot turn into a Request', () => {
  it('answers a bad absolute-form target and a Host-less HTTP/1.0 request with 400 malformed-request', async () => {
    const { port, refusals } = await start({})
    expect(expectProblem(await exchange(port, 'GET http://a:99999/x HTTP/1.1\r\nhost: a\r\n\r\n'), 400, 'malformed-request').detail).toContain('the request target cannot be used')
    expectProblem(await exchange(port, 'GET /x HTTP/1.0\r\n\r\n'), 400, 'malformed-request')
    expect(refusals).toEqual(['malformed-request', 'malformed-request'])
  })

  it('answers a handler that throws with 500 proxy-error, logged', async () => {
    const { port, logger } = await start({}, async () => {
      throw new Error('boom')
    })
    const r = await exchange(port, 'GET / HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n')
    expect(r.status).toBe(500)
    expect(r.headers['weft-reason']).toBe('proxy-error')
    expect(logger.lines.some((l) => l.level === 'error' && String((l.obj as { err?: string }).err).includes('boom'))).toBe(true)
  })
})
