/**
 * Test-only: compiles a third-party SDK's example (a folder under filters/compat/) from source with that SDK's own
 * compiler command line, so the tests prove modules built the way the SDK's README says load in Weft's host.
 * Output goes to the git-ignored filters/dist/compat/, named by a hash of everything that shapes the binary
 * (the example's files, the compiler and SDK versions, the arguments): a second run reuses it, and parallel
 * test processes never read a half-written file (each compiles to its own temp name, then renames).
 */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises'
import { createRequire } from 'node:module'
import path from 'node:path'
import { promisify } from 'node:util'
import { DIST_DIR, FILTERS_DIR } from '../build'

const run = promisify(execFile)

export type CompatExample = {
  /** Folder under filters/compat/ holding the example's files as its README has them. */
  folder: string
  /**
   * The compiler: a Node CLI script as a module specifier resolved from the example's folder (so an example that is
   * its own npm workspace gets its own compiler version), or an executable.
   */
  compiler: { script: string } | { executable: string }
  /** Arguments after the CLI, run in the example's folder; `{out}` stands for the output file. */
  args: string[]
  /** npm packages whose installed version changes the output (the compiler's and the SDK's). */
  packages?: string[]
  /** Anything else that changes the output, such as an executable compiler's `--version`. */
  toolVersion?: string
}

export type CompiledExample = { file: string; module: WebAssembly.Module }

export class ExampleBuildError extends Error {
  static code = 'ERR_WEFT_COMPAT_BUILD'
  code = ExampleBuildError.code
}

/**
 * Compiles (or reuses) the example and returns the module, compiled as the Node sidecar does.
 * @throws ExampleBuildError with the compiler's output when the build fails.
 */
export async function compileExample(example: CompatExample): Promise<CompiledExample> {
  const cwd = path.join(FILTERS_DIR, 'compat', example.folder)
  const outFile = path.join(DIST_DIR, 'compat', `${example.folder}-${await buildKey(example, cwd)}.wasm`)
  if (!(await stat(outFile).catch(() => undefined))?.isFile()) {
    await mkdir(path.dirname(outFile), { recursive: true })
    const temp = outFile.replace(/\.wasm$/, `.${process.pid}.${Date.now()}.tmp.wasm`)
    const args = example.args.map((arg) => (arg === '{out}' ? temp : arg))
    try {
      const [file, argv] =
        'script' in example.compiler
          ? [process.execPath, [createRequire(path.join(cwd, 'package.json')).resolve(example.compiler.script), ...args]]
          : [example.compiler.executable, args]
      await run(file, argv, { cwd, maxBuffer: 16 << 20 })
      await rename(temp, outFile)
    } catch (error) {
      await rm(temp, { force: true })
      // execFile's message already carries the command and its stderr; asc 0.14 prints diagnostics to stdout.
      const { stdout = '' } = error as { stdout?: string }
      throw new ExampleBuildError(`compiling ${example.folder} failed: ${String(error)}\n${stdout}`, { cause: error })
    }
  }
  return { file: outFile, module: new WebAssembly.Module(await readFile(outFile)) }
}

async function buildKey(example: CompatExample, cwd: string): Promise<string> {
  const hash = createHash('sha256')
  hash.update(JSON.stringify({ compiler: example.compiler, args: example.args, tool: example.toolVersion }))
  for (const name of example.packages ?? []) {
    const manifest = JSON.parse(await readFile(await findManifest(cwd, name), 'utf8')) as { version: string }
    hash.update(`\0${name}@${manifest.version}`)
  }
  for (const file of await listFiles(cwd)) {
    hash.update(`\0${path.relative(cwd, file)}\0`)
    hash.update(await readFile(file))
  }
  return hash.digest('hex').slice(0, 16)
}

/** The example's own files: node_modules (an example that is a workspace has one) counts through `packages`. */
async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true })
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name))
    .filter((file) => !path.relative(dir, file).split(path.sep).includes('node_modules'))
    .sort()
}

/**
 * The package.json Node would load `name` from, looking up from `dir` as module resolution does (read directly:
 * some SDKs' `exports` hide package.json from require.resolve).
 */
async function findManifest(dir: string, name: string): Promise<string> {
  for (let at = dir; ; at = path.dirname(at)) {
    const file = path.join(at, 'node_modules', name, 'package.json')
    if ((await stat(file).catch(() => undefined))?.isFile()) return file
    if (at === path.dirname(at)) throw new ExampleBuildError(`package ${name} is not installed (npm install)`)
  }
}
