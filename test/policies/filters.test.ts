import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { backends } from '../support/databases'
import { startHarness, type Harness } from '../support/harness'
import { moduleExporting } from '../support/wasm-module'

describe.each(backends)('filter registry on $name', (backend) => {
  let h: Harness
  let key: string
  const push = (name: string, version: string, bytes: Uint8Array, k = key, type = 'application/wasm') =>
    h.request('POST', `/v1/filters?name=${name}&version=${version}`, { key: k, raw: bytes as unknown as string, headers: { 'content-type': type } })
  const sha256 = async (b: Uint8Array) => [...new Uint8Array(await crypto.subtle.digest('SHA-256', b as Uint8Array<ArrayBuffer>))].map((x) => x.toString(16).padStart(2, '0')).join('')

  beforeAll(async () => {
    h = await startHarness(backend)
    key = (await h.onboard('reg')).adminKey
    await h.request('POST', '/v1/services', { key, body: { name: 'edge' } })
  })
  afterAll(() => h.close())

  it('stores a module by content hash with its ABI; the same push again is a no-op', async () => {
    const wasm = moduleExporting(['proxy_abi_version_0_2_0', 'malloc'])
    const r = await push('add-header', '1.0.0', wasm)
    expect(r.status).toBe(201)
    expect(r.body).toMatchObject({ name: 'add-header', version: '1.0.0', sha256: await sha256(wasm), size: wasm.length, abiVersion: '0.2.0' })
    expect((await push('add-header', '1.0.0', wasm)).status).toBe(200)
    const list = await h.request('GET', '/v1/filters', { key })
    expect(list.body.items.map((f: any) => `${f.name}@${f.version}`)).toEqual(['add-header@1.0.0'])
    const one = await h.request('GET', '/v1/filters/add-header', { key })
    expect(one.body.versions[0].sha256).toBe(r.body.sha256)
    expect((await h.request('GET', '/v1/filters/nope', { key })).status).toBe(404)
  })

  it('versions are immutable: other bytes under a pushed version are a 409', async () => {
    const r = await push('add-header', '1.0.0', moduleExporting(['proxy_abi_version_0_2_1', 'other']))
    expect(r.status).toBe(409)
    expect((await push('add-header', '1.1.0', moduleExporting(['proxy_abi_version_0_2_1', 'other']))).status).toBe(201)
  })

  it.each([
    ['not WebAssembly', new TextEncoder().encode('#!/bin/sh\necho hi'), 400],
    ['no proxy-wasm ABI marker', moduleExporting(['main']), 400],
  ])('refuses a module that is %s', async (_, bytes, status) => {
    const r = await push('bad', '1.0.0', bytes)
    expect(r.status).toBe(status)
    expect(r.body.errors[0].path).toBe('body')
  })

  it.each([
    // 2048 pages = 128 MiB at start, above the 64 MiB every proxy bounds a filter's memory to.
    ['asks for more memory at start than the proxies allow', moduleExporting(['proxy_abi_version_0_2_1'], { memoryPages: 2048 }), 'pages of memory at start'],
    ['holds an instruction the metering does not know', moduleExporting(['proxy_abi_version_0_2_1'], { body: [0xff] }), 'unsupported instruction 0xff'],
  ])('refuses at upload a module the proxies cannot meter: one that %s', async (_, bytes, says) => {
    const r = await push('unmeterable', '1.0.0', bytes)
    expect(r.status).toBe(400)
    expect(r.headers.get('content-type')).toContain('application/problem+json')
    expect(r.body.errors[0].path).toBe('body')
    expect(r.body.errors[0].message).toContain('cannot meter')
    expect(r.body.errors[0].message).toContain(says)
    // Nothing was stored under the name.
    expect((await h.request('GET', '/v1/filters/unmeterable', { key })).status).toBe(404)
    // Within the bound, the same shape of module is accepted.
    expect((await push('meterable', '1.0.0', moduleExporting(['proxy_abi_version_0_2_1'], { memoryPages: 16 }))).status).toBeLessThan(300)
  })

  it('refuses a wrong content type, a bad name or version, the reserved name, and a viewer', async () => {
    const wasm = moduleExporting(['proxy_abi_version_0_2_1'])
    expect((await push('x', '1.0.0', wasm, key, 'application/json')).status).toBe(415)
    expect((await push('Bad_Name', '1.0.0', wasm)).status).toBe(400)
    expect((await push('x', 'not a version', wasm)).status).toBe(400)
    expect((await push('blobs', '1.0.0', wasm)).status).toBe(400)
    const viewer = await h.createKey(key, 'viewer')
    expect((await push('x', '1.0.0', wasm, viewer)).status).toBe(403)
  })

  it('serves blobs to the tenant and its workloads, immutable and cacheable; never to another tenant', async () => {
    const wasm = moduleExporting(['proxy_abi_version_0_2_1', 'blobbed'])
    const { sha256 } = (await push('blobbed', '2.0.0', wasm)).body
    const r = await h.app.request(`/v1/filters/blobs/${sha256}`, { headers: { authorization: `Bearer ${key}` } })
    expect(r.status).toBe(200)
    expect(r.headers.get('content-type')).toBe('application/wasm')
    expect(r.headers.get('cache-control')).toContain('immutable')
    expect(new Uint8Array(await r.arrayBuffer())).toEqual(wasm)
    const jt = await h.request('POST', '/v1/services/edge/join-tokens', { key })
    const token = (await h.request('POST', '/v1/identity/token', { key: jt.body.secret })).body.token
    expect((await h.app.request(`/v1/filters/blobs/${sha256}`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200)
    const cached = await h.app.request(`/v1/filters/blobs/${sha256}`, { headers: { authorization: `Bearer ${key}`, 'if-none-match': `"${sha256}"` } })
    expect(cached.status).toBe(304)
    const other = (await h.onboard('reg-other')).adminKey
    expect((await h.request('GET', `/v1/filters/blobs/${sha256}`, { key: other })).status).toBe(404)
    expect((await h.request('GET', '/v1/filters', { key: other })).body.items).toEqual([])
  })

  it('a FilterChain resolves versions to hashes in the snapshot', async () => {
    const pinned = (await h.request('GET', '/v1/filters/add-header', { key })).body.versions
    await h.request('POST', '/v1/policies', {
      key,
      body: { kind: 'FilterChain', name: 'edge-filters', targetRef: { service: 'edge' }, spec: { filters: [{ filter: 'add-header', version: '1.1.0', config: { name: 'x' } }, { filter: 'add-header', sha256: pinned[0].sha256, failurePolicy: 'open' }] } },
    })
    const s = await h.request('GET', '/v1/proxy/config?service=edge', { key })
    expect(s.body.inbound.filterChain).toEqual({
      policy: 'edge-filters',
      filters: [
        { filter: 'add-header', version: '1.1.0', sha256: pinned[1].sha256, config: { name: 'x' }, failurePolicy: 'closed' },
        { filter: 'add-header', version: '1.0.0', sha256: pinned[0].sha256, config: null, failurePolicy: 'open' },
      ],
    })
  })
})
