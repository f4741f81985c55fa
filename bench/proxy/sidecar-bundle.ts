/** Bundles sidecar-entry.ts (and everything it imports) into one ES module for plain `node`. */
import { build } from 'esbuild'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export async function bundleSidecar(): Promise<string> {
  const outfile = join(mkdtempSync(join(tmpdir(), 'weft-sidecar-bundle-')), 'sidecar.mjs')
  await build({
    entryPoints: [new URL('./sidecar-entry.ts', import.meta.url).pathname],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // Some dependencies are CommonJS and call require(): give the ES module one.
    banner: { js: "import { createRequire as __weftRequire } from 'node:module'; const require = __weftRequire(import.meta.url);" },
    logLevel: 'warning',
  })
  return outfile
}
