// The sidecar's HTTP/1.1 listener over raw sockets on loopback: framing, keep-alive, pipelining, half-close,
// upgrades, request-body backpressure and shutdown, byte for byte as a client sees them. (The limits on top of
// it, and problem+json refusals, are pinned in listener-limits.test.ts.)
import { connect, createServer, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { testListenerOptions } from '../../test-support/loopback'
import { Http1Server, type ServerExchange } from './http1-server'

const servers: Http1Server[] = []
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections()
    await new Promise((r) => s.close(r))
  }
})

type Handler = (exchange: ServerExchange) => void | Promise<void>

async function start(handler: Handler, options: { idleTimeoutMs?: number } = {}) {
  const sockets: Socket[] = []
  const server = new Http1Server({
    ...testListenerOptions((exchange) => void handler(exchange)),
    idleTimeoutMs: options.idleTimeoutMs ?? 5_000,
    onClientError: (socket, code) => socket.end(`HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: ${code.length}\r\n\r\n${code}`),
  })
  server.on('connection', (s: Socket) => sockets.push(s))
  servers.push(server)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { server, port: (server.address() as { port: number }).port, sockets }
}

/** A client socket that collects everything it receives. */
async function client(port: number) {
  const socket = await new Promise<Socket>((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s))
    s.once('error', reject)
  })
  const state = { text: '', closed: false }
  socket.on('data', (d) => (state.text += d))
  socket.on('error', () => {})
  socket.on('close', () => (state.closed = true))
  const until = async (ok: () => boolean, ms = 2_000) => {
    for (const end = Date.now() + ms; !ok() && Date.now() < end; ) await sleep(5)
    expect(ok(), state.text).toBe(true)
  }
  return { socket, state, until }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const text = (s: string) => new TextEncoder().encode(s)
const answer = (exchange: ServerExchange, body: string, status = 200) => {
  exchange.writeHead(status, undefined, { 'content-type': 'text/plain', 'content-length': String(Buffer.byteLength(body)) })
  exchange.end(text(body))
}
const readAll = async (exchange: ServerExchange) => {
  let s = ''
  for await (const chunk of exchange.body ?? []) s += chunk
  return s
}

