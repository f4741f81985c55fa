/**
 * The sidecar the benchmarks run: `npm run build:sidecar`'s bundle (scripts/build-sidecar.ts), the file
 * containers run with plain `node`, built into a scratch directory so a benchmark never touches dist/.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildSidecar } from '../../scripts/build-sidecar'

export async function bundleSidecar(): Promise<string> {
  return buildSidecar(mkdtempSync(join(tmpdir(), 'weft-sidecar-bundle-')))
}
