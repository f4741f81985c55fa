// The README walkthrough as a user runs it: a fresh `npm start` on an embedded database, then
// scripts/walkthrough.sh (the weft CLI, sidecars, apps). If the product changes under the README, this fails.
import { spawn, execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer as createNetServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('..', import.meta.url))

// The script's fixed ports (orders, two payments sidecars, three apps) relative to WALKTHROUGH_PORT_BASE.
const OFFSETS = [0, 1, 2, 10, 11, 12, 20, 21, 22, 90, 91, 92]
const free = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createNetServer()
    s.once('error', () => resolve(false))
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)))
  })
/** A base whose every port is free right now, so the walkthrough does not collide with whatever else runs. */
async function freePortBase(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 17000 + Math.floor(Math.random() * 2000)
    if ((await Promise.all(OFFSETS.map((o) => free(base + o)))).every(Boolean)) return base
  }
  throw new Error('no free port range for the walkthrough')
}
const run = promisify(execFile)
const dirs: string[] = []
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })))

describe('the README walkthrough', () => {
  it('runs end to end on a fresh embedded database', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'weft-walkthrough-'))
    dirs.push(dataDir)
    const server = spawn(join(root, 'node_modules/.bin/tsx'), ['control-api/src/runtime/node.ts'], {
      cwd: root,
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', WEFT_DATA_DIR: join(dataDir, 'db'), DATABASE_URL: '', WEFT_OPERATOR_KEY: '', WEFT_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    server.stdout!.on('data', (d) => (out += d))
    server.stderr!.on('data', (d) => (out += d))
    try {
      const until = Date.now() + 30_000
      while (!/listening on (http:\/\/\S+)/.test(out)) {
        if (Date.now() > until) throw new Error(`npm start did not come up:\n${out}`)
        await new Promise((r) => setTimeout(r, 50))
      }
      const url = /listening on (http:\/\/\S+)/.exec(out)![1]!.replace('localhost', '127.0.0.1')
      const operatorKey = /WEFT_OPERATOR_KEY=(wfo_\S+)/.exec(out)![1]!
      const { stdout } = await run('bash', ['scripts/walkthrough.sh'], {
        cwd: root,
        env: { ...process.env, WEFT_URL: url, WEFT_OPERATOR_KEY: operatorKey, WEFT_API_KEY: '', WALKTHROUGH_STATE: join(dataDir, 'state'), WALKTHROUGH_PORT_BASE: String(await freePortBase()) },
        timeout: 240_000,
        maxBuffer: 16 * 1024 * 1024,
      })
      expect(stdout).toContain('walkthrough done')
      // The first call went through both sidecars: the caller's identity and the filter's header arrived.
      expect(stdout).toMatch(/"caller":"spiffe:\/\/acme\.weft\/svc\/orders"/)
      expect(stdout).toMatch(/"hello":"world"/)
      const v2 = Number(/payments-v2 served (\d+) of 200/.exec(stdout)![1])
      expect(v2).toBeGreaterThan(2)
      expect(v2).toBeLessThan(45)
      expect(stdout).toMatch(/weft_requests_total\{/)
      expect(stdout).toMatch(/"app":"payments-v2","path":"\/after-shift"/)
    } finally {
      server.kill('SIGTERM')
    }
  }, 300_000)
})