describe('framing and keep-alive', () => {
  it('keeps an HTTP/1.1 connection for the next request and frames bodies by length or chunks', async () => {
    const { port } = await start(async (exchange) => {
      if (exchange.target === '/chunked') {
        exchange.writeHead(200, undefined, {})
        exchange.write(text('ab'))
        await sleep(10)
        exchange.write(text('cd'))
        exchange.end()
      } else answer(exchange, `hi ${exchange.target}`)
    })
    const c = await client(port)
    c.socket.write('GET /one HTTP/1.1\r\nhost: a\r\n\r\n')
    await c.until(() => c.state.text.endsWith('hi /one'))
    expect(c.state.text).toMatch(/^HTTP\/1\.1 200 OK\r\ncontent-type: text\/plain\r\ncontent-length: 7\r\ndate: .+ GMT\r\nconnection: keep-alive\r\nkeep-alive: timeout=5\r\n\r\nhi \/one$/)
    c.state.text = ''
    c.socket.write('GET /chunked HTTP/1.1\r\nhost: a\r\n\r\n')
    await c.until(() => c.state.text.endsWith('0\r\n\r\n'))
    expect(c.state.text).toContain('transfer-encoding: chunked\r\n')
    expect(c.state.text.split('\r\n\r\n')[1]).toBe('2\r\nab\r\n2\r\ncd\r\n0')
    expect(c.state.closed).toBe(false)
  })

  it('sends no body for HEAD, 204 and 304, and the connection goes on in step', async () => {
    const { port } = await start((exchange) => {
      const status = exchange.target === '/204' ? 204 : exchange.target === '/304' ? 304 : 200
      exchange.writeHead(status, undefined, { 'content-length': '5' })
      exchange.end(text('hello'))
    })
    const c = await client(port)
    c.socket.write('HEAD /x HTTP/1.1\r\nhost: a\r\n\r\nGET /204 HTTP/1.1\r\nhost: a\r\n\r\nGET /304 HTTP/1.1\r\nhost: a\r\n\r\nGET /x HTTP/1.1\r\nhost: a\r\n\r\n')
    await c.until(() => c.state.text.endsWith('hello'))
    expect(c.state.text.match(/^HTTP\/1\.1 \d+/gm)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 204', 'HTTP/1.1 304', 'HTTP/1.1 200'])
    expect(c.state.text.match(/hello/g)).toHaveLength(1)
  })

  it('answers an HTTP/1.0 client without a length by closing, and keeps one that asked when it can', async () => {
    const { port } = await start((exchange) => {
      if (exchange.target === '/stream') {
        exchange.writeHead(200, undefined, {})
        exchange.end(text('streamed'))
      } else answer(exchange, 'sized')
    })
    const kept = await client(port)
    kept.socket.write('GET /sized HTTP/1.0\r\nconnection: keep-alive\r\n\r\n')
    await kept.until(() => kept.state.text.endsWith('sized'))
    expect(kept.state.text).toContain('connection: keep-alive\r\n')
    kept.socket.write('GET /stream HTTP/1.0\r\nconnection: keep-alive\r\n\r\n')
    await kept.until(() => kept.state.closed)
    expect(kept.state.text).toMatch(/connection: close\r\n\r\nstreamed$/)
    expect(kept.state.text).not.toContain('transfer-encoding')
  })

  it('answers pipelined requests in order, one at a time, however long each takes', async () => {
    let running = 0
    let overlapped = false
    const { port } = await start(async (exchange) => {
      overlapped ||= ++running > 1
      await sleep(exchange.target === '/slow' ? 50 : 1)
      running--
      answer(exchange, exchange.target)
    })
    const c = await client(port)
    c.socket.write('GET /slow HTTP/1.1\r\nhost: a\r\n\r\nGET /fast HTTP/1.1\r\nhost: a\r\n\r\nPOST /post HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\n\r\nabc')
    await c.until(() => c.state.text.endsWith('/post'))
    expect(c.state.text.split('\r\n\r\n').slice(1).map((s) => s.split('HTTP/')[0])).toEqual(['/slow', '/fast', '/post'])
    expect(overlapped).toBe(false)
  })

  it('hands over a request whose body came with its head once the body is complete, and takes it whole', async () => {
    const seen: string[] = []
    const { port } = await start(async (exchange) => {
      const complete = exchange.requestComplete
      const whole = exchange.body!.takeWhole()
      const got = whole !== null ? `whole ${Buffer.from(whole).toString()}` : `streamed ${await readAll(exchange)}`
      seen.push(`${exchange.target} complete=${complete} ${got}`)
      // Once taken, or read, nothing is left to take.
      expect(exchange.body!.takeWhole()).toBe(null)
      answer(exchange, exchange.target)
    })
    const c = await client(port)
    c.socket.write('POST /together HTTP/1.1\r\nhost: a\r\ncontent-length: 5\r\n\r\nhello')
    await c.until(() => c.state.text.endsWith('/together'))
    // Head and part of the body in one read: handed over when that read ends, the rest streams behind.
    c.socket.write('POST /split HTTP/1.1\r\nhost: a\r\ncontent-length: 5\r\n\r\nhel')
    await c.until(() => seen.length === 1 && c.state.text.includes('/together'))
    await sleep(20)
    c.socket.write('lo')
    await c.until(() => c.state.text.endsWith('/split'))
    // Chunked, all in one read: complete too.
    c.socket.write('POST /chunked HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\n\r\n')
    await c.until(() => c.state.text.endsWith('/chunked'))
    expect(seen).toEqual(['/together complete=true whole hello', '/split complete=false streamed hello', '/chunked complete=true whole abc'])
  })

  it('reads and drops the rest of a body answered early, then serves the next request on the connection', async () => {
    const { port } = await start((exchange) => answer(exchange, `early ${exchange.target}`))
    const c = await client(port)
    c.socket.write('POST /a HTTP/1.1\r\nhost: a\r\ncontent-length: 10\r\n\r\n12345')
    await c.until(() => c.state.text.endsWith('early /a'))
    c.socket.write('67890GET /b HTTP/1.1\r\nhost: a\r\n\r\n')
    await c.until(() => c.state.text.endsWith('early /b'))
    expect(c.state.closed).toBe(false)
  })

  it('frames chunks of every size by length or chunked, the first behind the head', async () => {
    // Distinct bytes per chunk, from one byte to more than a socket write takes at once.
    const sizes = [1, 1024, 16 * 1024, 16 * 1024 + 1, 200 * 1024]
    const chunks = sizes.map((n, i) => Buffer.alloc(n, 97 + i))
    const whole = Buffer.concat(chunks)
    const { port } = await start((exchange) => {
      const lengthKnown = exchange.target === '/length'
      exchange.writeHead(200, undefined, lengthKnown ? { 'content-length': String(whole.byteLength) } : {})
      for (const c of chunks.slice(0, -1)) exchange.write(c)
      exchange.end(chunks.at(-1))
    })
    for (const path of ['/length', '/chunked']) {
      const res = await fetch(`http://127.0.0.1:${port}${path}`)
      expect(res.headers.get('transfer-encoding')).toBe(path === '/chunked' ? 'chunked' : null)
      expect(Buffer.from(await res.arrayBuffer()).equals(whole)).toBe(true)
    }
    // The first chunk whole behind the head, in one end(): both framings.
    const { port: port2 } = await start((exchange) => {
      exchange.writeHead(200, undefined, exchange.target === '/length' ? { 'content-length': String(chunks[3]!.byteLength) } : {})
      exchange.end(chunks[3])
    })
    for (const path of ['/length', '/chunked']) {
      const res = await fetch(`http://127.0.0.1:${port2}${path}`)
      expect(Buffer.from(await res.arrayBuffer()).equals(chunks[3]!)).toBe(true)
    }
  })

  it('adds no Date when the answer has one, and honours connection: close from the writer', async () => {
    const { port } = await start((exchange) => {
      exchange.writeHead(200, 'Fine', { date: 'Tue, 01 Jan 2030 00:00:00 GMT', connection: 'close', 'content-length': '0' })
      exchange.end()
    })
    const c = await client(port)
    c.socket.write('GET / HTTP/1.1\r\nhost: a\r\n\r\n')
    await c.until(() => c.state.closed)
    expect(c.state.text).toBe('HTTP/1.1 200 Fine\r\ndate: Tue, 01 Jan 2030 00:00:00 GMT\r\ncontent-length: 0\r\nconnection: close\r\n\r\n')
  })
})

describe('client behaviour', () => {
  it('still answers a client that half-closes after its request, then closes', async () => {
    const { port } = await start(async (exchange) => {
      await sleep(30)
      answer(exchange, 'after your FIN')
    })
    const c = await client(port)
    c.socket.end('GET / HTTP/1.1\r\nhost: a\r\n\r\n')
    await c.until(() => c.state.closed)
    expect(c.state.text).toMatch(/^HTTP\/1\.1 200 OK[\s\S]*connection: close\r\n\r\nafter your FIN$/)
  })

  it('serves an upgrade request as a plain one, never parses what follows it, and closes after the answer', async () => {
    const seen: string[] = []
    const { port } = await start((exchange) => {
      seen.push(exchange.target)
      answer(exchange, 'no upgrade')
    })
    const c = await client(port)
    c.socket.write('GET /ws HTTP/1.1\r\nhost: a\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\nGET /smuggled HTTP/1.1\r\nhost: a\r\n\r\n')
    await c.until(() => c.state.closed)
    expect(seen).toEqual(['/ws'])
    expect(c.state.text).toMatch(/connection: close\r\n\r\nno upgrade$/)
  })

  it('ends the exchange with an error when the client goes away mid-request, and its body fails', async () => {
    let closed: { errored: Error | null; finished: boolean; body: unknown } | undefined
    const { port } = await start(async (exchange) => {
      const body = readAll(exchange).catch((e: unknown) => e)
      exchange.once('close', async () => (closed = { errored: exchange.errored, finished: exchange.writableFinished, body: await body }))
    })
    const c = await client(port)
    c.socket.write('POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 100\r\n\r\npartial')
    await sleep(50)
    c.socket.destroy()
    for (const end = Date.now() + 2_000; closed === undefined && Date.now() < end; ) await sleep(5)
    expect(closed?.errored?.name).toBe('ClientAbortedError')
    expect(closed?.finished).toBe(false)
    expect(closed?.body).toBeInstanceOf(Error)
  })

  describe('a client that stops reading its answer', () => {
    const CHUNK = new Uint8Array(64 * 1024).fill(0x61)
    // More than loopback's socket buffers hold (a few MiB each side), so that an answer that is not read waits.
    const BODY_CHUNKS = 384 // 24 MiB
    /** Writes the body chunk by chunk with backpressure, as the sidecar's writer does; notes how the exchange ended. */
    const bigAnswer = (ended: { closed?: boolean; errored?: Error | null; chunksWritten: number }) => async (exchange: ServerExchange) => {
      exchange.once('close', () => Object.assign(ended, { closed: true, errored: exchange.errored }))
      exchange.writeHead(200, undefined, { 'content-length': String(CHUNK.length * BODY_CHUNKS) })
      for (let i = 0; i < BODY_CHUNKS; i++) {
        if (ended.closed) return
        ended.chunksWritten++
        if (i === BODY_CHUNKS - 1) exchange.end(CHUNK)
        else if (!exchange.write(CHUNK)) await new Promise((r) => (exchange.once('drain', r), exchange.once('close', r)))
      }
    }

    it('is cut off once its answer has not moved for the idle timeout', async () => {
      const ended = { chunksWritten: 0 } as { closed?: boolean; errored?: Error | null; chunksWritten: number }
      const { port } = await start(bigAnswer(ended), { idleTimeoutMs: 300 })
      const c = await client(port)
      const started = Date.now()
      c.socket.pause()
      c.socket.write('GET /big HTTP/1.1\r\nhost: a\r\n\r\n')
      for (const end = Date.now() + 3_000; !ended.closed && Date.now() < end; ) await sleep(10)
      expect(ended.closed).toBe(true)
      // Not before the answer stood still for the idle timeout.
      expect(Date.now() - started).toBeGreaterThanOrEqual(300)
      expect(ended.errored).not.toBeNull()
      expect(ended.chunksWritten).toBeLessThan(BODY_CHUNKS)
    })

    it('is not cut off while it reads, however slowly, in bursts further apart than a check', async () => {
      const ended = { chunksWritten: 0 } as { closed?: boolean; errored?: Error | null; chunksWritten: number }
      const { port } = await start(bigAnswer(ended), { idleTimeoutMs: 600 })
      // Counting bytes only (the client helper keeps the text, too slow for 24 MiB).
      const socket = await new Promise<Socket>((resolve) => {
        const s = connect(port, '127.0.0.1', () => resolve(s))
      })
      let received = 0
      socket.on('data', (d: Buffer) => (received += d.length))
      socket.write('GET /big HTTP/1.1\r\nhost: a\r\n\r\n')
      const total = CHUNK.length * BODY_CHUNKS
      // Pauses longer than two checks and, all together, than the timeout: progress is measured from the last
      // movement. Each burst lasts until something came in (a loaded machine may take a while to deliver it).
      let pauses = 0
      for (const end = Date.now() + 20_000; received < total && Date.now() < end; pauses++) {
        socket.pause()
        await sleep(250)
        const before = received
        socket.resume()
        while (received === before && Date.now() < end) await sleep(1)
        await sleep(5)
      }
      socket.destroy()
      expect(pauses).toBeGreaterThanOrEqual(4)
      expect(received).toBeGreaterThan(total)
      expect(ended).toMatchObject({ closed: true, errored: null, chunksWritten: BODY_CHUNKS })
    })
  })

  // The parser reads the socket's handle itself; a connection handed over whose handle another reader owns is
  // read through the socket's 'data' events instead. Both stop reading while a body is not taken, and read the
  // next request once a body whose last chunk filled it has ended.
  for (const handedOver of [false, true]) {
    it(`stops reading while a body is not taken and reads the next request after it (${handedOver ? 'socket data events' : 'handle read by the parser'})`, async () => {
      let release!: () => void
      const released = new Promise<void>((r) => (release = r))
      const http1 = new Http1Server(
        testListenerOptions(async (exchange) => {
          if (exchange.target === '/big') await released
          const body = await readAll(exchange)
          answer(exchange, `${exchange.target} ${body.length}`)
        }),
      )
      servers.push(http1)
      // Listening (on a port nobody calls): a server that is not answers with connection: close.
      await new Promise<void>((r) => http1.listen(0, '127.0.0.1', r))
      const accepted: Socket[] = []
      const front = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (socket) => {
        if (handedOver) (socket as unknown as { _handle: { _consumed: boolean } })._handle._consumed = true
        accepted.push(socket)
        http1.emit('connection', socket)
      })
      await new Promise<void>((r) => front.listen(0, '127.0.0.1', r))
      try {
        const c = await client((front.address() as { port: number }).port)
        const size = 16 * 1024 * 1024
        c.socket.write(`POST /big HTTP/1.1\r\nhost: a\r\ncontent-length: ${size}\r\n\r\n`)
        c.socket.write(Buffer.alloc(size, 'z'))
        await sleep(300)
        expect(accepted[0]!.bytesRead).toBeLessThan(size / 2)
        release()
        await c.until(() => c.state.text.endsWith(`/big ${size}`), 10_000)
        // Sent only now, in a read of its own.
        c.socket.write('POST /small HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\n\r\nabc')
        await c.until(() => c.state.text.endsWith('/small 3'))
      } finally {
        for (const s of accepted) s.destroy()
        await new Promise((r) => front.close(r))
      }
    })
  }
})

