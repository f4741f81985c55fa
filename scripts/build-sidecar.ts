/**
 * `npm run build:sidecar`: the Node sidecar bundled for containers, `dist/sidecar/weft-sidecar.mjs` (plus a
 * chunk per dynamic import, so that what loads on demand — the OTLP exporter, for tenants with tracing — stays
 * out of the process until then). Run it with plain `node dist/sidecar/weft-sidecar.mjs --control-url … ` and
 * `weft sidecar`'s flags. Minified: V8 keeps a module's source text in memory for lazy compilation, so a
 * smaller bundle is a smaller sidecar (≈ 1.4 MiB RSS, bench/sidecar-memory.bench.ts). The benchmarks run this
 * very bundle.
 */
import { build } from 'esbuild'
import { rmSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'

export const SIDECAR_ENTRY = fileURLToPath(new URL('../edge-proxy/src/runtime/sidecar-main.ts', import.meta.url))
export const SIDECAR_OUTDIR = fileURLToPath(new URL('../dist/sidecar', import.meta.url))

/**
 * Bundles the sidecar into `outdir` (emptied first) and returns the entry file's path. `minify: false` keeps
 * names and esbuild's `// path/of/module.ts` markers, for profiles that attribute time to source modules.
 */
export async function buildSidecar(outdir: string = SIDECAR_OUTDIR, options: { minify?: boolean } = {}): Promise<string> {
  rmSync(outdir, { recursive: true, force: true })
  await build({
    entryPoints: { 'weft-sidecar': SIDECAR_ENTRY },
    outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true,
    minify: options.minify ?? true,
    // With `node --enable-source-maps`, stack traces name the TypeScript sources.
    sourcemap: 'linked',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // Some dependencies are CommonJS and call require(): give each ES module one.
    banner: { js: "import { createRequire as __weftRequire } from 'node:module'; const require = __weftRequire(import.meta.url);" },
    logLevel: 'warning',
  })
  return join(outdir, 'weft-sidecar.mjs')
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = await buildSidecar()
  console.log(`built ${file}`)
}
