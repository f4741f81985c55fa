/**
 * Bundles sidecar-entry.ts (and everything it imports) into ES modules for plain `node`: `sidecar.mjs`, plus a
 * chunk per dynamic import (code splitting), so that what the sidecar loads only on demand (the OTLP trace
 * exporter, for tenants with tracing) stays out of the process until then, as it does unbundled.
 */
import { build } from 'esbuild'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export async function bundleSidecar(): Promise<string> {
  const outdir = mkdtempSync(join(tmpdir(), 'weft-sidecar-bundle-'))
  await build({
    entryPoints: { sidecar: new URL('./sidecar-entry.ts', import.meta.url).pathname },
    outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // Some dependencies are CommonJS and call require(): give each ES module one.
    banner: { js: "import { createRequire as __weftRequire } from 'node:module'; const require = __weftRequire(import.meta.url);" },
    logLevel: 'warning',
  })
  return join(outdir, 'sidecar.mjs')
}
