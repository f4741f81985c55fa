// urlParts skips the URL parse for plain URLs; whatever the input, it must answer what the parse would.
import { describe, expect, it } from 'vitest'
import { URL_SAMPLES } from '../../test-support/url-samples'
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
    for (const href of URL_SAMPLES) {
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
