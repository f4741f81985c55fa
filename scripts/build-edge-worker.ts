// Bundles the edge proxy Worker as `wrangler deploy` would, without uploading (the edge proxy is
// Web-standard: no nodejs_compat). Same offline build as the control API's: scripts/build-worker.ts.
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { buildWorker, type BuiltWorker } from './build-worker'

const root = fileURLToPath(new URL('..', import.meta.url))
export const EDGE_WORKER_CONFIG = join(root, 'edge-proxy/wrangler.jsonc')
export const DEFAULT_EDGE_OUTDIR = join(root, 'dist/edge-proxy-worker')

export function buildEdgeWorker(outdir: string = DEFAULT_EDGE_OUTDIR): Promise<BuiltWorker> {
  return buildWorker(EDGE_WORKER_CONFIG, outdir)
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  buildEdgeWorker(process.argv[2]).then(
    (built) => console.log(JSON.stringify({ level: 30, time: Date.now(), msg: 'edge worker built', ...built })),
    (err: Error) => {
      console.error(JSON.stringify({ level: 50, time: Date.now(), msg: 'edge worker build failed', err: { name: err.name, message: err.message } }))
      process.exit(1)
    },
  )
}
