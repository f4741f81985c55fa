import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net'
import { Readable } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { Cancellation, classifyUpstreamError } from '../core/index'
import { listen, readBody, type Loopback, REFUSED_PORT } from '../../test-support/loopback'
import { AgentClosedError, Http1Agent, type Http1Request, type Http1Response } from './http1-agent'

const open: { close(): Promise<unknown> }[] = []
afterEach(async () => {
  for (const o of open.splice(0)) await o.close()
})

function agent(idleMs = 1_000, extra: { maxConnectionsPerOrigin?: number; connectTimeoutMs?: number } = {}): Http1Agent {
  const a = new Http1Agent({ idleMs, ...extra })
  open.push(a)
  return a
}

/** An upstream that advertises a long keep-alive (as the sidecar's listeners do) and counts its connections. */
async function upstream(handler: Parameters<typeof listen>[0] = (_req, res) => res.end('ok')): Promise<Loopback & { connections: () => number }> {
  let connections = 0
  const lb = await listen(handler)
  lb.server.keepAliveTimeout = 300_000
  lb.server.on('connection', () => connections++)
  open.push(lb)
  return Object.assign(lb, { connections: () => connections })
}

/** A TCP server that answers with whatever `answer` writes: for the responses node:http would never send. */
async function rawServer(answer: (socket: Socket, request: string) => void): Promise<{ port: number; connections: () => number }> {
  let connections = 0
  const sockets = new Set<Socket>()
  const server: TcpServer = createTcpServer((socket) => {
    connections++
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    let seen = ''
    socket.on('data', (d) => {
      seen += d.toString('latin1')
      const end = seen.indexOf('\r\n\r\n')
      if (end < 0) return
      const request = seen.slice(0, end)
      seen = seen.slice(end + 4)
      answer(socket, request)
    })
    socket.on('error', () => {})
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  open.push({
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy()
        server.close(() => r())
      }),
  })
  return { port: (server.address() as AddressInfo).port, connections: () => connections }
}

function get(path = '/', extra: Partial<Http1Request> = {}): Http1Request {
  return { method: 'GET', head: `GET ${path} HTTP/1.1\r\nhost: test\r\n\r\n`, body: null, chunked: false, ...extra }
}