describe('limits and shutdown', () => {
  it('hands a parse error to onClientError and closes the exchanges of the connection', async () => {
    const { port } = await start(() => {})
    const c = await client(port)
    c.socket.write('GET / HTTP/1.1\r\nhost: a\r\nbad header\r\n\r\n')
    await c.until(() => c.state.closed)
    expect(c.state.text).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*HPE_INVALID_HEADER_TOKEN$/)
  })

  it('closes a connection that never sends a request once the headers timeout passes', async () => {
    const server = new Http1Server({ maxHeaderBytes: 1024, headersTimeoutMs: 200, requestTimeoutMs: 0, idleTimeoutMs: 5_000, checkIntervalMs: 50, onRequest: () => {}, onClientError: () => {} })
    servers.push(server)
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const c = await client((server.address() as { port: number }).port)
    await c.until(() => c.state.closed)
    expect(c.state.text).toBe('')
  })

  it('on close() drops idle connections, lets a busy one finish its answer with connection: close, then stops', async () => {
    let release!: () => void
    const released = new Promise<void>((r) => (release = r))
    const { server, port } = await start(async (exchange) => {
      if (exchange.target === '/busy') await released
      answer(exchange, exchange.target)
    })
    const idle = await client(port)
    idle.socket.write('GET /idle HTTP/1.1\r\nhost: a\r\n\r\n')
    await idle.until(() => idle.state.text.endsWith('/idle'))
    const busy = await client(port)
    busy.socket.write('GET /busy HTTP/1.1\r\nhost: a\r\n\r\n')
    await sleep(20)
    let stopped = false
    server.close(() => (stopped = true))
    await idle.until(() => idle.state.closed)
    expect(busy.state.closed).toBe(false)
    release()
    await busy.until(() => busy.state.closed)
    expect(busy.state.text).toMatch(/connection: close\r\n\r\n\/busy$/)
    await busy.until(() => stopped)
  })
})
