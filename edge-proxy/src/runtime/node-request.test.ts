// How the sidecar's listeners turn a request target into the URL the core sees, and what they refuse.
import { connect } from 'node:net'
import { describe, expect, it } from 'vitest'
import { memoryLogger, testListenerOptions } from '../../test-support/loopback'
import { Http1Server } from './http1-server'
import { createLimitedServer, DEFAULT_LISTENER_LIMITS } from './listener-limits'
import { incomingRequest, RequestTargetError, requestUrl } from './node-request'

const req = (url: string, host?: string) => [url, host] as const

describe('requestUrl', () => {
  it('joins Host and an origin-form target, without parsing when both are plain', () => {
    expect(requestUrl(...req('/charge?x=1', 'payments'))).toBe('http://payments/charge?x=1')
    expect(requestUrl(...req('/a', '127.0.0.1:15006'))).toBe('http://127.0.0.1:15006/a')
  })

  it('lets the URL parser normalise what is not plain (the core normalises the path again for policies)', () => {
    expect(requestUrl(...req('/a/../b c', 'payments'))).toBe('http://payments/b%20c')
    expect(requestUrl(...req('/x', '[::1]:8080'))).toBe('http://[::1]:8080/x')
  })

  it('takes an absolute-form target (the outbound listener is an HTTP proxy)', () => {
    expect(requestUrl(...req('http://payments/charge', 'ignored'))).toBe('http://payments/charge')
    expect(requestUrl(...req('HTTP://Payments:80/x'))).toBe('http://payments/x')
    expect(requestUrl(...req('http://payments:8080/x y'))).toBe('http://payments:8080/x%20y')
    expect(requestUrl(...req('http://payments/Charge?id=A-1&x=%2F'))).toBe('http://payments/Charge?id=A-1&x=%2F')
  })

  it('refuses no Host, a Host that moves the authority, a backslash in the path, and bad absolute forms', () => {
    for (const [url, host] of [
      ['/x', undefined],
      ['/x', ''],
      ['/x', 'evil.com/@payments'],
      ['/x', 'a@b'],
      ['/a\\b', 'payments'],
      ['http://payments/a\\b', undefined],
      ['http://a:99999/x', undefined],
      ['ftp://payments/x', undefined],
      ['*', 'payments'],
    ] as const) {
      expect(() => requestUrl(...req(url, host)), `${url} with Host ${host}`).toThrow(RequestTargetError)
    }
    // A backslash in the query is data, not a path separator.
    expect(requestUrl(...req('/a?q=\\', 'payments'))).toBe('http://payments/a?q=\\')
  })
})

describe('NodeRequest body', () => {
  it('reads a body whole from Node\'s stream when nothing asked for it, and leaves `body` used after', async () => {
    const seen: { text: string; locked: boolean; again: unknown }[] = []
    const server = createLimitedServer(
      async (request) => {
        const bytes = await request.arrayBuffer()
        const again = await request.arrayBuffer().catch((e: unknown) => e)
        seen.push({ text: new TextDecoder().decode(bytes), locked: request.body!.locked, again })
        return new Response('ok')
      },
      { name: 'inbound', limits: DEFAULT_LISTENER_LIMITS, logger: memoryLogger() },
    )
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    try {
      const response = await fetch(`http://127.0.0.1:${(server.address() as { port: number }).port}/x`, { method: 'POST', body: 'hello body' })
      expect(await response.text()).toBe('ok')
      expect([seen[0]!.text, seen[0]!.locked]).toEqual(['hello body', true])
      // As with Fetch: a body is read once.
      expect(seen[0]!.again).toBeInstanceOf(TypeError)
    } finally {
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
    }
  })

  it('reads a chunked body that came whole with its head as exactly its bytes (its chunks joined in a pooled buffer)', async () => {
    const seen: { length: number; text: string }[] = []
    // The listener alone (the listener limits count a chunked body through a stream of their own).
    const server = new Http1Server(
      testListenerOptions((exchange) => {
        void incomingRequest(exchange)
          .arrayBuffer()
          .then((bytes) => {
            seen.push({ length: bytes.byteLength, text: new TextDecoder().decode(bytes) })
            exchange.writeHead(200, undefined, { 'content-length': '2' })
            exchange.end(new TextEncoder().encode('ok'))
          })
      }),
    )
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    try {
      const client = connect((server.address() as { port: number }).port, '127.0.0.1')
      let answer = ''
      client.on('data', (d: Buffer) => (answer += d.toString('latin1')))
      // Head and three chunks in one write: the listener holds the request until the body is complete.
      client.write('POST /x HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\n\r\n')
      for (const end = Date.now() + 2_000; !answer.endsWith('ok') && Date.now() < end; ) await new Promise((r) => setTimeout(r, 5))
      client.destroy()
      expect(seen).toEqual([{ length: 11, text: 'hello world' }])
    } finally {
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
    }
  })
})
