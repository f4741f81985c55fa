// `npm start` as a user runs it: a real process, a real port, the embedded database on disk.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { createScratchDatabase, TEST_DATABASE_URL } from './support/databases'

const root = fileURLToPath(new URL('..', import.meta.url))

type Started = { child: ChildProcess; url: string; output: () => string; stop(): Promise<void> }

function start(env: Record<string, string>): Promise<Started> {
  const child = spawn(join(root, 'node_modules/.bin/tsx'), ['control-api/src/runtime/node.ts'], {
    cwd: root,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', WEFT_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout!.on('data', (d) => (out += d))
  child.stderr!.on('data', (d) => (out += d))
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve()
      child.once('exit', () => resolve())
      child.kill('SIGTERM')
    })
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 15_000)
    const exited = (code: number | null) => reject(new Error(`server exited with ${code}:\n${out}`))
    child.once('exit', exited)
    const listening = () => {
      const m = /listening on (http:\/\/\S+)/.exec(out)
      if (!m) return
      clearTimeout(timer)
      child.off('exit', exited)
      child.stdout!.off('data', listening)
      resolve({ child, url: m[1]!.replace('localhost', '127.0.0.1'), output: () => out, stop })
    }
    child.stdout!.on('data', listening)
  })
}

/** Child output arrives on its own schedule: poll briefly for it. */
async function eventually<T>(probe: () => T | undefined, ms = 5_000): Promise<T> {
  const until = Date.now() + ms
  for (;;) {
    const v = probe()
    if (v !== undefined) return v
    if (Date.now() > until) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 20))
  }
}

const dirs: string[] = []
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })))

describe('the Node server (npm start)', () => {
  it('prints a generated operator key on first start only, keeps data across restarts, stops on SIGTERM', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'weft-data-'))
    dirs.push(dataDir)
    const env = { WEFT_DATA_DIR: dataDir, DATABASE_URL: '' }

    const first = await start(env)
    try {
      expect(first.output()).toContain('migrations applied')
      const key = /WEFT_OPERATOR_KEY=(wfo_\S+)/.exec(first.output())?.[1]
      expect(key).toBeDefined()
      const created = await fetch(`${first.url}/v1/tenants`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ slug: 'persisted' }),
      })
      expect(created.status).toBe(201)
      // JSON logs on stdout carry the request id and route.
      const line = await eventually(() => first.output().split('\n').find((l) => l.includes('"route":"/v1/tenants"')))
      expect(JSON.parse(line!)).toMatchObject({ method: 'POST', status: 201, requestId: created.headers.get('x-request-id') })
    } finally {
      await first.stop()
    }
    expect(first.child.exitCode).toBe(0)

    const second = await start(env)
    try {
      expect(second.output()).not.toContain('WEFT_OPERATOR_KEY=')
      expect(second.output()).toContain('database schema up to date')
      const key = /WEFT_OPERATOR_KEY=(wfo_\S+)/.exec(first.output())![1]
      const got = await fetch(`${second.url}/v1/tenants/persisted`, { headers: { authorization: `Bearer ${key}` } })
      expect(got.status).toBe(200)
    } finally {
      await second.stop()
    }
  })

  it('refuses bad configuration with every problem at once', async () => {
    await expect(start({ PORT: 'eighty', WEFT_OPERATOR_KEY: 'short', DATABASE_URL: 'mysql://x' })).rejects.toThrow(/PORT[\s\S]*DATABASE_URL[\s\S]*WEFT_OPERATOR_KEY|PORT[\s\S]*WEFT_OPERATOR_KEY/)
  })

  it.skipIf(!TEST_DATABASE_URL)('runs against PostgreSQL with DATABASE_URL and a chosen operator key', async () => {
    const scratch = await createScratchDatabase(TEST_DATABASE_URL!)
    const operatorKey = 'wfo_chosen_by_the_operator_0123456789'
    const server = await start({ DATABASE_URL: scratch.url, WEFT_OPERATOR_KEY: operatorKey })
    try {
      expect(server.output()).not.toContain('WEFT_OPERATOR_KEY=')
      expect(server.output()).toContain('PostgreSQL')
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200)
      const created = await fetch(`${server.url}/v1/tenants`, {
        method: 'POST',
        headers: { authorization: `Bearer ${operatorKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ slug: 'on-postgres' }),
      })
      expect(created.status).toBe(201)
    } finally {
      await server.stop()
      await scratch.drop()
    }
  })
})
