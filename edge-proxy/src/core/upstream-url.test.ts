// upstreamUrl skips the URL parse for the plain URLs the core builds; whatever the input, it must answer what
// the parse would (pathname + search on the endpoint's address).
import { describe, expect, it } from 'vitest'
import { upstreamUrl } from './upstream-errors'

const viaParser = (url: string, host: string, port: number) => {
  const u = new URL(url)
  return `http://${host}:${port}${u.pathname}${u.search}`
}

describe('upstreamUrl', () => {
  it('answers as a URL parse would, for plain and unusual targets', () => {
    for (const url of [
      'http://payments/charge',
      'http://payments/charge?id=A-1&x=%2F',
      'http://payments:8080/a/b;c=d?q=[1]',
      'http://payments',
      'http://payments?x=1',
      'http://payments/p?',
      'http://payments/a/../b',
      'http://payments/a/./b',
      'http://payments/a/%2e%2e/b',
      'http://payments/a/%2E./b?q=%2e',
      'http://payments/a b?c d',
      'http://payments/x#frag',
      'http://payments/é?ü',
      'http://payments/%zz{}|^`',
      'HTTP://Payments:80/X',
      "http://payments/it's?x='1'",
    ]) {
      expect(upstreamUrl({ url }, { address: '10.0.0.7', port: 9000 }), url).toBe(viaParser(url, '10.0.0.7', 9000))
    }
  })

  it('brackets IPv6 endpoint addresses', () => {
    expect(upstreamUrl({ url: 'http://payments/x' }, { address: '::1', port: 8080 })).toBe('http://[::1]:8080/x')
    expect(upstreamUrl({ url: 'http://payments/x' }, { address: '[::1]', port: 8080 })).toBe('http://[::1]:8080/x')
  })
})
