import { beforeAll, describe, expect, it } from 'vitest'
import { createFilterHost, type FilterHost } from '../../edge-proxy/src/wasm/filter-host'
import { FilterConfigError } from '../../edge-proxy/src/wasm/wasm-errors'
import { compileFilter } from '../test-helpers'

let module: WebAssembly.Module
beforeAll(async () => {
  module = await compileFilter('cors')
})

const base = {
  allowOrigins: ['https://app.example.com', 'https://*.shop.example'],
  allowMethods: ['GET', 'POST', 'DELETE'],
  allowHeaders: ['Content-Type', 'Authorization'],
  exposeHeaders: ['x-request-id'],
  maxAge: 600,
  allowCredentials: true,
}
const cors = (config: object = base) => createFilterHost({ module, rootId: 'cors', config: JSON.stringify(config) })

async function preflight(host: FilterHost, headers: Record<string, string>) {
  const stream = host.startStream({ method: 'OPTIONS', path: '/orders' })
  const result = await stream.onRequestHeaders(headers)
  stream.finish()
  return result
}

/** A request that reaches the upstream, and the response headers the filter leaves on its way back. */
async function exchange(host: FilterHost, headers: Record<string, string>, upstream: Record<string, string> = {}) {
  const stream = host.startStream({ method: 'GET', path: '/orders' })
  const request = await stream.onRequestHeaders(headers)
  expect(request.action).toBe('continue')
  const response = await stream.onResponseHeaders({ 'content-type': 'application/json', ...upstream }, { status: 200 })
  stream.finish()
  if (response.action !== 'continue') throw new Error('cors answered a response')
  return response.headers
}

describe('cors filter', () => {
  it('answers an allowed preflight locally with 204 and the configured policy', async () => {
    const result = await preflight(cors(), {
      origin: 'https://app.example.com',
      'access-control-request-method': 'delete',
      'access-control-request-headers': 'content-type, Authorization',
    })
    expect(result.action).toBe('respond')
    if (result.action !== 'respond') return
    expect(result.status).toBe(204)
    expect(result.details).toBe('cors_preflight')
    expect(Object.fromEntries(result.headers)).toEqual({
      'access-control-allow-origin': 'https://app.example.com',
      'access-control-allow-methods': 'GET, POST, DELETE',
      'access-control-allow-headers': 'Content-Type, Authorization',
      'access-control-max-age': '600',
      'access-control-allow-credentials': 'true',
      vary: 'origin, access-control-request-method, access-control-request-headers',
    })
    expect(result.body.length).toBe(0)
  })

  it.each([
    ['an unknown origin', { origin: 'https://evil.example', 'access-control-request-method': 'GET' }, 'origin not allowed'],
    ['a look-alike of the wildcard domain', { origin: 'https://evilshop.example', 'access-control-request-method': 'GET' }, 'origin not allowed'],
    ['a method not allowed', { origin: 'https://app.example.com', 'access-control-request-method': 'PUT' }, 'method not allowed'],
    ['a header not allowed', { origin: 'https://app.example.com', 'access-control-request-method': 'GET', 'access-control-request-headers': 'x-secret' }, 'header x-secret not allowed'],
  ])('refuses a preflight with %s: 403 problem+json', async (_case, headers, detail) => {
    const result = await preflight(cors(), headers)
    expect(result.action).toBe('respond')
    if (result.action !== 'respond') return
    expect(result.status).toBe(403)
    expect(result.headers.get('content-type')).toBe('application/problem+json')
    expect(result.headers.has('access-control-allow-origin')).toBe(false)
    expect(JSON.parse(new TextDecoder().decode(result.body))).toMatchObject({ status: 403, detail })
  })

  it('lets an OPTIONS that is no preflight through to the upstream', async () => {
    expect((await preflight(cors(), { origin: 'https://app.example.com' })).action).toBe('continue')
    expect((await preflight(cors(), {})).action).toBe('continue')
  })

  it('adds CORS headers to responses for allowed origins (wildcard subdomains too), replacing upstream ones', async () => {
    const headers = await exchange(cors(), { origin: 'https://eu.shop.example' }, { 'access-control-allow-origin': '*', vary: 'accept-encoding' })
    expect(headers.get('access-control-allow-origin')).toBe('https://eu.shop.example')
    expect(headers.get('access-control-allow-credentials')).toBe('true')
    expect(headers.get('access-control-expose-headers')).toBe('x-request-id')
    expect(headers.get('vary')).toBe('accept-encoding, origin')
  })

  it('adds nothing for a disallowed origin or a request without Origin', async () => {
    for (const request of [{ origin: 'https://evil.example' }, {}] as Record<string, string>[]) {
      const headers = await exchange(cors(), request)
      expect([...headers.keys()].filter((k) => k.startsWith('access-control-'))).toEqual([])
    }
  })

  it('answers "*" for any origin without credentials, and echoes requested headers under allowHeaders "*"', async () => {
    const open = cors({ allowOrigins: ['*'], allowHeaders: ['*'] })
    const result = await preflight(open, { origin: 'https://x.test', 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-one, x-two' })
    expect(result.action === 'respond' && Object.fromEntries(result.headers)).toMatchObject({
      'access-control-allow-origin': '*',
      'access-control-allow-methods': 'GET, HEAD, POST',
      'access-control-allow-headers': 'x-one, x-two',
    })
    expect(result.action === 'respond' && result.headers.has('access-control-max-age')).toBe(false)
    expect((await exchange(open, { origin: 'https://x.test' })).get('access-control-allow-origin')).toBe('*')
  })

  it.each([
    ['no origins', { allowOrigins: [] }],
    ['"*" with credentials', { allowOrigins: ['*'], allowCredentials: true }],
    ['a negative maxAge', { allowOrigins: ['*'], maxAge: -5 }],
    ['non-string methods', { allowOrigins: ['*'], allowMethods: [1] }],
  ])('rejects a configuration with %s', (_case, config) => {
    expect(() => cors(config)).toThrow(FilterConfigError)
  })
})
