// `weft edge build|deploy`: the real bin builds the Worker proxy with wrangler into a bundle directory, the test
// boots that bundle in workerd (Miniflare) with the settings from the generated wrangler config against the
// control API, and `deploy --dry-run` runs wrangler offline on it.
import { createServer, type Server } from 'node:http'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Miniflare } from 'miniflare'
import { buildFilters } from '../../filters/build'
import { DEFAULT_FUEL, DEFAULT_MAX_MEMORY_BYTES, meterWasm } from '../../edge-proxy/src/wasm/meter-wasm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { backends } from '../support/databases'
import { bootEdgeBundle, readEdgeConfig } from '../support/edge-bundle'
import { startCliServer, type CliServer } from './run-cli'

function startOrigin(): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ origin: true, path: req.url, hello: req.headers['x-hello'] ?? null }))
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port })))
}

describe('weft edge', () => {
  let s: CliServer
  let adminKey: string
  let origin: { server: Server; port: number }
  let mf: Miniflare | undefined
  let stale: Miniflare | undefined
  let sha256: string
  const work = mkdtempSync(join(tmpdir(), 'weft-edge-cli-'))
  const out = join(work, 'bundle')

  beforeAll(async () => {
    s = await startCliServer(backends[0]!)
    adminKey = (await s.harness.onboard('acme')).adminKey
    expect((await s.harness.request('POST', '/v1/services', { key: adminKey, body: { name: 'shop' } })).status).toBe(201)
    origin = await startOrigin()
    // A FilterChain on the service: the build bundles its module, compiled from filters/add-header.
    const [addHeader] = await buildFilters(['add-header'])
    const push = await s.harness.request('POST', '/v1/filters?name=add-header&version=1.0.0', { key: adminKey, raw: readFileSync(addHeader!.file) as unknown as string, headers: { 'content-type': 'application/wasm' } })
    expect(push.status).toBeLessThan(300)
    sha256 = push.body.sha256
    const chain = await s.harness.request('PUT', '/v1/policies/shop-filters', {
      key: adminKey,
      body: { kind: 'FilterChain', name: 'shop-filters', targetRef: { service: 'shop' }, spec: { filters: [{ filter: 'add-header', version: '1.0.0', config: { name: 'x-hello', value: 'world' } }] } },
    })
    expect(chain.status).toBeLessThan(300)
  }, 120_000)
  afterAll(async () => {
    await mf?.dispose()
    await stale?.dispose()
    origin?.server.close()
    await s?.close()
    rmSync(work, { recursive: true, force: true })
  })

  it('build --json writes a bundle, with the FilterChain compiled in, that serves in workerd against the control API', async () => {
    const r = await s.run([
      'edge', 'build', '--service', 'shop', '--control-url', s.url, '--origin', `http://127.0.0.1:${origin.port}`,
      '--out', out, '--labels', 'version=v2', '--bind', 'payments=payments-worker', '--log-level', 'warn', '--json',
    ], { env: { WEFT_URL: s.url, WEFT_API_KEY: adminKey } })
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    const bundle = JSON.parse(r.stdout)
    expect(bundle).toEqual(expect.objectContaining({ service: 'shop', name: 'weft-shop', outdir: out, serviceBindings: { PAYMENTS: 'payments-worker' }, crons: ['* * * * *'] }))
    expect(bundle.vars).toEqual({ WEFT_URL: s.url, WEFT_SERVICE: 'shop', WEFT_ORIGIN: `http://127.0.0.1:${origin.port}`, WEFT_LOG_LEVEL: 'warn', WEFT_LABELS: 'version=v2' })
    const config = readEdgeConfig(out)
    expect(config).toEqual(expect.objectContaining({ name: 'weft-shop', main: 'index.js', no_bundle: true, vars: bundle.vars }))
    expect(bundle.filters).toEqual([{ filter: 'add-header', version: '1.0.0', sha256, file: `filters/${sha256}.wasm` }])
    // Bundled metered (fuel and memory bounds baked in at build time: workerd cannot rewrite WASM at run time).
    expect(bundle.filterLimits).toEqual({ fuel: DEFAULT_FUEL, maxMemoryBytes: DEFAULT_MAX_MEMORY_BYTES })
    expect(new Uint8Array(readFileSync(join(out, bundle.filters[0].file)))).toEqual(meterWasm(readFileSync(join('filters/dist/add-header.wasm'))))
    // The join token is a secret: never in the bundle.
    expect(JSON.stringify(config)).not.toContain('wfj_')

    const token = (await s.harness.request('POST', '/v1/services/shop/join-tokens', { key: adminKey, body: { maxUses: 5 } })).body.secret as string
    mf = await bootEdgeBundle(out, token)
    const res = await mf.dispatchFetch('http://shop.example/cart?id=7')
    expect(res.status).toBe(200)
    // add-header ran inside workerd, from the bundled CompiledWasm module.
    expect(await res.json()).toEqual({ origin: true, path: '/cart?id=7', hello: 'world' })
    // A later request reuses the filter VM the first one loaded (no I/O object crosses requests).
    const again = await mf.dispatchFetch('http://shop.example/cart?id=8')
    expect(await again.json()).toEqual({ origin: true, path: '/cart?id=8', hello: 'world' })
    // It joined and polled as the service, with the labels from the build.
    const proxies = (await s.harness.request('GET', '/v1/proxies?service=shop', { key: adminKey })).body.items as any[]
    expect(proxies).toEqual([expect.objectContaining({ service: 'shop', runtime: 'workers', labels: { version: 'v2' } })])
  }, 120_000)

  it('a bundle without the FilterChain module fails it closed with Weft-Reason filter-failure', async () => {
    const dir = join(work, 'stale')
    const r = await s.run(['edge', 'build', '--service', 'shop', '--control-url', s.url, '--origin', `http://127.0.0.1:${origin.port}`, '--out', dir, '--no-filters', '--log-level', 'silent', '--json'])
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout).filters).toEqual([])
    const token = (await s.harness.request('POST', '/v1/services/shop/join-tokens', { key: adminKey, body: { maxUses: 5 } })).body.secret as string
    stale = await bootEdgeBundle(dir, token)
    const res = await stale.dispatchFetch('http://shop.example/cart')
    expect(res.status).toBe(503)
    expect(res.headers.get('weft-reason')).toBe('filter-failure')
    expect(((await res.json()) as { detail: string }).detail).toContain("not in this Worker's bundle")
    // The control API hears of it: the Worker reports the digests it lacks with its config polls.
    const wanted = ((await s.harness.request('GET', '/v1/policies', { key: adminKey })).body.items as any[]).find((p) => p.kind === 'FilterChain')
    expect(wanted).toBeDefined()
    let missing: string[] = []
    for (let i = 0; i < 100 && missing.length === 0; i++) {
      await (await stale.dispatchFetch('http://shop.example/cart')).arrayBuffer()
      const mine = ((await s.harness.request('GET', '/v1/proxies?service=shop', { key: adminKey })).body.items as any[]).filter((p) => p.missingFilters.length > 0)
      missing = mine.flatMap((p) => p.missingFilters)
      if (missing.length === 0) await new Promise((r) => setTimeout(r, 100))
    }
    expect(missing).toHaveLength(1)
    expect(missing[0]).toMatch(/^[0-9a-f]{64}$/)
  }, 120_000)

  it('build without an API key says how to build without filters, exit 1', async () => {
    const r = await s.run(['edge', 'build', '--service', 'shop', '--control-url', s.url, '--origin', 'http://127.0.0.1:1', '--out', join(work, 'nokey')], { env: { WEFT_URL: s.url } })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('--no-filters')
  })

  it('build reports every missing setting at once, exit 2', async () => {
    const r = await s.run(['edge', 'build', '--out', join(work, 'nothing')], { env: { WEFT_URL: undefined } })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('--service (or WEFT_SERVICE) is required')
    expect(r.stderr).toContain('--control-url (or WEFT_URL) is required')
    expect(r.stderr).toContain('--origin (or WEFT_ORIGIN) is required')
    expect(existsSync(join(work, 'nothing'))).toBe(false)
  })

  it('deploy --dry-run --json runs wrangler offline on the bundle', async () => {
    const dry = join(work, 'dry')
    const r = await s.run(['edge', 'deploy', out, '--dry-run', '--outdir', dry, '--json'])
    expect(r.code).toBe(0)
    const result = JSON.parse(r.stdout)
    expect(result).toEqual(expect.objectContaining({ ok: true, dryRun: true, outdir: dry, exitCode: 0 }))
    expect(result.output).toContain('env.PAYMENTS (payments-worker)')
    // The filter goes up as a CompiledWasm module beside the proxy.
    expect(result.output).toMatch(new RegExp(`filters/${sha256}\\.wasm\\s*│\\s*compiled-wasm`))
    expect(existsSync(join(dry, 'workers.js'))).toBe(true)
  }, 60_000)

  it('deploy without Cloudflare credentials fails with exit 2 and says what to set', async () => {
    const r = await s.run(['edge', 'deploy', out, '--join-token', 'wfj_not_uploaded'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('hint: set CLOUDFLARE_API_TOKEN')
  }, 60_000)

  it('deploy refuses a directory weft edge build did not write, exit 2', async () => {
    const r = await s.run(['edge', 'deploy', work, '--dry-run'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('is not a bundle from weft edge build')
  })
})
