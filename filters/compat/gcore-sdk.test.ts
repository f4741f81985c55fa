/**
 * `@gcoredev/proxy-wasm-sdk-as` (1.2.3, the maintained fork of the AssemblyScript SDK): its README's add-header
 * example, unmodified, compiled from source with the repository's AssemblyScript 0.28 and the SDK's companion
 * `@assemblyscript/wasi-shim` (its FastEdge runtime writes to process.stdout), runs in Weft's host.
 * Nothing compiled is committed: beforeAll builds it into the git-ignored filters/dist/compat/.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { createFilterHost, type FilterHost } from '../../edge-proxy/src/wasm/filter-host'
import { compileExample } from './build-example'

let module: WebAssembly.Module

beforeAll(async () => {
  ;({ module } = await compileExample({
    folder: 'gcore-add-header',
    compiler: { script: 'assemblyscript/bin/asc.js' },
    // The folder's asconfig.json: wasi-shim's options plus the README's "use": "abort=abort_proc_exit".
    args: ['assembly/index.ts', '-o', '{out}', '--optimize'],
    packages: ['assemblyscript', '@gcoredev/proxy-wasm-sdk-as', '@assemblyscript/wasi-shim'],
  }))
})

const load = (config: string): FilterHost => createFilterHost({ module, rootId: 'add_header', config })

async function roundTrip(host: FilterHost) {
  const stream = host.startStream({ method: 'POST', path: '/orders', authority: 'orders' })
  const request = await stream.onRequestHeaders({ 'content-type': 'application/json' })
  const response = await stream.onResponseHeaders({ 'content-type': 'text/plain' }, { status: 201 })
  stream.finish()
  return { request, response }
}

describe('@gcoredev/proxy-wasm-sdk-as README add-header example', () => {
  it('adds "hello: world!" to the response without a configuration', async () => {
    const host = load('')
    expect(host.abi).toBe('0.2.1')
    const { request, response } = await roundTrip(host)
    expect(request.action === 'continue' && [...request.headers]).toEqual([['content-type', 'application/json']])
    expect(response.action).toBe('continue')
    if (response.action !== 'continue') return
    expect(response.headers.get('hello')).toBe('world!')
    expect(response.headers.get('content-type')).toBe('text/plain')
    expect(response.pseudoHeaders).toEqual({ ':status': '201' })
    expect(host.stats).toEqual({ requests: 1, failures: 0, reinstantiations: 0 })
  })

  it('takes the header value from the plugin configuration, request after request in one VM', async () => {
    const host = load('what ever you want')
    for (let i = 0; i < 20; i++) {
      const { response } = await roundTrip(host)
      expect(response.action === 'continue' && response.headers.get('hello')).toBe('what ever you want')
    }
    expect(host.stats).toEqual({ requests: 20, failures: 0, reinstantiations: 0 })
  })
})
