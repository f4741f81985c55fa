// `weft sidecar` starts the Node sidecar from edge-proxy (when this checkout has it): it joins, registers its
// endpoint, converges on new revisions (seen through `apply --wait-converged`), and drains on SIGTERM. The same
// for the bundle containers run (`npm run build:sidecar` → `node dist/sidecar/weft-sidecar.mjs`), built here.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { backends } from '../support/databases'
import { buildSidecar } from '../../scripts/build-sidecar'
import { startCliServer, WEFT_BIN, type CliServer } from './run-cli'

const RUNTIME = 'edge-proxy/src/runtime/node.ts'

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

// How each form is started: the arguments before the sidecar's own flags.
const launchers: { form: string; argv: () => Promise<string[]> }[] = [
  { form: 'weft sidecar (checkout, tsx)', argv: async () => [WEFT_BIN, 'sidecar'] },
  { form: 'weft-sidecar.mjs (npm run build:sidecar)', argv: async () => [await buildSidecar(mkdtempSync(join(tmpdir(), 'weft-sidecar-build-')))] },
]

describe.skipIf(!existsSync(RUNTIME)).each(launchers)('$form with the Node runtime', ({ argv }) => {
  let s: CliServer
  let adminKey: string
  let child: ChildProcess | undefined
  let launch: string[]

  beforeAll(async () => {
    launch = await argv()
    s = await startCliServer(backends[0]!)
    adminKey = (await s.harness.onboard('acme')).adminKey
  })
  afterAll(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL')
    await s?.close()
  })

  it('reports every flag problem at once and exits 2', () => {
    const r = spawnSync(process.execPath, [...launch, '--service', 'Bad', '--max-body-bytes', 'lots'], { env: { PATH: process.env.PATH! }, encoding: 'utf8' })
    expect(r.status).toBe(2)
    for (const problem of ['--control-url (or WEFT_URL) is required', '--service must be a DNS label (got Bad)', '--app-port is required', '--max-body-bytes must be a size']) {
      expect(r.stderr).toContain(problem)
    }
  })

  it('runs until SIGTERM, registered while it runs', async () => {
    await s.harness.request('POST', '/v1/services', { key: adminKey, body: { name: 'payments', port: 8080 } })
    const token = (await s.harness.request('POST', '/v1/services/payments/join-tokens', { key: adminKey, body: {} })).body.secret as string
    const [app, inbound, outbound, admin] = [await freePort(), await freePort(), await freePort(), await freePort()]
    child = spawn(
      process.execPath,
      [...launch, '--app-port', String(app), '--inbound-port', String(inbound), '--outbound-port', String(outbound), '--admin-port', String(admin), '--labels', 'version=v1', '--state-dir', `${s.home}/state`, '--max-headers', '20', '--max-body-bytes', '1KiB'],
      { env: { PATH: process.env.PATH!, HOME: s.home, WEFT_URL: s.url, WEFT_JOIN_TOKEN: token, WEFT_SERVICE: 'payments' } },
    )
    let stderr = ''
    const running = new Promise<void>((resolve, reject) => {
      child!.stderr!.on('data', (d) => {
        stderr += d
        if (stderr.includes('weft sidecar for payments running')) resolve()
      })
      child!.once('exit', (code) => reject(new Error(`sidecar exited ${code}: ${stderr}`)))
    })
    let stdout = ''
    child.stdout!.on('data', (d) => (stdout += d))
    await running
    expect(stderr).toContain(`inbound :${inbound} → app :${app}, outbound :${outbound}, admin :${admin}`)
    // The structured start line: admin on loopback, the flags' limits over the defaults.
    for (const until = Date.now() + 5_000; !stdout.includes('"sidecar listening"') && Date.now() < until; ) await new Promise((r) => setTimeout(r, 20))
    const started = stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((l) => l.msg === 'sidecar listening')
    expect(started.hosts).toEqual({ inbound: '0.0.0.0', outbound: '127.0.0.1', admin: '127.0.0.1' })
    expect(started.limits).toMatchObject({ maxHeaders: 20, maxBodyBytes: 1024, maxHeaderBytes: 61440, headersTimeoutMs: 10000 })
    // The limits hold on the inbound listener, answered as problem+json.
    const many = Object.fromEntries(Array.from({ length: 25 }, (_, i) => [`x-h${i}`, 'v']))
    const tooMany = await fetch(`http://127.0.0.1:${inbound}/`, { headers: many })
    expect([tooMany.status, tooMany.headers.get('weft-reason'), tooMany.headers.get('content-type')]).toEqual([431, 'header-too-large', 'application/problem+json'])
    const tooBig = await fetch(`http://127.0.0.1:${inbound}/`, { method: 'POST', body: 'x'.repeat(2000) })
    expect([tooBig.status, tooBig.headers.get('weft-reason')]).toEqual([413, 'body-too-large'])
    expect(await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text()).toContain('weft_listener_refusals_total{listener="inbound",reason="body-too-large"} 1')
    // Registration runs in the background (it must not hold a sidecar that starts during an outage).
    let eps: any[] = []
    for (const until = Date.now() + 10_000; eps.length === 0 && Date.now() < until; await new Promise((r) => setTimeout(r, 50))) {
      eps = (await s.harness.request('GET', '/v1/services/payments/endpoints', { key: adminKey })).body.items
    }
    expect(eps.map((e: any) => [e.address, e.port, e.labels.version])).toEqual([['127.0.0.1', inbound, 'v1']])

    // A live proxy: apply --wait-converged returns once it has the new revision.
    const file = `${s.home}/rl.yaml`
    await import('node:fs/promises').then((fs) => fs.writeFile(file, 'kind: RateLimitPolicy\nname: rl\ntargetRef: { service: payments }\nspec:\n  limits: [{ key: source, requestsPerUnit: 5, unit: second }]\n'))
    const applied = await s.run(['apply', '-f', file, '--wait-converged', '--timeout', '30'], { env: { WEFT_URL: s.url, WEFT_API_KEY: adminKey } })
    expect(applied.code, applied.stderr).toBe(0)
    expect(applied.stdout).toMatch(/revision (\d+) \(current \1\): converged, 1 applied, 0 pending\n/)

    child.removeAllListeners('exit')
    const exited = new Promise<number | null>((resolve) => child!.once('exit', resolve))
    child.kill('SIGTERM')
    expect(await exited).toBe(0)
    expect((await s.harness.request('GET', '/v1/services/payments/endpoints', { key: adminKey })).body.items).toEqual([])
  })
})

