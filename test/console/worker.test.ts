// The console from the Worker build: wrangler's bundle carries the assets (no file system in workerd), and the
// page loads even when the database is unreachable, since it needs none.
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Miniflare } from 'miniflare'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CONSOLE_JS } from '../../control-api/src/console/assets.generated'
import { buildControlApiWorker } from '../../scripts/build-worker'

function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

describe('console in the control API Worker (workerd)', () => {
  let mf: Miniflare | undefined
  const outdir = mkdtempSync(join(tmpdir(), 'weft-console-worker-'))

  beforeAll(async () => {
    const built = await buildControlApiWorker(outdir)
    mf = new Miniflare({
      modules: true,
      scriptPath: built.scriptPath,
      modulesRoot: built.outdir,
      compatibilityDate: built.compatibilityDate,
      compatibilityFlags: built.compatibilityFlags,
      bindings: { DATABASE_URL: `postgres://postgres@127.0.0.1:${await closedPort()}/weft`, WEFT_LOG_LEVEL: 'silent' },
    })
  }, 120_000)

  afterAll(async () => {
    await mf?.dispose()
    rmSync(outdir, { recursive: true, force: true })
  })

  it('serves the page and its script from the bundle, with the CSP', async () => {
    const page = await mf!.dispatchFetch('http://weft.test/console')
    expect(page.status).toBe(200)
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'")
    const src = /<script defer src="([^"]+)"/.exec(await page.text())![1]!
    const js = await mf!.dispatchFetch(`http://weft.test${src}`)
    expect(js.status).toBe(200)
    expect(await js.text()).toBe(CONSOLE_JS)
    // The API behind it reports the database as it is: the console shows that as a readable error.
    const api = await mf!.dispatchFetch('http://weft.test/v1/tenant', { headers: { authorization: 'Bearer wft_x' } })
    expect(api.status).toBe(503)
    expect(api.headers.get('content-type')).toBe('application/problem+json')
    await api.arrayBuffer()
  })
})
