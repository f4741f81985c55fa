import { createServer } from 'node:http'
import { connect, createServer as createNetServer, type AddressInfo } from 'node:net'
import { gzipSync } from 'node:zlib'
import { afterEach, describe, expect, it } from 'vitest'
import { Cancellation, classifyUpstreamError } from '../core/index'
import { listen, REFUSED_PORT, testListenerOptions } from '../../test-support/loopback'
import { dispatchFetch } from './dispatch-fetch'
import { Http1Server } from './http1-server'
import { incomingRequest } from './node-request'
import { createUpstreamPool } from './upstream-pool'

const open: { close(): Promise<unknown> }[] = []
afterEach(async () => {
  for (const o of open.splice(0)) await o.close()
})

function pool() {
  const p = createUpstreamPool(1_000)
  open.push(p)
  return p
}

type Init = RequestInit & { duplex?: 'half' }

describe('dispatchFetch', () => {
  it('streams a request body up and a response body down, one chunk at a time', async () => {
    let firstChunk: (text: string) => void = () => {}
    const firstUp = new Promise<string>((r) => (firstChunk = r))
    let release: () => void = () => {}
    const gate = new Promise<void>((r) => (release = r))
    const up = await listen((req, res) => {
      let seen = ''
      req.once('data', (c: Buffer) => firstChunk(c.toString()))
      req.on('data', (c: Buffer) => (seen += c.toString()))
      req.on('end', async () => {
        res.writeHead(200, { 'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2'] })
        res.write(`got ${seen} (${req.headers['transfer-encoding'] ?? 'length'});`)
        await gate
        res.end('last')
      })
    })
    open.push(up)
    let push: ReadableStreamDefaultController<Uint8Array> | undefined
    const body = new ReadableStream<Uint8Array>({ start: (c) => void (push = c) })
    const init: Init = { method: 'POST', body, duplex: 'half' }
    const sent = dispatchFetch(`http://127.0.0.1:${up.port}/up?x=1`, new Request('http://svc/up?x=1', init), pool())
    push!.enqueue(new TextEncoder().encode('hel'))
    // The upstream reads the first chunk while the request body is still open: nothing was buffered.
    expect(await firstUp).toBe('hel')
    push!.enqueue(new TextEncoder().encode('lo'))
    push!.close()
    const response = await sent
    expect(response.status).toBe(200)
    expect(response.headers.getSetCookie()).toEqual(['a=1', 'b=2'])
    // And the response's first chunk arrives before the upstream ended it.
    const reader = response.body!.getReader()
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('got hello (chunked);')
    release()
    let rest = ''
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += new TextDecoder().decode(r.value)
    expect(rest).toBe('last')
  })

  it('sends a byte body (a replayable one, from the core) with its length', async () => {
    const up = await listen((req, res) => {
      let body = ''
      req.on('data', (c: Buffer) => (body += c.toString()))
      req.on('end', () => res.end(`${req.method} ${req.headers['content-length']} ${body} ${req.headers['x-a']}`))
    })
    open.push(up)
    const call = { method: 'PUT', headers: new Headers({ 'x-a': 'b' }), body: new TextEncoder().encode('hello'), signal: new AbortController().signal }
    const response = await dispatchFetch(`http://127.0.0.1:${up.port}/`, call, pool())
    expect(await response.text()).toBe('PUT 5 hello b')
  })

  it('sends a listener\'s request body that had all arrived as held bytes: a PUT is resent once when a reused connection drops it', async () => {
    // The upstream answers the first request of its first connection and drops that connection at the second
    // (as a server closing an idle connection just as a request goes out); later connections are answered.
    let connections = 0
    const seen: string[] = []
    const up = createNetServer((socket) => {
      const n = ++connections
      let buffered = ''
      let requests = 0
      socket.on('data', (d: Buffer) => {
        buffered += d.toString('latin1')
        const end = buffered.indexOf('\r\n\r\n')
        if (end < 0) return
        const length = Number(/content-length: (\d+)/i.exec(buffered.slice(0, end))?.[1] ?? 0)
        if (buffered.length < end + 4 + length) return
        const request = buffered.slice(0, end + 4 + length)
        buffered = buffered.slice(request.length)
        if (n === 1 && ++requests === 2) return void socket.destroy()
        seen.push(`${n} ${request.split(' ', 1)[0]} ${request.slice(end + 4)}`)
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok')
      })
    })
    await new Promise<void>((r) => up.listen(0, '127.0.0.1', r))
    open.push({ close: () => new Promise((r) => up.close(r)) })
    const upPort = (up.address() as AddressInfo).port
    const agent = pool()
    const listener = new Http1Server(
      testListenerOptions((exchange) => {
        void dispatchFetch(`http://127.0.0.1:${upPort}${exchange.target}`, incomingRequest(exchange), agent).then(
          (r) => (exchange.writeHead(r.status, undefined, { 'content-length': '0' }), exchange.end()),
          (e: { code?: string }) => (exchange.writeHead(502, undefined, { 'content-length': '0', 'x-error': String(e.code) }), exchange.end()),
        )
      }),
    )
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r))
    open.push({ close: () => (listener.closeAllConnections(), new Promise((r) => listener.close(r))) })
    const client = connect((listener.address() as AddressInfo).port, '127.0.0.1')
    let answers = ''
    client.on('data', (d: Buffer) => (answers += d.toString('latin1')))
    const answered = async (n: number) => {
      for (const end = Date.now() + 2_000; (answers.match(/HTTP\/1\.1/g) ?? []).length < n && Date.now() < end; ) await new Promise((r) => setTimeout(r, 5))
    }
    client.write('GET /first HTTP/1.1\r\nhost: svc\r\n\r\n')
    await answered(1)
    // Head and body in one read: the body is held whole, so the PUT may go again on a new connection.
    client.write('PUT /second HTTP/1.1\r\nhost: svc\r\ncontent-length: 5\r\n\r\nhello')
    await answered(2)
    client.destroy()
    expect(answers.match(/HTTP\/1\.1 \d+/g)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 200'])
    expect(seen).toEqual(['1 GET ', '2 PUT hello'])
  })

  it('returns redirects as they are and passes encoded bodies through undecoded', async () => {
    const gz = gzipSync('zipped')
    const up = await listen((req, res) => {
      if (req.url === '/moved') res.writeHead(302, { location: '/elsewhere' }).end()
      else res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': gz.byteLength }).end(gz)
    })
    open.push(up)
    const moved = await dispatchFetch(`http://127.0.0.1:${up.port}/moved`, new Request('http://svc/moved'), pool())
    expect(moved.status).toBe(302)
    expect(moved.headers.get('location')).toBe('/elsewhere')
    const zipped = await dispatchFetch(`http://127.0.0.1:${up.port}/z`, new Request('http://svc/z'), pool())
    expect(zipped.headers.get('content-encoding')).toBe('gzip')
    expect(Buffer.from(await zipped.arrayBuffer()).equals(gz)).toBe(true)
  })

  it('answers HEAD, 204 and 304 without a body', async () => {
    const up = await listen((req, res) => {
      if (req.url === '/204') res.writeHead(204).end()
      else if (req.url === '/304') res.writeHead(304, { etag: '"e"' }).end()
      else res.writeHead(200, { 'content-length': '5' }).end(req.method === 'HEAD' ? undefined : 'hello')
    })
    open.push(up)
    const p = pool()
    const head = await dispatchFetch(`http://127.0.0.1:${up.port}/`, new Request('http://svc/', { method: 'HEAD' }), p)
    expect(head.body).toBeNull()
    expect(head.headers.get('content-length')).toBe('5')
    expect((await dispatchFetch(`http://127.0.0.1:${up.port}/204`, new Request('http://svc/204'), p)).body).toBeNull()
    const notModified = await dispatchFetch(`http://127.0.0.1:${up.port}/304`, new Request('http://svc/304'), p)
    expect([notModified.status, notModified.body, notModified.headers.get('etag')]).toEqual([304, null, '"e"'])
    // The connection is still usable afterwards (the empty bodies were consumed).
    expect(await (await dispatchFetch(`http://127.0.0.1:${up.port}/`, new Request('http://svc/'), p)).text()).toBe('hello')
  })

  it('ends the exchange when the signal aborts, with its reason', async () => {
    const up = await listen(() => {})
    open.push(up)
    const controller = new AbortController()
    const sent = dispatchFetch(`http://127.0.0.1:${up.port}/`, new Request('http://svc/', { signal: controller.signal }), pool())
    const reason = new Error('deadline')
    setTimeout(() => controller.abort(reason), 20)
    await expect(sent).rejects.toBe(reason)
  })

  it('rejects with an error the core classifies as a connect failure when nothing listens', async () => {
    const error = await dispatchFetch(`http://127.0.0.1:${REFUSED_PORT}/`, new Request('http://svc/'), pool()).catch((e: unknown) => e)
    expect(classifyUpstreamError(error)).toBe('connect-failure')
  })

  it('ends an exchange when the core\'s own Cancellation aborts it', async () => {
    const server = createServer((_req, res) => {
      res.writeHead(200)
      res.write('partial')
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const port = (server.address() as AddressInfo).port
    const agent = pool()
    try {
      const c = new Cancellation()
      const pending = dispatchFetch(`http://127.0.0.1:${port}/`, { method: 'GET', headers: new Headers(), body: null, signal: c }, agent)
      setTimeout(() => c.abort(new Error('stop')), 50)
      const response = await pending
      await expect(response.text()).rejects.toThrow('stop')
    } finally {
      server.closeAllConnections()
      server.close()
    }
  })
})