async function text(response: Http1Response): Promise<string> {
  if (response.body === null) return ''
  let out = ''
  for await (const chunk of response.body.toReadable()) out += (chunk as Buffer).toString()
  return out
}

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('Http1Agent', () => {
  it('reuses one keep-alive connection for sequential exchanges', async () => {
    const up = await upstream((req, res) => res.end(`hi ${req.url}`))
    const a = agent()
    for (let i = 0; i < 5; i++) expect(await text(await a.send(`http://127.0.0.1:${up.port}`, get(`/${i}`)))).toBe(`hi /${i}`)
    expect(up.connections()).toBe(1)
    expect(a.connections()).toEqual({ [`http://127.0.0.1:${up.port}`]: { busy: 0, idle: 1 } })
  })

  it('opens a connection per concurrent exchange, up to the cap, and queues the rest', async () => {
    const releases: (() => void)[] = []
    const up = await upstream((_req, res) => releases.push(() => res.end('done')))
    const a = agent(1_000, { maxConnectionsPerOrigin: 2 })
    const origin = `http://127.0.0.1:${up.port}`
    const answers = [0, 1, 2].map(() => a.send(origin, get()))
    while (releases.length < 2) await tick(5)
    await tick(30)
    // The third waits for a free connection instead of opening one.
    expect(releases.length).toBe(2)
    expect(up.connections()).toBe(2)
    releases.shift()!()
    while (releases.length < 2) await tick(5)
    for (const r of releases.splice(0)) r()
    expect(await Promise.all(answers.map(async (p) => text(await p)))).toEqual(['done', 'done', 'done'])
    expect(up.connections()).toBe(2)
  })

  it('drops a queued request whose signal aborts, without ever sending it', async () => {
    const seen: string[] = []
    let release: () => void = () => {}
    const up = await upstream((req, res) => {
      seen.push(req.url!)
      if (req.url === '/hold') release = () => res.end('held')
      else res.end('ok')
    })
    const a = agent(1_000, { maxConnectionsPerOrigin: 1 })
    const origin = `http://127.0.0.1:${up.port}`
    const held = a.send(origin, get('/hold'))
    const cancel = new Cancellation()
    const queued = a.send(origin, get('/queued', { signal: cancel }))
    await tick(30)
    const reason = new Error('gave up waiting')
    cancel.abort(reason)
    await expect(queued).rejects.toBe(reason)
    release()
    expect(await text(await held)).toBe('held')
    expect(await text(await a.send(origin, get('/after')))).toBe('ok')
    expect(seen).toEqual(['/hold', '/after'])
    expect(up.connections()).toBe(1)
  })

  it('closes idle connections after the idle time, and a second before a shorter Keep-Alive hint', async () => {
    const up = await upstream()
    const a = agent(200)
    const origin = `http://127.0.0.1:${up.port}`
    await text(await a.send(origin, get()))
    await tick(50)
    await text(await a.send(origin, get()))
    expect(up.connections()).toBe(1)
    await tick(400)
    expect(a.connections()[origin]).toEqual({ busy: 0, idle: 0 })
    await text(await a.send(origin, get()))
    expect(up.connections()).toBe(2)

    // A server that keeps idle connections for 1 s: the agent (idle 30 s) must not reuse one after ~0 s left.
    const short = await upstream()
    short.server.keepAliveTimeout = 1_000
    const b = agent(30_000)
    await text(await b.send(`http://127.0.0.1:${short.port}`, get()))
    await text(await b.send(`http://127.0.0.1:${short.port}`, get()))
    expect(short.connections()).toBe(2)
  })

  it('does not reuse a connection the server asked to close', async () => {
    const up = await upstream((_req, res) => {
      res.setHeader('connection', 'close')
      res.end('bye')
    })
    const a = agent()
    expect(await text(await a.send(`http://127.0.0.1:${up.port}`, get()))).toBe('bye')
    expect(await text(await a.send(`http://127.0.0.1:${up.port}`, get()))).toBe('bye')
    expect(up.connections()).toBe(2)
  })

  it('reads chunked, close-delimited and split-head responses, and skips 1xx answers', async () => {
    const server = await rawServer((socket, request) => {
      const path = request.split(' ')[1]
      if (path === '/chunked') socket.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nset-cookie: a=1\r\nset-cookie: b=2\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n')
      else if (path === '/close') socket.end('HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end')
      else if (path === '/split') {
        socket.write('HTTP/1.1 200 OK\r\nx-fir')
        setTimeout(() => socket.write('st: 1\r\ncontent-le'), 20)
        setTimeout(() => socket.write('ngth: 5\r\n\r\nsp'), 40)
        setTimeout(() => socket.write('lit'), 60)
      } else socket.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok')
    })
    const a = agent()
    const origin = `http://127.0.0.1:${server.port}`
    const chunked = await a.send(origin, get('/chunked'))
    expect([chunked.statusCode, chunked.headers['set-cookie'], await text(chunked)]).toEqual([200, ['a=1', 'b=2'], 'abcde'])
    const closed = await a.send(origin, get('/close'))
    expect(await text(closed)).toBe('until the end')
    const split = await a.send(origin, get('/split'))
    expect([split.headers['x-first'], await text(split)]).toEqual(['1', 'split'])
    const early = await a.send(origin, get('/hints'))
    expect([early.statusCode, early.headers.link, await text(early)]).toEqual([201, undefined, 'ok'])
    // chunked and split kept their connection; close did not: two connections in all.
    expect(server.connections()).toBe(2)
  })

  it('drops the trailer fields of a chunked body, also from the next response on the connection', async () => {
    let n = 0
    const server = await rawServer((socket) => {
      n++
      if (n === 1) {
        // Split so that the trailers arrive in a read of their own.
        socket.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: x-digest\r\n\r\n2\r\nok\r\n0\r\n')
        setTimeout(() => socket.write('x-digest: abc\r\n\r\n'), 20)
      } else socket.write('HTTP/1.1 200 OK\r\ncontent-length: 4\r\nx-second: 1\r\n\r\nnext')
    })
    const a = agent()
    const origin = `http://127.0.0.1:${server.port}`
    const first = await a.send(origin, get())
    expect([await text(first), first.headers['x-digest']]).toEqual(['ok', undefined])
    const second = await a.send(origin, get())
    expect([await text(second), second.headers['x-digest'], second.headers['x-second']]).toEqual(['next', undefined, '1'])
    expect(server.connections()).toBe(1)
  })

  it('reaches an upstream by its IPv6 address', async () => {
    const { createServer } = await import('node:http')
    const server = createServer((req, res) => res.end(`host ${req.headers.host}`))
    const listening = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false))
      server.listen(0, '::1', () => resolve(true))
    })
    if (!listening) return // no IPv6 loopback on this machine
    open.push({ close: () => new Promise<void>((r) => server.close(() => r())) })
    const port = (server.address() as AddressInfo).port
    const response = await agent().send(`http://[::1]:${port}`, { ...get(), head: `GET / HTTP/1.1\r\nhost: [::1]:${port}\r\n\r\n` })
    expect(await text(response)).toBe(`host [::1]:${port}`)
  })

  it('streams a request body up (chunked when its length is unknown) and the response down, with backpressure', async () => {
    let firstChunk: (text: string) => void = () => {}
    const firstUp = new Promise<string>((r) => (firstChunk = r))
    const up = await upstream((req, res) => {
      let seen = ''
      req.once('data', (c: Buffer) => firstChunk(c.toString()))
      req.on('data', (c: Buffer) => (seen += c.toString()))
      req.on('end', () => res.end(`${seen} (${req.headers['transfer-encoding'] ?? req.headers['content-length']})`))
    })
    const a = agent()
    const node = new Readable({ read() {} })
    const answer = a.send(`http://127.0.0.1:${up.port}`, {
      method: 'POST',
      head: 'POST / HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n',
      body: node,
      chunked: true,
    })
    node.push('hel')
    expect(await firstUp).toBe('hel')
    node.push('lo')
    node.push(null)
    expect(await text(await answer)).toBe('hello (chunked)')

    // A large body through a slow reader: the client must not buffer it all (the socket pauses).
    const big = Buffer.alloc(8 * 1024 * 1024, 'x')
    const large = await upstream((_req, res) => res.end(big))
    const response = await a.send(`http://127.0.0.1:${large.port}`, get())
    const readable = response.body!.toReadable()
    readable.pause()
    await tick(100)
    expect(readable.readableLength).toBeLessThan(big.byteLength)
    let length = 0
    for await (const chunk of readable) length += (chunk as Buffer).byteLength
    expect(length).toBe(big.byteLength)
  })

  it('stops an upload the server answered early, delivers the answer, and does not reuse the connection', async () => {
    const up = await upstream((req, res) => {
      req.once('data', () => res.writeHead(413, { 'content-type': 'text/plain' }).end('too big'))
    })
    const a = agent()
    const origin = `http://127.0.0.1:${up.port}`
    const upload = new Readable({ read() {} })
    const answer = a.send(origin, { method: 'POST', head: 'POST / HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n', body: upload, chunked: true })
    upload.push('first')
    const response = await answer
    expect([response.statusCode, await text(response)]).toEqual([413, 'too big'])
    await tick(30)
    // The client's stream is still read (and dropped), so its own connection could carry the 413 on.
    upload.push('more')
    await tick(10)
    expect(upload.readableLength).toBe(0)
    expect(a.connections()[origin]).toEqual({ busy: 0, idle: 0 })
  })

  it('keeps every response intact while many connections read at once (their reads share one buffer)', async () => {
    const pattern = (seed: number) => Buffer.from(Array.from({ length: 3 * 1024 * 1024 + 7 }, (_, i) => (i * 31 + seed) % 251))
    const bodies = [pattern(1), pattern(2), pattern(3), pattern(4)]
    const up = await upstream((req, res) => res.end(bodies[Number(req.url!.slice(1))]))
    const a = agent()
    const origin = `http://127.0.0.1:${up.port}`
    const received = await Promise.all(
      bodies.map(async (_, i) => {
        const response = await a.send(origin, get(`/${i}`))
        const chunks: Buffer[] = []
        // Slow readers hold chunks while the other connections' reads go on.
        for await (const chunk of response.body!.toReadable()) {
          chunks.push(chunk as Buffer)
          if (chunks.length % 8 === 0) await tick(1)
        }
        return Buffer.concat(chunks)
      }),
    )
    received.forEach((body, i) => expect(body.equals(bodies[i]!), `body ${i}`).toBe(true))
  })

  it('sends a byte body and a Web stream body with their framing', async () => {
    const up = await upstream(async (req, res) => res.end(`${req.method} ${req.headers['content-length'] ?? req.headers['transfer-encoding']} ${await readBody(req)}`))
    const a = agent()
    const origin = `http://127.0.0.1:${up.port}`
    const bytes = new TextEncoder().encode('bytes')
    expect(await text(await a.send(origin, { method: 'PUT', head: 'PUT / HTTP/1.1\r\nhost: t\r\ncontent-length: 5\r\n\r\n', body: bytes, chunked: false }))).toBe('PUT 5 bytes')
    const web = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode('we'))
        c.enqueue(new TextEncoder().encode('b'))
        c.close()
      },
    })
    expect(await text(await a.send(origin, { method: 'POST', head: 'POST / HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n', body: web, chunked: true }))).toBe('POST chunked web')
    expect(up.connections()).toBe(1)
  })

  it('answers HEAD without waiting for the body its head announces, and keeps the connection', async () => {
    const up = await upstream((req, res) => {
      res.writeHead(200, { 'content-length': '5' })
      res.end(req.method === 'HEAD' ? undefined : 'hello')
    })
    const a = agent()
    const origin = `http://127.0.0.1:${up.port}`
    const head = await a.send(origin, { ...get(), method: 'HEAD', head: 'HEAD / HTTP/1.1\r\nhost: t\r\n\r\n' })
    expect([head.body, head.headers['content-length']]).toEqual([null, '5'])
    expect(await text(await a.send(origin, get()))).toBe('hello')
    expect(up.connections()).toBe(1)
  })

  it('rejects with a connect failure when nothing listens, and with a reset when the server drops the exchange', async () => {
    const a = agent()
    expect(classifyUpstreamError(await a.send(`http://127.0.0.1:${REFUSED_PORT}`, get()).catch((e: unknown) => e))).toBe('connect-failure')

    const rude = await rawServer((socket) => socket.destroy())
    expect(classifyUpstreamError(await a.send(`http://127.0.0.1:${rude.port}`, get()).catch((e: unknown) => e))).toBe('reset')
    const garbage = await rawServer((socket) => socket.write('NOT HTTP AT ALL\r\n\r\n'))
    const err = await a.send(`http://127.0.0.1:${garbage.port}`, get()).catch((e: unknown) => e)
    expect([classifyUpstreamError(err), String(err)]).toEqual(['reset', expect.stringContaining('malformed response')])
  })

  it('sends an idempotent request again, once, on a new connection when a reused one closes before any answer', async () => {
    // Answers the first request on each connection and keeps it open; closes it at the next one, unanswered (a
    // server whose idle timeout fired just as the request went out).
    let answered = 0
    const racy = await rawServer((socket, request) => {
      const s = socket as Socket & { served?: boolean }
      if (s.served) return void socket.destroy()
      s.served = true
      answered++
      const body = `#${answered} ${request.split(' ')[0]}`
      socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n${body}`)
    })
    const a = agent()
    const origin = `http://127.0.0.1:${racy.port}`
    expect(await text(await a.send(origin, get()))).toBe('#1 GET')
    // The reused connection fails under it; the new one answers.
    expect(await text(await a.send(origin, get()))).toBe('#2 GET')
    expect(racy.connections()).toBe(2)
    const put = { method: 'PUT', head: 'PUT /x HTTP/1.1\r\nhost: test\r\ncontent-length: 2\r\n\r\n', body: new TextEncoder().encode('{}'), chunked: false }
    expect(await text(await a.send(origin, put))).toBe('#3 PUT')
    expect(racy.connections()).toBe(3)

    // Not repeated by the client: a POST (not idempotent), a streamed body (not held), a request whose
    // connection was new.
    const post = { method: 'POST', head: 'POST /x HTTP/1.1\r\nhost: test\r\ncontent-length: 2\r\n\r\n', body: new TextEncoder().encode('{}'), chunked: false }
    expect(classifyUpstreamError(await a.send(origin, post).catch((e: unknown) => e))).toBe('reset')
    expect(racy.connections()).toBe(3)
    await a.send(origin, get())
    const streamed = { method: 'PUT', head: 'PUT /x HTTP/1.1\r\nhost: test\r\ntransfer-encoding: chunked\r\n\r\n', body: Readable.from([Buffer.from('{}')]), chunked: true }
    expect(classifyUpstreamError(await a.send(origin, streamed).catch((e: unknown) => e))).toBe('reset')
    expect(racy.connections()).toBe(4)
    const rude = await rawServer((socket) => socket.destroy())
    expect(classifyUpstreamError(await a.send(`http://127.0.0.1:${rude.port}`, get()).catch((e: unknown) => e))).toBe('reset')
    expect(rude.connections()).toBe(1)
  })

  it('does not send a request a third time when the new connection fails too', async () => {
    let first = true
    const once = await rawServer((socket) => {
      if (!first) return void socket.destroy()
      first = false
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok')
    })
    const a = agent()
    const origin = `http://127.0.0.1:${once.port}`
    expect(await text(await a.send(origin, get()))).toBe('ok')
    expect(classifyUpstreamError(await a.send(origin, get()).catch((e: unknown) => e))).toBe('reset')
    expect(once.connections()).toBe(2)
  })

  it('errors the body when the connection breaks midway', async () => {
    const cut = await rawServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial')
      setTimeout(() => socket.destroy(), 30)
    })
    const response = await agent().send(`http://127.0.0.1:${cut.port}`, get())
    await expect(text(response)).rejects.toThrow(/closed the connection/)
  })

  it('ends the exchange when the signal aborts: before the head it rejects with the reason, after it the body errors', async () => {
    const up = await upstream((req, res) => {
      if (req.url === '/slow') return
      res.writeHead(200)
      res.write('partial')
    })
    const a = agent()
    const origin = `http://127.0.0.1:${up.port}`
    const early = new Cancellation()
    const pending = a.send(origin, get('/slow', { signal: early }))
    const reason = new Error('deadline')
    setTimeout(() => early.abort(reason), 20)
    await expect(pending).rejects.toBe(reason)

    const late = new Cancellation()
    const response = await a.send(origin, get('/partial', { signal: late }))
    setTimeout(() => late.abort(new Error('stop')), 20)
    await expect(text(response)).rejects.toThrow('stop')
    await tick(20)
    // Neither connection is reused: both exchanges were cut off.
    expect(a.connections()[origin]).toEqual({ busy: 0, idle: 0 })
  })

  it('closes a connection whose response body the reader abandoned', async () => {
    const up = await upstream((_req, res) => {
      res.writeHead(200)
      res.write('never ends')
    })
    const a = agent()
    const origin = `http://127.0.0.1:${up.port}`
    const response = await a.send(origin, get())
    response.body!.toReadable().destroy()
    await tick(30)
    expect(a.connections()[origin]).toEqual({ busy: 0, idle: 0 })
  })

  it('closes idle connections on close(), waits for busy ones, and refuses new exchanges', async () => {
    let finish: () => void = () => {}
    const up = await upstream((req, res) => (req.url === '/wait' ? (finish = () => res.end('late')) : res.end('ok')))
    const a = new Http1Agent({ idleMs: 10_000 })
    const origin = `http://127.0.0.1:${up.port}`
    await text(await a.send(origin, get()))
    const busy = a.send(origin, get('/wait'))
    await tick(30)
    let closed = false
    const closing = a.close().then(() => (closed = true))
    await tick(30)
    expect(closed).toBe(false)
    finish()
    expect(await text(await busy)).toBe('late')
    await closing
    await expect(a.send(origin, get())).rejects.toBeInstanceOf(AgentClosedError)
  })

  it('refuses an idle timeout that is not a positive integer', () => {
    expect(() => new Http1Agent({ idleMs: 0 })).toThrow(RangeError)
  })
})

