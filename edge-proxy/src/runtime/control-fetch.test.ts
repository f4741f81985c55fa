import { afterEach, describe, expect, it } from 'vitest'
import { listen, readBody, type Loopback } from '../../test-support/loopback'
import { createControlFetch } from './control-fetch'

const open: { close(): unknown }[] = []
afterEach(async () => {
  for (const o of open.splice(0)) await o.close()
})

async function server(handler: Parameters<typeof listen>[0]): Promise<Loopback & { connections: () => number }> {
  let connections = 0
  const lb = await listen(handler)
  lb.server.on('connection', () => connections++)
  open.push(lb)
  return Object.assign(lb, { connections: () => connections })
}

function controlFetch() {
  const f = createControlFetch()
  open.push(f)
  return f
}

describe('the sidecar’s control-plane fetch (node:http)', () => {
  it('sends method, headers and body, and answers a Response with status, headers and body; one kept-alive connection', async () => {
    const seen: { method?: string; auth?: string; type?: string; body: string }[] = []
    const api = await server(async (req, res) => {
      seen.push({ method: req.method, auth: req.headers.authorization, type: req.headers['content-type'], body: (await readBody(req)).toString() })
      res.writeHead(201, { 'content-type': 'application/json', etag: '"r7"', 'set-cookie': ['a=1', 'b=2'] })
      res.end(JSON.stringify({ ok: true, n: seen.length }))
    })
    const f = controlFetch()
    for (let i = 1; i <= 3; i++) {
      const res = await f(`http://127.0.0.1:${api.port}/v1/proxy/telemetry?x=${i}`, {
        method: 'POST',
        headers: { authorization: 'Bearer wfj_x', 'content-type': 'application/json' },
        body: JSON.stringify({ i }),
      })
      expect(res.status).toBe(201)
      expect(res.ok).toBe(true)
      expect(res.headers.get('etag')).toBe('"r7"')
      expect(res.headers.get('set-cookie')).toBe('a=1, b=2')
      expect(await res.json()).toEqual({ ok: true, n: i })
    }
    expect(seen[2]).toEqual({ method: 'POST', auth: 'Bearer wfj_x', type: 'application/json', body: '{"i":3}' })
    expect(api.connections()).toBe(1)
  })

  it('answers 304 with no body, and error statuses as they are', async () => {
    const api = await server((req, res) => {
      if (req.url === '/config') return void res.writeHead(304, { etag: '"r7"' }).end()
      res.writeHead(503, { 'content-type': 'application/problem+json', 'retry-after': '2' }).end('{"type":"x"}')
    })
    const f = controlFetch()
    const notModified = await f(`http://127.0.0.1:${api.port}/config`)
    expect([notModified.status, notModified.body, notModified.headers.get('etag')]).toEqual([304, null, '"r7"'])
    const unavailable = await f(new URL(`http://127.0.0.1:${api.port}/other`))
    expect([unavailable.status, unavailable.headers.get('retry-after'), await unavailable.text()]).toEqual([503, '2', '{"type":"x"}'])
  })

  it('hands binary bodies over byte for byte (filter modules), as bytes or as a stream, once', async () => {
    const blob = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7) % 256))
    const small = Buffer.from('{"keys":[]}')
    const api = await server((req, res) => res.end(req.url === '/small' ? small : blob))
    const f = controlFetch()
    const res = await f(`http://127.0.0.1:${api.port}/v1/filters/blobs/x`)
    expect(res.bodyUsed).toBe(false)
    expect(Buffer.from(await res.arrayBuffer()).equals(blob)).toBe(true)
    expect(res.bodyUsed).toBe(true)
    await expect(res.text()).rejects.toThrow(TypeError)
    // A small body shares Node's Buffer pool: its ArrayBuffer must be its own bytes only.
    expect(Buffer.from(await (await f(`http://127.0.0.1:${api.port}/small`)).arrayBuffer()).equals(small)).toBe(true)
    expect(Buffer.from(await new Response((await f(`http://127.0.0.1:${api.port}/small`)).body).arrayBuffer()).equals(small)).toBe(true)
  })

  it('rejects as fetch does: TypeError "fetch failed" with the socket error as cause', async () => {
    const closed = await server(() => {})
    const port = closed.port
    await closed.close()
    const err = await controlFetch()(`http://127.0.0.1:${port}/`).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TypeError)
    expect((err as Error).message).toBe('fetch failed')
    expect(((err as Error).cause as { code?: string }).code).toBe('ECONNREFUSED')
  })

  it('rejects with the signal’s reason when aborted, before or during the exchange', async () => {
    const api = await server(() => {}) // never answers: a long poll
    const f = controlFetch()
    const before = new AbortController()
    before.abort(new Error('stopped'))
    await expect(f(`http://127.0.0.1:${api.port}/`, { signal: before.signal })).rejects.toThrow('stopped')
    const during = new AbortController()
    const pending = f(`http://127.0.0.1:${api.port}/`, { signal: during.signal })
    setTimeout(() => during.abort(new Error('deadline')), 50)
    await expect(pending).rejects.toThrow('deadline')
  })

  it('refuses what it does not speak', async () => {
    await expect(controlFetch()('ftp://example.com/')).rejects.toThrow(TypeError)
  })
})
