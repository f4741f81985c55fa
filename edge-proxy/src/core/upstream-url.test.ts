// upstreamUrl skips the URL parse for the plain URLs the core builds; whatever the input, it must answer what
// the parse would (pathname + search on the endpoint's address).
import { describe, expect, it } from 'vitest'
import { URL_SAMPLES } from '../../test-support/url-samples'
import { upstreamUrl } from './upstream-errors'

const viaParser = (url: string, host: string, port: number) => {
  const u = new URL(url)
  return `http://${host}:${port}${u.pathname}${u.search}`
}

describe('upstreamUrl', () => {
  it('answers as a URL parse would, for plain and unusual targets', () => {
    for (const url of URL_SAMPLES) {
      expect(upstreamUrl({ url }, { address: '10.0.0.7', port: 9000 }), url).toBe(viaParser(url, '10.0.0.7', 9000))
    }
  })

  it('brackets IPv6 endpoint addresses', () => {
    expect(upstreamUrl({ url: 'http://payments/x' }, { address: '::1', port: 8080 })).toBe('http://[::1]:8080/x')
    expect(upstreamUrl({ url: 'http://payments/x' }, { address: '[::1]', port: 8080 })).toBe('http://[::1]:8080/x')
  })
})
