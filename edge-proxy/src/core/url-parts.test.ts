// urlParts skips the URL parse for plain URLs; whatever the input, it must answer what the parse would.
import { describe, expect, it } from 'vitest'
import { urlParts } from './url-parts'

const parts = (u: ReturnType<typeof urlParts>) => ({
  hostname: u.hostname,
  host: u.host,
  origin: u.origin,
  pathname: u.pathname,
  search: u.search,
  params: [...u.searchParams],
})

describe('urlParts', () => {
  it('answers as new URL() would, for plain and unusual URLs', () => {
    for (const href of [
      'http://payments/charge',
      'http://payments/charge?id=A-1&x=%2F&x=2',
      'http://payments.ns.svc/a/b;c=d?q=[1]',
      'http://payments:8080/x?y',
      'http://payments:80/x',
      'http://payments:080/x',
      'http://payments:0/x',
      'http://payments/p?',
      "http://payments/it's?x='1'",
      'http://payments/a/../b',
      'http://payments/a/./b',
      'http://payments/a/%2e%2e/b',
      'http://payments/a/%2E./b?q=%2e',
      'http://payments/a/b%2e?x=/../',
      'http://payments/a b?c d',
      'http://payments/x#frag',
      'http://payments/é?ü',
      'http://payments/%zz{}|^`',
      'http://Payments/X',
      'http://127.0.0.1:3000/x',
      'http://10.0.255.9/x?y=1',
      'http://010.0.0.1/x',
      'http://1.2.3/x',
      'http://a.b-c.d9/x',
      'http://0x7f.1/x',
      'http://xn--nxasmq6b/x',
      'http://[::1]:8080/x',
      'https://payments/x',
    ]) {
      expect(parts(urlParts(href)), href).toEqual(parts(new URL(href)))
    }
  })

  it('throws where the parse throws', () => {
    for (const href of ['http://payments:99999/x', 'http://xn--/x', 'http://a1.2/x', 'http://256.1.1.1.1/x', 'not a url']) expect(() => urlParts(href), href).toThrow(TypeError)
  })

  it('parses nothing for a plain URL', () => {
    expect(urlParts('http://payments/charge?id=1')).not.toBeInstanceOf(URL)
    expect(urlParts('http://10.0.0.7:15006/charge')).not.toBeInstanceOf(URL)
    expect(urlParts('http://payments/a/../b')).toBeInstanceOf(URL)
  })
})
