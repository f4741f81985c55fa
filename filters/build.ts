/**
 * Compiles every filter (`filters/<name>/index.ts`) to `filters/dist/<name>.wasm` with AssemblyScript's compiler,
 * and writes `filters/dist/manifest.json` with each module's sha256 (the registry stores filters by digest).
 * Run it with `tsx filters/build.ts` (the root `npm run build`); tests import `buildFilters` and call it first.
 */
import { createHash } from 'node:crypto'
import { mkdir, readdir, rename, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import asc from 'assemblyscript/asc'

export const FILTERS_DIR = path.dirname(fileURLToPath(import.meta.url))
export const DIST_DIR = path.join(FILTERS_DIR, 'dist')

/** Folders under filters/ that hold no filter. */
const NOT_FILTERS = new Set(['sdk', 'dist', 'testdata', 'node_modules'])

const ASC_FLAGS = [
  '--optimize',
  // Release builds keep assertions: a filter that trips one should trap (and fail per policy), not run on.
  '--runtime', 'incremental',
  // No env.abort import, so the modules load in any proxy-wasm host (sdk/abort.ts).
  '--use', 'abort=sdk/abort/proxyAbort',
]

export type BuiltFilter = { name: string; file: string; sha256: string; size: number }

export class FilterBuildError extends Error {
  static code = 'ERR_WEFT_FILTER_BUILD'
  code = FilterBuildError.code
}

/** Names of the filters in filters/ (every folder with an index.ts, except sdk, dist and testdata). */
export async function listFilters(dir = FILTERS_DIR): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true })
  const names: string[] = []
  for (const entry of entries) {
    if (!entry.isDirectory() || NOT_FILTERS.has(entry.name)) continue
    const index = await stat(path.join(dir, entry.name, 'index.ts')).catch(() => undefined)
    if (index?.isFile()) names.push(entry.name)
  }
  return names.sort()
}

/**
 * Compiles one AssemblyScript entry (relative to filters/, e.g. `add-header/index.ts`) and writes the module to
 * `outFile` atomically (temp file + rename), so parallel test workers never read half a file.
 * @throws FilterBuildError with the compiler's diagnostics.
 */
export async function buildFilter(entry: string, outFile: string, name = entry): Promise<BuiltFilter> {
  let binary: Uint8Array | undefined
  const stderr: string[] = []
  // --baseDir: asc resolves the entry and its imports, and `--use abort=sdk/abort/…`, against filters/.
  const argv = [entry, '--baseDir', FILTERS_DIR, '--outFile', 'out.wasm', ...ASC_FLAGS]
  const result = await asc.main(argv, {
    stdout: { write: () => true } as never,
    stderr: { write: (chunk: string | Uint8Array) => (stderr.push(String(chunk)), true) } as never,
    writeFile: (filename, contents) => {
      if (filename.endsWith('.wasm') && typeof contents !== 'string') binary = contents
    },
  })
  if (result.error || !binary) {
    throw new FilterBuildError(`asc failed for ${entry}: ${result.error?.message ?? 'no output'}\n${stderr.join('')}`)
  }
  await mkdir(path.dirname(outFile), { recursive: true })
  const temp = `${outFile}.${process.pid}.${Date.now()}.tmp`
  await writeFile(temp, binary)
  await rename(temp, outFile)
  const sha256 = createHash('sha256').update(binary).digest('hex')
  return { name, file: outFile, sha256, size: binary.length }
}

/** Builds every filter (or the named ones) into dist/ and writes dist/manifest.json. */
export async function buildFilters(names?: string[]): Promise<BuiltFilter[]> {
  const selected = names ?? (await listFilters())
  const built: BuiltFilter[] = []
  for (const name of selected) {
    built.push(await buildFilter(`${name}/index.ts`, path.join(DIST_DIR, `${name}.wasm`), name))
  }
  if (!names) {
    const manifest = Object.fromEntries(built.map((b) => [b.name, { sha256: b.sha256, size: b.size }]))
    const temp = path.join(DIST_DIR, `manifest.json.${process.pid}.tmp`)
    await writeFile(temp, JSON.stringify(manifest, null, 2) + '\n')
    await rename(temp, path.join(DIST_DIR, 'manifest.json'))
  }
  return built
}

/** Builds a test fixture from filters/testdata/<name>/ into dist/testdata/<name>.wasm. */
export async function buildTestFilter(name: string): Promise<BuiltFilter> {
  return buildFilter(`testdata/${name}/index.ts`, path.join(DIST_DIR, 'testdata', `${name}.wasm`), name)
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const built = await buildFilters()
  for (const b of built) console.log(`${b.name}\t${b.size} B\tsha256:${b.sha256}\t${path.relative(process.cwd(), b.file)}`)
}