describe('ResponseBody.pipeTo', () => {
  it('writes a body into a Node writable with backpressure, pausing the connection while the writable is full', async () => {
    const big = Buffer.alloc(16 * 1024 * 1024, 'y')
    let unsent = -1
    const up = await upstream((_req, res) => {
      res.end(big)
      setTimeout(() => (unsent = res.writableLength), 150)
    })
    const a = agent()
    const response = await a.send(`http://127.0.0.1:${up.port}`, get())
    let received = 0
    let release: () => void = () => {}
    const gate = new Promise<void>((r) => (release = r))
    const { Writable } = await import('node:stream')
    const finished = new Promise<void>((resolve) => {
      const sink = new Writable({
        highWaterMark: 64 * 1024,
        write(chunk: Buffer, _enc, callback) {
          received += chunk.byteLength
          void gate.then(() => callback())
        },
      })
      sink.on('finish', () => resolve())
      response.body!.pipeTo(sink)
    })
    await tick(200)
    // The reader is stuck: the server could not hand everything to the kernel, so the client stopped reading.
    expect(unsent).toBeGreaterThan(0)
    expect(received).toBeLessThan(big.byteLength)
    release()
    await finished
    expect(received).toBe(big.byteLength)
  })

  it('destroys the writable when the upstream cuts the body off, and closes the connection when the writable goes first', async () => {
    const cut = await rawServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial')
      setTimeout(() => socket.destroy(), 30)
    })
    const a = agent()
    const { PassThrough } = await import('node:stream')
    const sink = new PassThrough()
    const errored = new Promise<Error>((r) => sink.once('error', r))
    ;(await a.send(`http://127.0.0.1:${cut.port}`, get())).body!.pipeTo(sink)
    expect(String(await errored)).toMatch(/closed the connection/)

    const endless = await upstream((_req, res) => {
      res.writeHead(200)
      res.write('more to come')
    })
    const origin = `http://127.0.0.1:${endless.port}`
    const gone = new PassThrough()
    ;(await a.send(origin, get())).body!.pipeTo(gone)
    gone.destroy()
    await tick(30)
    expect(a.connections()[origin]).toEqual({ busy: 0, idle: 0 })
  })
})
