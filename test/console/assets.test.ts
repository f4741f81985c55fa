// The console's assets: the committed generated module matches its sources, the control API serves them with a
// CSP and without touching the database, and the graph layout and health colours behave as drawn.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { createApp } from '../../control-api/src/app'
import { loadConfig } from '../../control-api/src/config'
import { CONSOLE_CSS, CONSOLE_JS } from '../../control-api/src/console/assets.generated'
import { layers } from '../../control-api/src/console/client/graph'
import { niceMax } from '../../control-api/src/console/client/charts'
import { health } from '../../control-api/src/console/client/format'
import { busiest } from '../../control-api/src/console/client/views/overview'
import { jsonLogger } from '../../control-api/src/logger'
import { consoleModuleSource, GENERATED_MODULE } from '../../scripts/build-console'

describe('console assets', () => {
  it('the committed assets.generated.ts is what the build makes from the sources (run npm run build:console)', async () => {
    expect(readFileSync(GENERATED_MODULE, 'utf8')).toBe(await consoleModuleSource())
  })

  it('serves the page, script and stylesheet with a CSP, revalidation by ETag, and no database or key', async () => {
    // A database that is down: the console is static and must still load (it reports API errors itself).
    const app = createApp({
      config: loadConfig({ DATABASE_URL: 'memory://' }),
      logger: jsonLogger({ level: 'silent' }),
      masterKey: null,
      getDb: () => {
        throw new Error('no database')
      },
    })
    const page = await app.request('/console')
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8')
    const csp = page.headers.get('content-security-policy')!
    expect(csp).toContain("default-src 'none'")
    expect(csp).toContain("script-src 'self'")
    expect(csp).not.toContain('unsafe-inline')
    expect(page.headers.get('x-content-type-options')).toBe('nosniff')
    const html = await page.text()
    const script = /<script defer src="([^"]+)"/.exec(html)![1]!
    const style = /<link rel="stylesheet" href="([^"]+)"/.exec(html)![1]!

    const js = await app.request(script)
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8')
    expect(await js.text()).toBe(CONSOLE_JS)
    const css = await app.request(style)
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8')
    expect(await css.text()).toBe(CONSOLE_CSS)

    const again = await app.request(script, { headers: { 'If-None-Match': js.headers.get('etag')! } })
    expect(again.status).toBe(304)
    expect((await app.request('/console/')).headers.get('location')).toBe('/console')
    // The API itself still needs its database: the console route did not bypass anything else.
    expect((await app.request('/v1/tenant')).status).toBe(503)
  })
})

describe('graph layout and colours', () => {
  it('puts callers left of callees by their longest call chain, and terminates on cycles', () => {
    const d = layers(['a', 'b', 'c', 'd'], [
      { source: 'a', destination: 'b' },
      { source: 'b', destination: 'c' },
      { source: 'a', destination: 'c' },
      { source: 'd', destination: 'd' },
    ])
    expect(Object.fromEntries(d)).toEqual({ a: 0, b: 1, c: 2, d: 0 })
    const cyc = layers(['x', 'y'], [
      { source: 'x', destination: 'y' },
      { source: 'y', destination: 'x' },
    ])
    expect([...cyc.values()].every((v) => v >= 0 && v <= 1)).toBe(true)
  })

  it('colours by success rate: green from 99 %, amber from 95 %, red below, grey without traffic', () => {
    expect([1, 0.99, 0.9899, 0.95, 0.9499, 0, null].map(health)).toEqual(['good', 'good', 'warn', 'warn', 'bad', 'bad', 'idle'])
  })

  it('rounds chart maxima up to 1, 2, 2.5 or 5 times a power of ten', () => {
    expect([0, 0.03, 0.9, 1, 1.2, 2.2, 3, 7, 450, 933].map(niceMax)).toEqual([1, 0.05, 1, 1, 2, 2.5, 5, 10, 500, 1000])
  })
})

describe('overview on a large mesh', () => {
  it('draws only the busiest services, keeping the calls among them', () => {
    const node = (name: string) => ({ name, requests: 0, rps: 0, successRate: null, latencyMs: { p50: null, p95: null, p99: null } })
    const edge = (source: string, destination: string, rps: number) => ({ ...node(''), source, destination, rps, reporter: 'outbound' as const, statusClasses: {}, reasons: {} })
    const g = { nodes: ['a', 'b', 'c', 'd'].map(node), edges: [edge('a', 'b', 5), edge('b', 'c', 1), edge('c', 'd', 0.1)] }
    const shown = busiest(g, 2)
    expect(shown.nodes.map((n) => n.name)).toEqual(['a', 'b'])
    expect(shown.edges.map((e) => `${e.source}>${e.destination}`)).toEqual(['a>b'])
    expect(busiest(g, 4)).toBe(g)
  })
})
