import { describe, expect, it } from 'vitest'
import { parseSpiffeId, spiffeIdOf } from './spiffe'
import { SpiffeIdInvalid } from './svid-errors'

describe('spiffeIdOf / parseSpiffeId', () => {
  it('round-trips a workload ID', () => {
    const id = spiffeIdOf('acme.weft', 'payments')
    expect(id).toBe('spiffe://acme.weft/svc/payments')
    expect(parseSpiffeId(id)).toEqual({ trustDomain: 'acme.weft', service: 'payments' })
  })

  it.each([
    ['wrong scheme', 'https://acme.weft/svc/payments'],
    ['no path', 'spiffe://acme.weft'],
    ['empty trust domain', 'spiffe:///svc/payments'],
    ['upper-case trust domain', 'spiffe://Acme.weft/svc/payments'],
    ['upper-case service', 'spiffe://acme.weft/svc/Payments'],
    ['other path shape', 'spiffe://acme.weft/ns/default/sa/payments'],
    ['nested service path', 'spiffe://acme.weft/svc/payments/v2'],
    ['trailing slash', 'spiffe://acme.weft/svc/payments/'],
    ['empty service', 'spiffe://acme.weft/svc/'],
    ['service starting with "-"', 'spiffe://acme.weft/svc/-payments'],
    ['service longer than 63', `spiffe://acme.weft/svc/${'a'.repeat(64)}`],
    ['port in trust domain', 'spiffe://acme.weft:443/svc/payments'],
    ['userinfo', 'spiffe://user@acme.weft/svc/payments'],
    ['query', 'spiffe://acme.weft/svc/payments?x=1'],
    ['percent-encoding', 'spiffe://acme.weft/svc/pay%6dents'],
    ['empty label in trust domain', 'spiffe://acme..weft/svc/payments'],
    ['not a string', 42 as unknown as string],
  ])('rejects %s', (_, id) => {
    expect(() => parseSpiffeId(id)).toThrow(SpiffeIdInvalid)
  })

  it('refuses to build an ID from bad parts', () => {
    expect(() => spiffeIdOf('acme.weft', 'Payments')).toThrow(SpiffeIdInvalid)
    expect(() => spiffeIdOf('acme/weft', 'payments')).toThrow(SpiffeIdInvalid)
    expect(() => spiffeIdOf('', 'payments')).toThrow(SpiffeIdInvalid)
  })

  it('carries a stable code', () => {
    try {
      parseSpiffeId('nope')
      expect.unreachable()
    } catch (err) {
      expect((err as SpiffeIdInvalid).code).toBe('ERR_SPIFFE_ID_INVALID')
    }
  })
})
