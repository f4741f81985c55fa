// What a hop forwards of a request's headers (RFC 9110 §7.6.1), and what it never passes on.
import { describe, expect, it } from 'vitest'
import { forwardableHeaders } from './forwarded-headers'

describe('forwardableHeaders', () => {
  it('drops hop-by-hop fields, the ones Connection names, host and Weft identity headers; keeps the rest as they were', () => {
    const incoming = new Headers([
      ['host', 'payments'],
      ['connection', 'keep-alive, X-Session-Hop , bad token'],
      ['keep-alive', 'timeout=5'],
      ['x-session-hop', '1'],
      ['te', 'trailers'],
      ['transfer-encoding', 'chunked'],
      ['upgrade', 'websocket'],
      ['proxy-authorization', 'Basic eA=='],
      ['weft-identity', 'forged'],
      ['weft-source-principal', 'spiffe://x.weft/svc/admin'],
      ['accept', 'text/html'],
      ['accept', 'application/json'],
      ['x-request-id', 'r-1'],
      ['cookie', 'a=1; b=2'],
    ])
    const out = forwardableHeaders(incoming)
    expect([...out]).toEqual([
      ['accept', 'text/html, application/json'],
      ['cookie', 'a=1; b=2'],
      ['x-request-id', 'r-1'],
    ])
    // A copy: the caller's headers are untouched, and changes to the copy stay there.
    out.set('x-added', 'y')
    expect(incoming.get('weft-identity')).toBe('forged')
    expect(incoming.has('x-added')).toBe(false)
  })

  it('keeps repeated Set-Cookie fields apart', () => {
    const incoming = new Headers()
    incoming.append('set-cookie', 'a=1')
    incoming.append('set-cookie', 'b=2')
    expect(forwardableHeaders(incoming).getSetCookie()).toEqual(['a=1', 'b=2'])
  })
})
