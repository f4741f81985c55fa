/** Test-only: builds (once per test file) and compiles filters and fixtures for the host tests. */
import { readFile } from 'node:fs/promises'
import { buildFilters, buildTestFilter } from './build'

/** Compiles filters/<name> (built first) into a WebAssembly.Module, as the Node sidecar does. */
export async function compileFilter(name: string): Promise<WebAssembly.Module> {
  const [built] = await buildFilters([name])
  return new WebAssembly.Module(await readFile(built!.file))
}

/** Compiles a fixture from filters/testdata/<name>. */
export async function compileTestFilter(name: string): Promise<WebAssembly.Module> {
  const built = await buildTestFilter(name)
  return new WebAssembly.Module(await readFile(built.file))
}
