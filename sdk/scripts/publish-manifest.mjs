// prepack/postpack: the packed package.json must not carry the "development" export condition. In the
// repository it sends vitest to src/index.ts; in a user's dev build (Vite, webpack) it would point at sources
// that are not in the tarball. `strip` keeps the original beside it; `restore` puts it back.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'

const manifest = new URL('../package.json', import.meta.url)
const backup = new URL('../package.json.dev', import.meta.url)
const command = process.argv[2]

function withoutDevelopment(value) {
  if (Array.isArray(value) || value === null || typeof value !== 'object') return value
  return Object.fromEntries(Object.entries(value).filter(([k]) => k !== 'development').map(([k, v]) => [k, withoutDevelopment(v)]))
}

if (command === 'strip') {
  if (existsSync(backup)) throw new Error('package.json.dev exists: a previous pack did not finish; run `node scripts/publish-manifest.mjs restore` first')
  const text = readFileSync(manifest, 'utf8')
  writeFileSync(backup, text)
  const pkg = JSON.parse(text)
  writeFileSync(manifest, JSON.stringify({ ...pkg, exports: withoutDevelopment(pkg.exports) }, null, 2) + '\n')
} else if (command === 'restore') {
  if (existsSync(backup)) renameSync(backup, manifest)
} else {
  throw new Error('usage: publish-manifest.mjs strip|restore')
}
