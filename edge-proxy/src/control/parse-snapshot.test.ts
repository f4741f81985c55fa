import { describe, expect, it } from 'vitest'
import { InvalidSnapshot } from './control-errors'
import { parseSnapshot } from './parse-snapshot'

const good = {
  schema: 'weft.snapshot/v1',
  revision: 7,
  tenant: { slug: 't', trustDomain: 't.weft' },
  issuer: 'http://x',
  service: { name: 'orders', spiffeId: 'spiffe://t.weft/svc/orders', protocol: 'http', port: 80, labels: {}, dependencies: null },
  inbound: { authorization: [], rateLimits: [], faults: [], filterChain: null },
  outbound: {},
  jwks: { keys: [] },
  revokedWorkloads: [],
}

describe('parseSnapshot', () => {
  it('accepts a snapshot of its own service', () => {
    expect(parseSnapshot(JSON.stringify(good), 'orders').revision).toBe(7)
  })

  it.each([
    ['not JSON', '{"schema":', /not JSON/],
    ['an array', '[]', /not a JSON object/],
    ['another schema', JSON.stringify({ ...good, schema: 'weft.snapshot/v2' }), /weft\.snapshot\/v2.*reads weft\.snapshot\/v1/],
    ['another service', JSON.stringify({ ...good, service: { ...good.service, name: 'payments' } }), /"payments", not "orders"/],
    ['no revision', JSON.stringify({ ...good, revision: '7' }), /revision/],
    ['no outbound', JSON.stringify({ ...good, outbound: undefined }), /"outbound"/],
    ['no revocation list', JSON.stringify({ ...good, revokedWorkloads: null }), /revokedWorkloads/],
  ])('refuses %s', (_, body, message) => {
    expect(() => parseSnapshot(body, 'orders')).toThrow(InvalidSnapshot)
    expect(() => parseSnapshot(body, 'orders')).toThrow(message)
  })
})
