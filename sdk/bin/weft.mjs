#!/usr/bin/env node
// The `weft` CLI. In the repository it runs the TypeScript sources through tsx's loader, so there is no build
// step; a published package (no src/) runs the compiled dist/ instead.
import { existsSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'

const source = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url))
const repoTsconfig = fileURLToPath(new URL('../../tsconfig.json', import.meta.url))

let entry
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api')
  // The repository's tsconfig maps @weft/sdk and lets `weft sidecar` load edge-proxy's TypeScript too.
  register(existsSync(repoTsconfig) ? { tsconfig: repoTsconfig } : {})
  entry = pathToFileURL(source).href
} else {
  entry = new URL('../dist/cli/main.js', import.meta.url).href
}
const { main } = await import(entry)
process.exitCode = await main(process.argv)
