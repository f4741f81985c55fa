import { request as httpRequest, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { listen, memoryLogger } from '../../test-support/loopback'
import { dispatchFetch } from './dispatch-fetch'
import { createLimitedServer, DEFAULT_LISTENER_LIMITS } from './listener-limits'
import { createUpstreamPool } from './upstream-pool'

const open: { close(): unknown }[] = []
afterEach(async () => {
  for (const o of open.splice(0)) await o.close()
})

/** A listener whose handler forwards to `upstreamPort` through dispatchFetch, after `touch` (the core's part). */
async function proxy(upstreamPort: number, touch: (r: Response) => Response = (r) => r): Promise<number> {
  const pool = createUpstreamPool(1_000)
  open.push(pool)
  const server = createLimitedServer(async (req) => touch(await dispatchFetch(`http://127.0.0.1:${upstreamPort}${new URL(req.url).pathname}`, req, pool)), {
    name: 'inbound',
    limits: DEFAULT_LISTENER_LIMITS,
    logger: memoryLogger(),
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  open.push({ close: () => new Promise((r) => (server.closeAllConnections(), server.close(r))) })
  return (server.address() as AddressInfo).port
}

function get(port: number, path: string, method = 'GET'): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => httpRequest({ host: '127.0.0.1', port, path, method }, resolve).on('error', reject).end())
}

describe('upstream bodies written by the listener', () => {
  it('pipes an untouched upstream body through as it streams, with its cookies and without hop-by-hop fields', async () => {
    let release: () => void = () => {}
    const gate = new Promise<void>((r) => (release = r))
    const up = await listen(async (_req, res) => {
      res.writeHead(200, { 'set-cookie': ['a=1', 'b=2'], connection: 'close', 'x-up': 'yes' })
      res.write('first;')
      await gate
      res.end('last')
    })
    open.push(up)
    const res = await get(await proxy(up.port), '/s')
    expect(res.statusCode).toBe(200)
    expect(res.headers['set-cookie']).toEqual(['a=1', 'b=2'])
    expect(res.headers['x-up']).toBe('yes')
    // The upstream's `Connection: close` is about its own connection: this one stays open.
    expect(res.headers.connection).toBe('keep-alive')
    const first = await new Promise<string>((r) => res.once('data', (c: Buffer) => r(c.toString())))
    expect(first).toBe('first;')
    release()
    let rest = ''
    for await (const c of res) rest += (c as Buffer).toString()
    expect(rest).toBe('last')
  })

  it('writes a body the core read or replaced through the general path, and HEAD without a body', async () => {
    const up = await listen((req, res) => res.writeHead(200, { 'content-length': '5' }).end(req.method === 'HEAD' ? undefined : 'hello'))
    open.push(up)
    const port = await proxy(up.port, (r) => new Response(r.body!.pipeThrough(new TransformStream({ transform: (c, ctl) => ctl.enqueue(c) })), r))
    const res = await get(port, '/')
    let text = ''
    for await (const c of res) text += (c as Buffer).toString()
    expect(text).toBe('hello')
    const head = await get(await proxy(up.port), '/', 'HEAD')
    expect([head.statusCode, head.headers['content-length']]).toEqual([200, '5'])
  })
})
