import { afterEach, describe, expect, it } from 'vitest'
import { fetch as undiciFetch } from 'undici'
import { listen, type Loopback } from '../../test-support/loopback'
import { createUpstreamPool } from './upstream-pool'

const open: { close(): Promise<unknown> }[] = []
afterEach(async () => {
  for (const o of open.splice(0)) await o.close()
})

/** An upstream that advertises a long keep-alive (as the sidecar's own listeners do) and counts connections. */
async function upstream(): Promise<Loopback & { connections: () => number }> {
  let connections = 0
  const lb = await listen((_req, res) => res.end('ok'))
  lb.server.keepAliveTimeout = 300_000
  lb.server.on('connection', () => connections++)
  open.push(lb)
  return Object.assign(lb, { connections: () => connections })
}

describe('upstream pool', () => {
  it('reuses a connection within the idle timeout and opens a new one after it, despite a longer server hint', async () => {
    const up = await upstream()
    const pool = createUpstreamPool(200)
    open.push(pool)
    const get = async () => (await undiciFetch(`http://127.0.0.1:${up.port}/`, { dispatcher: pool })).text()
    await get()
    await new Promise((r) => setTimeout(r, 50))
    await get()
    expect(up.connections()).toBe(1)
    await new Promise((r) => setTimeout(r, 400))
    await get()
    expect(up.connections()).toBe(2)
  })

  it('answers `request` (what dispatch-fetch.ts calls) through the same pool', async () => {
    const up = await upstream()
    const pool = createUpstreamPool(1_000)
    open.push(pool)
    for (let i = 0; i < 3; i++) {
      const r = await pool.request({ origin: `http://127.0.0.1:${up.port}`, path: '/', method: 'GET' })
      expect(r.statusCode).toBe(200)
      expect(await r.body.text()).toBe('ok')
      // undici hands the connection back to the pool just after the body ends.
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    expect(up.connections()).toBe(1)
  })

  it('refuses an idle timeout that is not a positive integer', () => {
    expect(() => createUpstreamPool(0)).toThrow(RangeError)
  })
})
