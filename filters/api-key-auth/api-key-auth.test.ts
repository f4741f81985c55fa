import { beforeAll, describe, expect, it } from 'vitest'
import { createFilterHost, type FilterHost } from '../../edge-proxy/src/wasm/filter-host'
import { FilterConfigError } from '../../edge-proxy/src/wasm/wasm-errors'
import { compileFilter } from '../test-helpers'

let host: FilterHost
let module: WebAssembly.Module

beforeAll(async () => {
  module = await compileFilter('api-key-auth')
  host = createFilterHost({
    module,
    rootId: 'api-key-auth',
    config: JSON.stringify({ header: 'X-Api-Key', keys: ['k-good', 'k-other'] }),
  })
})

async function send(headers: Record<string, string>) {
  const stream = host.startStream({ method: 'GET', path: '/private' })
  const result = await stream.onRequestHeaders(headers)
  stream.finish()
  return result
}

describe('api-key-auth filter', () => {
  it.each(['k-good', 'k-other'])('passes a configured key (%s) and strips it before forwarding', async (key) => {
    const result = await send({ 'x-api-key': key, accept: '*/*' })
    expect(result.action).toBe('continue')
    expect(result.headers.has('x-api-key')).toBe(false)
    expect(result.headers.get('accept')).toBe('*/*')
  })

  it.each([
    ['missing', {}, 'missing API key'],
    ['wrong', { 'x-api-key': 'k-bad' }, 'invalid API key'],
    ['wrong case of value', { 'x-api-key': 'K-GOOD' }, 'invalid API key'],
  ])('answers 401 locally when the key is %s', async (_case, headers, detail) => {
    const result = await send(headers)
    expect(result.action).toBe('respond')
    if (result.action !== 'respond') return
    expect(result.status).toBe(401)
    expect(result.details).toBe('api_key_rejected')
    expect(result.headers.get('www-authenticate')).toBe('ApiKey header="x-api-key"')
    expect(result.headers.get('content-type')).toBe('application/problem+json')
    expect(JSON.parse(new TextDecoder().decode(result.body))).toMatchObject({ status: 401, detail })
    expect(result.failure).toBeUndefined()
  })

  it('rejects a configuration without keys at load', () => {
    expect(() => createFilterHost({ module, rootId: 'api-key-auth', config: '{"keys":[]}' })).toThrow(FilterConfigError)
    expect(() => createFilterHost({ module, rootId: 'api-key-auth', config: '{"keys":[1]}' })).toThrow(FilterConfigError)
  })
})
