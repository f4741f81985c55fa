// Boots a bundle from `weft edge build` (scripts/build-edge-worker.ts) in workerd through Miniflare, with the
// settings its generated wrangler config carries, as `wrangler dev` would.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Miniflare, type MiniflareOptions } from 'miniflare'

/** The generated config: one comment line, then JSON. */
export function readEdgeConfig(dir: string): any {
  return JSON.parse(readFileSync(join(dir, 'wrangler.jsonc'), 'utf8').replace(/^\/\/[^\n]*\n/, ''))
}

/**
 * The bundle in `dir` as one Worker: its entry, the proxy and every filter module (CompiledWasm), its vars and
 * the join token as the secret. `extra` adds Miniflare options (e.g. a log handler).
 */
export async function bootEdgeBundle(dir: string, joinToken: string, extra: Partial<MiniflareOptions> = {}): Promise<Miniflare> {
  const config = readEdgeConfig(dir)
  const mf = new Miniflare({
    modules: true,
    scriptPath: join(dir, config.main),
    modulesRoot: dir,
    modulesRules: [
      { type: 'ESModule', include: ['**/*.js'] },
      { type: 'CompiledWasm', include: ['**/*.wasm'] },
    ],
    compatibilityDate: config.compatibility_date,
    compatibilityFlags: config.compatibility_flags,
    bindings: { ...config.vars, WEFT_JOIN_TOKEN: joinToken },
    ...extra,
  } as MiniflareOptions)
  await mf.ready
  return mf
}
