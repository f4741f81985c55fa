import { describe, expect, it } from 'vitest'
import { listen } from '../../test-support/loopback'
import { adminBindHost, DEFAULT_ADMIN_HOST, isLoopbackHost } from './admin-host'
import { runSidecar } from './node'

describe('admin bind host', () => {
  it('knows loopback addresses from the rest', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', 'LOCALHOST', '::ffff:127.0.0.1']) expect(isLoopbackHost(h), h).toBe(true)
    for (const h of ['0.0.0.0', '::', '10.0.0.5', '192.168.1.1', '::ffff:10.0.0.1', 'example.com', '128.0.0.1', '']) expect(isLoopbackHost(h), h).toBe(false)
  })

  it('defaults to 127.0.0.1 and refuses a non-loopback host unless remote admin is allowed explicitly', () => {
    expect(adminBindHost(undefined, false)).toBe(DEFAULT_ADMIN_HOST)
    expect(DEFAULT_ADMIN_HOST).toBe('127.0.0.1')
    expect(adminBindHost('::1', false)).toBe('::1')
    expect(() => adminBindHost('0.0.0.0', false)).toThrow(/0\.0\.0\.0, which is not a loopback address.*--allow-remote-admin/)
    expect(adminBindHost('0.0.0.0', true)).toBe('0.0.0.0')
  })

  it('runSidecar refuses a non-loopback admin host before contacting the control API', async () => {
    let hits = 0
    const control = await listen((_req, res) => {
      hits++
      res.statusCode = 503
      res.end()
    })
    try {
      await expect(
        runSidecar({ controlUrl: `http://127.0.0.1:${control.port}`, joinToken: 'wfj_x', service: 'orders', appPort: 1, inboundPort: 0, outboundPort: 0, adminPort: 0, adminHost: '0.0.0.0', logLevel: 'silent' }),
      ).rejects.toThrow(/not a loopback address/)
      expect(hits).toBe(0)
    } finally {
      await control.close()
    }
  })
})
