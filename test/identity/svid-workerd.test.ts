import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { Miniflare } from 'miniflare'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SVID_CASES } from './svid-attack-cases'

const WORKER_ENTRY = fileURLToPath(new URL('./workerd/worker.ts', import.meta.url))

describe('JWT-SVID verification in workerd (same cases as Node)', () => {
  let dir: string
  let mf: Miniflare | undefined
  const outcomes = new Map<string, string>()

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'weft-svid-workerd-'))
    const scriptPath = join(dir, 'worker.js')
    // platform 'neutral' resolves no Node built-ins: a `node:` import anywhere in mesh/ fails this build.
    await build({
      entryPoints: [WORKER_ENTRY],
      outfile: scriptPath,
      bundle: true,
      format: 'esm',
      platform: 'neutral',
      target: 'es2022',
      conditions: ['workerd', 'worker', 'browser'],
      mainFields: ['module', 'main'],
      logLevel: 'silent',
    })
    // modulesRoot: module names are paths relative to it, and workerd refuses names that climb out with '..'.
    // cf: false keeps Miniflare from fetching the Request.cf fixture from the network.
    mf = new Miniflare({ modules: true, scriptPath, modulesRoot: dir, compatibilityDate: '2026-04-01', cf: false })
    const res = await mf.dispatchFetch('http://localhost/')
    expect(res.status).toBe(200)
    for (const r of (await res.json()) as { case: string; code: string }[]) outcomes.set(r.case, r.code)
  })

  afterAll(async () => {
    await mf?.dispose()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('ran every case', () => {
    expect([...outcomes.keys()]).toEqual(SVID_CASES.map((c) => c.name))
  })

  it.each(SVID_CASES)('$name → $expect', (c) => {
    expect(outcomes.get(c.name)).toBe(c.expect)
  })
})
