// The Node control API's webhook fetch: a name resolving to an internal address is refused before any
// connection (the check is on the resolved address, so a public-looking name does not get through), a literal
// internal address too; public addresses pass through unchanged; WEFT_WEBHOOK_ALLOW_PRIVATE turns it off.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isInternalAddress } from '../slo/webhook-url'
import { InternalWebhookAddressError, publicOnlyLookup, webhookFetch } from './node-webhook-fetch'

let server: Server
let port = 0
let hits = 0
beforeAll(async () => {
  server = createServer((_req, res) => {
    hits++
    res.end('ok')
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  port = (server.address() as AddressInfo).port
})
afterAll(() => new Promise<void>((r) => server.close(() => r())))

/** DNS as the test says: every name resolves to `address`. */
const resolvesTo = (address: string) => (_host: string, _o: unknown, cb: (err: null, a: { address: string; family: number }[]) => void) =>
  cb(null, [{ address, family: address.includes(':') ? 6 : 4 }])

describe('webhookFetch on Node', () => {
  it('refuses a DNS name that resolves to loopback, before connecting, and says why', async () => {
    const hooks = webhookFetch({ allowPrivate: false, resolve: resolvesTo('127.0.0.1') })
    try {
      const err = (await hooks.fetch(`http://alerts.example.com:${port}/hook`, { method: 'POST', body: '{}' }).catch((e: unknown) => e)) as Error
      expect(err).toBeInstanceOf(TypeError)
      expect(err.cause).toBeInstanceOf(InternalWebhookAddressError)
      expect((err.cause as Error).message).toContain('"alerts.example.com" resolves to 127.0.0.1')
      expect(hits).toBe(0)
    } finally {
      await hooks.close()
    }
  })

  it('refuses a literal internal address without resolving anything', async () => {
    const hooks = webhookFetch({ allowPrivate: false, resolve: () => expect.unreachable('no lookup for a literal') })
    await expect(hooks.fetch(`http://127.0.0.1:${port}/hook`)).rejects.toBeInstanceOf(InternalWebhookAddressError)
    await expect(hooks.fetch(`http://[::ffff:10.0.0.1]:${port}/hook`)).rejects.toBeInstanceOf(InternalWebhookAddressError)
    await hooks.close()
    expect(hits).toBe(0)
  })

  it('delivers to loopback when WEFT_WEBHOOK_ALLOW_PRIVATE is set', async () => {
    const hooks = webhookFetch({ allowPrivate: true })
    const res = await hooks.fetch(`http://127.0.0.1:${port}/hook`, { method: 'POST', body: '{}' })
    expect([res.status, await res.text(), hits]).toEqual([200, 'ok', 1])
  })

  it('the lookup passes public addresses through in the shape net.connect asked for', () => {
    const lookup = publicOnlyLookup(resolvesTo('93.184.216.34') as never)
    const one: unknown[] = []
    lookup('example.com', {}, (...args) => one.push(...args))
    expect(one).toEqual([null, '93.184.216.34', 4])
    const all: unknown[] = []
    lookup('example.com', { all: true }, (...args) => all.push(...args))
    expect(all).toEqual([null, [{ address: '93.184.216.34', family: 4 }]])
  })

  it('judges addresses: private, loopback, link-local, CGNAT, multicast and mapped ones are internal', () => {
    for (const a of ['10.1.2.3', '127.0.0.1', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '::1', '::', 'fd00::1', 'fe80::1', '::ffff:127.0.0.1', 'ff02::1']) {
      expect([a, isInternalAddress(a)]).toEqual([a, true])
    }
    for (const a of ['93.184.216.34', '8.8.8.8', '2606:4700::1111', '::ffff:8.8.8.8', 'example.com']) expect([a, isInternalAddress(a)]).toEqual([a, false])
  })
})
