// Runs the real `weft` bin as a child process against an in-process control API served on a real port.
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { serve, type ServerType } from '@hono/node-server'
import type { Backend } from '../support/databases'
import { startHarness, type Harness } from '../support/harness'

export const WEFT_BIN = fileURLToPath(new URL('../../sdk/bin/weft.mjs', import.meta.url))

export type CliResult = { code: number; stdout: string; stderr: string }

export type CliServer = {
  harness: Harness
  url: string
  /** A HOME and WEFT_CONFIG of its own, so no login on this machine leaks into a test. */
  home: string
  run: (args: readonly string[], opts?: { env?: Record<string, string | undefined>; stdin?: string }) => Promise<CliResult>
  close: () => Promise<void>
}

export async function startCliServer(backend: Backend): Promise<CliServer> {
  const harness = await startHarness(backend)
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: harness.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s))
  })
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  const url = `http://127.0.0.1:${address.port}`
  const home = await mkdtemp(join(tmpdir(), 'weft-cli-'))

  function run(args: readonly string[], opts: { env?: Record<string, string | undefined>; stdin?: string } = {}): Promise<CliResult> {
    const env: Record<string, string> = {}
    for (const k of ['PATH', 'SYSTEMROOT', 'TMPDIR']) if (process.env[k]) env[k] = process.env[k]!
    Object.assign(env, { HOME: home, WEFT_CONFIG: join(home, 'config.json'), NO_COLOR: '1' })
    for (const [k, v] of Object.entries(opts.env ?? {})) {
      if (v === undefined) delete env[k]
      else env[k] = v
    }
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [WEFT_BIN, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] })
      let stdout = ''
      let stderr = ''
      child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d))
      child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d))
      child.on('error', reject)
      child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }))
      child.stdin.end(opts.stdin ?? '')
    })
  }

  return {
    harness,
    url,
    home,
    run,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await harness.close()
      await rm(home, { recursive: true, force: true })
    },
  }
}

/** Replaces what changes from run to run (ids, timestamps, hashes) so output can be compared verbatim. */
export function normalise(text: string): string {
  return text
    .replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z/g, '<time>')
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<id>')
}
