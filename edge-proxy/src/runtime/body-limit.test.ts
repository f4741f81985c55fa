// The body limit in front of the real proxy core, as the sidecar wires it: a body that streams past the limit
// is answered 413 body-too-large, and the upstream that was receiving it is not blamed (no outlier ejection).
import { connect } from 'node:net'
import { ProxyAgent, fetch as undiciFetch } from 'undici'
import { afterAll, describe, expect, it } from 'vitest'
import { fetchApp, fetchUpstream, listen, memoryLogger, readBody, type Loopback } from '../../test-support/loopback'
import { endpoint, outboundService, snapshotOf } from '../../test-support/snapshots'
import { createProxyCore } from '../core/index'
import { bodyTooLarge, withBodyLimit } from './body-limit'
import { createLimitedServer, DEFAULT_LISTENER_LIMITS } from './listener-limits'

const closers: (() => Promise<void>)[] = []
afterAll(async () => {
  for (const c of closers) await c()
})

async function serve(handler: (r: Request) => Promise<Response>, maxBodyBytes: number) {
  const server = createLimitedServer(handler, { name: 'outbound', limits: { ...DEFAULT_LISTENER_LIMITS, maxBodyBytes }, logger: memoryLogger() })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  closers.push(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  )
  return (server.address() as { port: number }).port
}

describe('withBodyLimit', () => {
  it('passes bodiless requests and bodies at the limit unchanged', async () => {
    const echo = withBodyLimit(async (r) => new Response(r.body === null ? 'none' : await r.text()), 5)
    expect(await (await echo(new Request('http://x/'))).text()).toBe('none')
    expect(await (await echo(new Request('http://x/', { method: 'POST', body: '12345' }))).text()).toBe('12345')
    const over = await echo(new Request('http://x/', { method: 'POST', body: '123456' }))
    expect([over.status, over.headers.get('weft-reason')]).toEqual([413, 'body-too-large'])
  })

  it('answers HEAD without a body', async () => {
    const r = bodyTooLarge(10, 'HEAD', 11)
    expect(r.status).toBe(413)
    expect(r.body).toBeNull()
  })

  it('through the proxy core: 413 when a streamed body passes the limit, and the upstream is not ejected for it', async () => {
    let upstreamCompleted = 0
    const upstream: Loopback = await listen(async (req, res) => {
      const body = await readBody(req).catch(() => null)
      if (body !== null) upstreamCompleted++
      res.end(`got ${body?.length}`)
    })
    closers.push(() => upstream.close())
    // One gateway error would eject the only endpoint: a body-limit refusal must not count as one.
    const snapshot = snapshotOf('orders', [
      outboundService('payments', [endpoint('p1', upstream.port)], {
        backendPolicy: { outlierDetection: { consecutiveGatewayErrors: 1, consecutive5xx: 1, interval: '10s', baseEjectionTime: '30s', maxEjectionPercent: 100 } },
      }),
    ])
    const core = createProxyCore({ snapshot: () => snapshot, upstream: fetchUpstream, app: fetchApp(1), identity: { tokenFor: async () => 'token' }, logger: memoryLogger() })
    const port = await serve((r) => core.outbound(r, new URL(r.url).hostname), 64 * 1024)

    // Absolute-form, chunked, 16 KiB chunks: passes 64 KiB in the fifth.
    const socket = connect(port, '127.0.0.1')
    let text = ''
    socket.on('data', (d) => (text += d))
    socket.on('error', () => {})
    const closed = new Promise((r) => socket.on('close', r))
    socket.write('POST http://payments/upload HTTP/1.1\r\nhost: payments\r\ntransfer-encoding: chunked\r\n\r\n')
    const chunk = 'z'.repeat(16 * 1024)
    for (let i = 0; i < 6 && socket.writable && text === ''; i++) {
      socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`)
      await new Promise((r) => setTimeout(r, 20))
    }
    await closed
    expect(text).toMatch(/^HTTP\/1\.1 413 Payload Too Large\r\n/)
    expect(text).toContain('weft-reason: body-too-large')
    expect(text).toContain('"detail":"the request body passed this listener\'s limit of 65536 bytes"')
    expect(upstreamCompleted).toBe(0)
    expect(core.endpoints().find((e) => e.id === 'p1')).toMatchObject({ ejected: false, timesEjected: 0 })

    // The same upstream still serves a body within the limit.
    const viaProxy = new ProxyAgent({ uri: `http://127.0.0.1:${port}`, proxyTunnel: false })
    closers.push(() => viaProxy.close())
    const ok = await undiciFetch('http://payments/small', { method: 'POST', body: 'x'.repeat(1000), dispatcher: viaProxy })
    expect(await ok.text()).toBe('got 1000')
  })
})