describe('weft sidecar flags', () => {
  const base = ['--control-url', 'http://127.0.0.1:8787', '--join-token', 'wfj_x', '--service', 'payments', '--app-port', '3000']
  /** The options `weft sidecar …` hands the runtime, through commander as the CLI parses them. */
  async function optionsOf(args: string[], env: Record<string, string> = {}) {
    const { sidecarCommand } = await import('../../sdk/src/cli/commands/sidecar')
    const { Command } = await import('commander')
    let seen: unknown
    const cmd = sidecarCommand(new Command('sidecar'), { err: () => {}, env }, async () => ({ runSidecar: async (o) => void (seen = o) })).exitOverride()
    await cmd.parseAsync([...base, ...args], { from: 'user' })
    return seen as Record<string, unknown>
  }

  it('leaves the access log to the runtime (errors) unless --access-log, --no-access-log or WEFT_ACCESS_LOG says otherwise', async () => {
    expect(await optionsOf([])).not.toHaveProperty('accessLog')
    expect(await optionsOf(['--access-log', 'all'])).toMatchObject({ accessLog: 'all' })
    expect(await optionsOf(['--access-log', 'ERRORS'])).toMatchObject({ accessLog: 'errors' })
    expect(await optionsOf(['--access-log', 'off'])).toMatchObject({ accessLog: 'off' })
    expect(await optionsOf(['--no-access-log'])).toMatchObject({ accessLog: 'off' })
    expect(await optionsOf([], { WEFT_ACCESS_LOG: 'all' })).toMatchObject({ accessLog: 'all' })
    // The flag wins over the variable.
    expect(await optionsOf(['--no-access-log'], { WEFT_ACCESS_LOG: 'all' })).toMatchObject({ accessLog: 'off' })
    await expect(optionsOf(['--access-log', 'sometimes'])).rejects.toThrow('--access-log (or WEFT_ACCESS_LOG) must be one of all, errors, off (got "sometimes")')
  })
})
