// Bundles the control API Worker exactly as `wrangler deploy` would, without uploading: wrangler's bundler
// maps Node built-ins onto nodejs_compat (a plain esbuild bundle does not). Offline: no metrics, no banner
// (the banner is what checks npm for a newer wrangler).
import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { isAbsolute, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { promisify } from 'node:util'

const root = fileURLToPath(new URL('..', import.meta.url))
export const WORKER_CONFIG = join(root, 'control-api/wrangler.jsonc')
export const DEFAULT_OUTDIR = join(root, 'dist/control-api-worker')

export type BuiltWorker = {
  outdir: string
  /** The bundle's entry module; its imports, if any, sit beside it. */
  scriptPath: string
  compatibilityDate: string
  compatibilityFlags: string[]
}

/** Enough JSONC for our own config: comments and trailing commas go, strings stay intact. */
export function parseJsonc(text: string): any {
  const strings = /("(?:\\.|[^"\\])*")/.source
  const noComments = text.replace(new RegExp(`${strings}|//[^\\n]*|/\\*[\\s\\S]*?\\*/`, 'g'), (m, s) => s ?? '')
  return JSON.parse(noComments.replace(new RegExp(`${strings}|,(?=\\s*[}\\]])`, 'g'), (m, s) => s ?? ''))
}

export function buildControlApiWorker(outdir: string = DEFAULT_OUTDIR): Promise<BuiltWorker> {
  return buildWorker(WORKER_CONFIG, outdir)
}

/** Any of the repo's Workers, by its wrangler config (the edge proxy's build uses this too). */
export async function buildWorker(configPath: string, outdir: string): Promise<BuiltWorker> {
  const dir = isAbsolute(outdir) ? outdir : resolve(root, outdir)
  const wrangler = join(root, 'node_modules/.bin/wrangler')
  try {
    await promisify(execFile)(wrangler, ['deploy', '--dry-run', '--outdir', dir, '--config', configPath], {
      cwd: root,
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false', WRANGLER_HIDE_BANNER: 'true', NO_COLOR: '1', CI: 'true' },
      maxBuffer: 16 * 1024 * 1024,
    })
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string }
    throw new Error(`wrangler could not bundle the Worker:\n${e.stderr || e.stdout || e.message}`, { cause: err })
  }
  const config = parseJsonc(readFileSync(configPath, 'utf8')) as { main: string; compatibility_date: string; compatibility_flags?: string[] }
  // wrangler names the bundle after the entry file: src/runtime/workers.ts -> workers.js.
  const scriptPath = join(dir, config.main.replace(/^.*\//, '').replace(/\.[cm]?[jt]s$/, '.js'))
  if (!existsSync(scriptPath)) throw new Error(`wrangler finished but ${scriptPath} is missing`)
  return { outdir: dir, scriptPath, compatibilityDate: config.compatibility_date, compatibilityFlags: config.compatibility_flags ?? [] }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const outdir = process.argv[2] ?? DEFAULT_OUTDIR
  buildControlApiWorker(outdir).then(
    (built) => console.log(JSON.stringify({ level: 30, time: Date.now(), msg: 'worker built', ...built })),
    (err: Error) => {
      console.error(JSON.stringify({ level: 50, time: Date.now(), msg: 'worker build failed', err: { name: err.name, message: err.message } }))
      process.exit(1)
    },
  )
}
