/**
 * The sidecar the benchmarks run: `npm run build:sidecar`'s bundle (scripts/build-sidecar.ts), the file
 * containers run with plain `node`, built into a scratch directory so a benchmark never touches dist/.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildSidecar } from '../../scripts/build-sidecar'

/** BENCH_SIDECAR_UNMINIFIED=1 keeps names and module markers in the bundle (for CPU profiles). */
export async function bundleSidecar(): Promise<string> {
  return buildSidecar(mkdtempSync(join(tmpdir(), 'weft-sidecar-bundle-')), { minify: process.env.BENCH_SIDECAR_UNMINIFIED !== '1' })
}
