// `npm run build`, step 1: stages the sources tsc compiles for the published package into .build/src.
//
// Everything is copied as is except src/types.ts, which is replaced by its flattened copy (flatten-types.ts), so
// that dist/ depends on nothing outside this package. Before tsc runs, a type-level check proves the flattened
// types equal the derived ones, name by name; any difference fails the build.
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { flattenTypes } from './flatten-types'

const sdk = join(dirname(fileURLToPath(import.meta.url)), '..')
const repoTsconfig = join(sdk, '..', 'tsconfig.json')
const stage = join(sdk, '.build')

rmSync(stage, { recursive: true, force: true })
rmSync(join(sdk, 'dist'), { recursive: true, force: true })
mkdirSync(stage, { recursive: true })
// The CLI is Node-only and runs from source in the repo (bin/weft.mjs); the published client is runtime-agnostic.
cpSync(join(sdk, 'src'), join(stage, 'src'), { recursive: true, filter: (f) => !f.endsWith('.test.ts') && !f.includes(`${join('src', 'cli')}`) })

const { text, names } = flattenTypes(join(sdk, 'src', 'types.ts'), repoTsconfig)
writeFileSync(join(stage, 'src', 'types.ts'), text)

// Both directions of assignability, for every exported type: the flattened copy must mean the same thing.
const check = join(stage, 'check-types.ts')
writeFileSync(
  check,
  [
    "import type * as Derived from '../src/types.js'",
    "import type * as Flat from './src/types.js'",
    'type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false',
    'type Assert<T extends true> = T',
    ...names.map((n) => {
      const arg = n === 'Page' ? '<{ id: string }>' : ''
      return `export type Check_${n} = Assert<Same<Derived.${n}${arg}, Flat.${n}${arg}>>`
    }),
  ].join('\n') + '\n',
)
const parsed = ts.getParsedCommandLineOfConfigFile(repoTsconfig, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} })!
const program = ts.createProgram([check], { ...parsed.options, noEmit: true })
const diagnostics = ts.getPreEmitDiagnostics(program)
if (diagnostics.length) {
  const host = { getCanonicalFileName: (f: string) => f, getCurrentDirectory: () => sdk, getNewLine: () => '\n' }
  console.error(ts.formatDiagnostics(diagnostics, host))
  console.error('the flattened types differ from the derived ones (see above)')
  process.exit(1)
}
rmSync(check)
console.log(`staged ${relative(process.cwd(), join(stage, 'src'))}: ${names.length} types flattened and checked`)
