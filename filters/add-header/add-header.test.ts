import { beforeAll, describe, expect, it } from 'vitest'
import { createFilterHost } from '../../edge-proxy/src/wasm/filter-host'
import { FilterConfigError } from '../../edge-proxy/src/wasm/wasm-errors'
import { compileFilter } from '../test-helpers'

let module: WebAssembly.Module

beforeAll(async () => {
  module = await compileFilter('add-header')
})

describe('add-header filter', () => {
  it('adds the configured request header through the host', async () => {
    const host = createFilterHost({ module, rootId: 'add-header', config: '{"name":"X-Weft-Example","value":"hello"}' })
    expect(host.abi).toBe('0.2.1')
    const stream = host.startStream({ method: 'GET', path: '/orders?id=1', authority: 'orders' })
    const result = await stream.onRequestHeaders(new Headers({ accept: 'application/json' }))
    stream.finish()
    expect(result.action).toBe('continue')
    if (result.action !== 'continue') return
    expect(result.headers.get('x-weft-example')).toBe('hello')
    expect(result.headers.get('accept')).toBe('application/json')
    expect(result.pseudoHeaders).toMatchObject({ ':method': 'GET', ':path': '/orders?id=1', ':authority': 'orders' })
    expect(host.stats).toEqual({ requests: 1, failures: 0, reinstantiations: 0 })
  })

  it('adds to an existing header instead of replacing it', async () => {
    const host = createFilterHost({ module, rootId: 'add-header', config: '{"name":"x-tag","value":"b"}' })
    const stream = host.startStream({ method: 'GET', path: '/' })
    const result = await stream.onRequestHeaders([['x-tag', 'a']])
    stream.finish()
    expect(result.action === 'continue' && result.headers.get('x-tag')).toBe('a, b')
  })

  it.each([
    ['not JSON', 'name=x'],
    ['no value', '{"name":"x"}'],
    ['empty name', '{"name":"","value":"v"}'],
    ['not an object', '["x","y"]'],
  ])('rejects a bad configuration at load (%s)', (_case, config) => {
    expect(() => createFilterHost({ module, rootId: 'add-header', config })).toThrow(FilterConfigError)
  })
})
