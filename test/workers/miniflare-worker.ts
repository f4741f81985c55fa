// Boots the wrangler-built control API Worker in workerd (Miniflare), with the Durable Objects its
// wrangler.jsonc declares, so tests run the bundle Cloudflare would.
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import type { Readable } from 'node:stream'
import { Miniflare } from 'miniflare'
import { parseJsonc, WORKER_CONFIG, type BuiltWorker } from '../../scripts/build-worker'

export type Reply = { status: number; type: string | null; headers: Headers; body: any }

/** A port nothing listens on: bound by the OS, then released. */
export function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

export async function eventually<T>(probe: () => Promise<T | undefined> | T | undefined, ms = 5_000): Promise<T> {
  const until = Date.now() + ms
  for (;;) {
    const v = await probe()
    if (v !== undefined) return v
    if (Date.now() > until) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** The Durable Object bindings of control-api/wrangler.jsonc, as Miniflare takes them. */
function durableObjectsOfConfig(): Record<string, { className: string; useSQLite: boolean }> {
  const config = parseJsonc(readFileSync(WORKER_CONFIG, 'utf8')) as {
    durable_objects?: { bindings: { name: string; class_name: string }[] }
    migrations?: { new_sqlite_classes?: string[] }[]
  }
  const sqlite = new Set((config.migrations ?? []).flatMap((m) => m.new_sqlite_classes ?? []))
  return Object.fromEntries(
    (config.durable_objects?.bindings ?? []).map((b) => [b.name, { className: b.class_name, useSQLite: sqlite.has(b.class_name) }]),
  )
}

/**
 * One Worker instance; workerd's stdout (the Worker's JSON logs) is kept for assertions. `durableObjects:
 * false` boots it without them, as a deployment that left the bindings out would run.
 */
export function boot(built: BuiltWorker, bindings: Record<string, string>, opts: { durableObjects?: boolean } = {}) {
  let out = ''
  const collect = (stream: Readable) => stream.on('data', (chunk) => (out += String(chunk)))
  const mf = new Miniflare({
    modules: true,
    scriptPath: built.scriptPath,
    // Module names are paths relative to this root; the default (cwd) would make them start with "..",
    // which workerd refuses ("can't use '..' to break out of starting directory").
    modulesRoot: built.outdir,
    compatibilityDate: built.compatibilityDate,
    compatibilityFlags: built.compatibilityFlags,
    bindings,
    durableObjects: opts.durableObjects === false ? {} : durableObjectsOfConfig(),
    handleRuntimeStdio: (stdout: Readable, stderr: Readable) => {
      collect(stdout)
      collect(stderr)
    },
  })
  async function request(method: string, path: string, opts: { key?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Reply> {
    const headers: Record<string, string> = { ...opts.headers }
    if (opts.key) headers.authorization = `Bearer ${opts.key}`
    if (opts.body !== undefined) headers['content-type'] = 'application/json'
    const res = await mf.dispatchFetch(`http://weft.test${path}`, {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    })
    const text = await res.text()
    return { status: res.status, type: res.headers.get('content-type'), headers: res.headers as unknown as Headers, body: text ? JSON.parse(text) : null }
  }
  const logs = () =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
  return { mf, request, logs }
}
