// Exit codes that mean something, errors that say what to do next, login, and the smaller commands.
import { existsSync } from 'node:fs'
import { mkdtemp, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { backends } from '../support/databases'
import { OPERATOR_KEY } from '../support/harness'
import { moduleExporting } from '../support/wasm-module'
import { normalise, startCliServer, type CliServer } from './run-cli'

describe('weft commands and exit codes', () => {
  let s: CliServer
  let env: Record<string, string>
  let adminKey: string
  let dir: string
  const weft = (...args: string[]) => s.run(args, { env })

  beforeAll(async () => {
    s = await startCliServer(backends[0]!)
    adminKey = (await s.harness.onboard('acme')).adminKey
    env = { WEFT_URL: s.url, WEFT_API_KEY: adminKey }
    dir = await mkdtemp(join(tmpdir(), 'weft-cmd-'))
  })
  afterAll(async () => s?.close())

  it('401: exit 1, and says how to log in', async () => {
    const r = await s.run(['services', 'list'], { env: { WEFT_URL: s.url, WEFT_API_KEY: 'wft_not_a_real_key_000000000000' } })
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^error: .*\nhint: run weft login --url URL --api-key KEY, or set WEFT_API_KEY\n$/)
    expect(r.stdout).toBe('')
    const none = await s.run(['services', 'list'], { env: { WEFT_URL: s.url } })
    expect(none.code).toBe(1)
    expect(none.stderr).toContain('hint: run weft login')
  })

  it('404: exit 3', async () => {
    for (const args of [['services', 'get', 'nowhere'], ['get', 'policy', 'nowhere'], ['policies', 'delete', 'nowhere'], ['policies', 'history', 'nowhere']]) {
      const r = await weft(...args)
      expect(r.code, args.join(' ')).toBe(3)
      expect(r.stderr).toMatch(/^error: Not found/)
    }
  })

  it('usage errors: exit 2, nothing sent', async () => {
    const cases = [
      ['services', 'frobnicate'],
      ['services', 'get'],
      ['services', 'list', '--bogus'],
      ['services', 'list', '-o', 'xml'],
      ['services', 'create', 'x', '--port', 'eighty'],
      ['services', 'create', 'x', '--label', 'novalue'],
      ['get', 'gateways'],
      ['keys', 'create', 'ci'],
      ['keys', 'create', 'ci', '--role', 'root'],
      ['policies', 'rollback', 'p', '--version', 'latest'],
      ['convergence', 'abc'],
      ['apply'],
      ['nonsense'],
    ]
    for (const args of cases) expect((await weft(...args)).code, args.join(' ')).toBe(2)
    expect((await s.run(['services', 'list'], { env: {} })).stderr).toContain('no control API URL')
    const badUrl = await s.run(['services', 'list'], { env: { WEFT_URL: 'not a url' } })
    expect(badUrl.code).toBe(2)
    expect(badUrl.stderr).toContain('baseUrl is not a URL')
    expect((await weft('--help')).code).toBe(0)
    expect((await weft('services', 'list')).stdout).toBe('NAME  PROTOCOL  PORT  LABELS  VERSION  UPDATED\n')
  })

  it('409: exit 4', async () => {
    expect((await weft('services', 'create', 'payments', '--port', '8080')).code).toBe(0)
    const r = await weft('services', 'create', 'payments')
    expect(r.code).toBe(4)
    expect(r.stderr).toMatch(/^error: /)
  })

  it('no answer: exit 69, naming the URL to check', async () => {
    const r = await s.run(['services', 'list'], { env: { WEFT_URL: 'http://127.0.0.1:9', WEFT_API_KEY: adminKey } })
    expect(r.code).toBe(69)
    expect(r.stderr).toContain('hint: is the control API running at that URL?')
  })

  it('login stores the URL and key in a 0600 file that later commands use; flags override it', async () => {
    const config = join(dir, 'weft', 'config.json')
    const login = await s.run(['login', '--url', s.url, '--api-key', adminKey], { env: { WEFT_CONFIG: config } })
    expect(login.code, login.stderr).toBe(0)
    expect(login.stdout).toContain('(tenant acme)')
    expect((await stat(config)).mode & 0o777).toBe(0o600)
    const list = await s.run(['services', 'list', '--json'], { env: { WEFT_CONFIG: config } })
    expect(list.code, list.stderr).toBe(0)
    expect(JSON.parse(list.stdout).map((x: any) => x.name)).toEqual(['payments'])
    const bad = await s.run(['services', 'list', '--api-key', 'wft_wrong_000000000000000000000'], { env: { WEFT_CONFIG: config } })
    expect(bad.code).toBe(1)
    const refused = await s.run(['login', '--url', s.url, '--api-key', 'wft_wrong_000000000000000000000'], { env: { WEFT_CONFIG: join(dir, 'other.json') } })
    expect(refused.code).toBe(1)
    await expect(stat(join(dir, 'other.json'))).rejects.toThrow()
  })

  it('tenants: create, get, delete with the operator key', async () => {
    const op = { WEFT_URL: s.url, WEFT_OPERATOR_KEY: OPERATOR_KEY }
    const created = await s.run(['tenants', 'create', 'globex', '--display-name', 'Globex'], { env: op })
    expect(created.code, created.stderr).toBe(0)
    expect(created.stdout).toMatch(/^tenant globex created \(trust domain globex\.weft\)\nadmin key \(shown once, keep it safe\): wft_\S+\n$/)
    const got = await s.run(['tenants', 'get', 'globex', '--json'], { env: op })
    expect(JSON.parse(got.stdout)).toMatchObject({ slug: 'globex', displayName: 'Globex' })
    // A tenant key cannot onboard: 403 is exit 1, with a hint about roles and the operator key.
    const forbidden = await weft('tenants', 'list')
    expect(forbidden.code).toBe(1)
    expect(forbidden.stderr).toContain('WEFT_OPERATOR_KEY')
    expect((await s.run(['tenants', 'delete', 'globex'], { env: op })).code).toBe(0)
    expect((await s.run(['tenants', 'get', 'globex'], { env: op })).code).toBe(3)
  })

  it('keys: create, list, revoke', async () => {
    const created = await weft('keys', 'create', 'ci', '--role', 'viewer', '--json')
    expect(created.code, created.stderr).toBe(0)
    const key = JSON.parse(created.stdout)
    expect(key).toMatchObject({ name: 'ci', role: 'viewer' })
    const viewer = await s.run(['services', 'list'], { env: { WEFT_URL: s.url, WEFT_API_KEY: key.secret } })
    expect(viewer.code).toBe(0)
    expect(normalise((await weft('keys', 'list')).stdout)).toMatch(/\n<id>\s+ci\s+viewer\s+wft_\S+\s+<time>\s+-\n$/)
    expect((await weft('keys', 'revoke', key.id)).code).toBe(0)
    expect((await s.run(['services', 'list'], { env: { WEFT_URL: s.url, WEFT_API_KEY: key.secret } })).code).toBe(1)
  })

  it('services create, endpoints list, delete', async () => {
    const c = await weft('services', 'create', 'orders', '--port', '8081', '--protocol', 'grpc', '--label', 'team=shop,tier=1', '--json')
    expect(c.code, c.stderr).toBe(0)
    expect(JSON.parse(c.stdout)).toMatchObject({ name: 'orders', port: 8081, protocol: 'grpc', labels: { team: 'shop', tier: '1' } })
    await s.harness.request('POST', '/v1/services/orders/endpoints', { key: adminKey, body: { address: '10.0.0.7', port: 8081, zone: 'z1', labels: { version: 'v1' } } })
    const eps = await weft('endpoints', 'list', 'orders')
    // ids are normalised after the columns were padded to their full width
    expect(normalise(eps.stdout)).toBe(
      [
        'ID                                    ADDRESS        ZONE  LABELS      WEIGHT  HEALTH   EXPIRES',
        '<id>  10.0.0.7:8081  z1    version=v1  100     healthy  <time>',
        '',
      ].join('\n'),
    )
    expect((await weft('get', 'endpoints', 'orders', '--json')).code).toBe(0)
    expect((await weft('endpoints', 'list', 'nowhere')).code).toBe(3)
    expect((await weft('services', 'delete', 'orders')).stdout).toBe('service orders deleted\n')
  })

  it('policies rollback and history', async () => {
    const file = join(dir, 'rl.yaml')
    const rl = (n: number) => `kind: RateLimitPolicy\nname: rl\ntargetRef: { service: payments }\nspec:\n  limits: [{ key: source, requestsPerUnit: ${n}, unit: second }]\n`
    await writeFile(file, rl(10))
    expect((await weft('apply', '-f', file)).code).toBe(0)
    await writeFile(file, rl(20))
    expect((await weft('apply', '-f', file)).stdout).toContain('spec.limits[0].requestsPerUnit: 10 → 20')
    const back = await weft('policies', 'rollback', 'rl', '--version', '1')
    expect(back.code, back.stderr).toBe(0)
    expect(back.stdout).toMatch(/^policy rl rolled back to version 1 \(now version 3, revision \d+\)\n$/)
    expect(JSON.parse((await weft('policies', 'get', 'rl', '--json')).stdout).spec.limits[0].requestsPerUnit).toBe(10)
    const history = await weft('policies', 'history', 'rl', '--json')
    expect(JSON.parse(history.stdout).map((v: any) => v.operation)).toEqual(['rollback', 'update', 'create'])
    expect((await weft('policies', 'delete', 'rl')).code).toBe(0)
  })

  it('filters push: plain progress lines off a terminal, then list', async () => {
    const wasm = join(dir, 'f.wasm')
    await writeFile(wasm, moduleExporting(['proxy_abi_version_0_2_1', 'malloc']))
    const r = await weft('filters', 'push', wasm, '--name', 'hello', '--version', '1.0.0')
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^filter hello@1\.0\.0 pushed: sha256 [0-9a-f]{64} \(\d+ bytes, ABI 0\.2\.1\)\n$/)
    expect(r.stderr).toMatch(/^uploading hello@1\.0\.0 \(\d+ B\)\nuploaded hello@1\.0\.0: \d+ B sent, answer 201\n$/)
    const list = await weft('filters', 'list', '--json')
    expect(JSON.parse(list.stdout)).toMatchObject([{ name: 'hello', version: '1.0.0' }])
    expect((await weft('filters', 'push', join(dir, 'missing.wasm'), '--name', 'x', '--version', '1')).code).toBe(2)
    await writeFile(join(dir, 'other.wasm'), moduleExporting(['proxy_abi_version_0_2_1', 'other']))
    expect((await weft('filters', 'push', join(dir, 'other.wasm'), '--name', 'hello', '--version', '1.0.0')).code).toBe(4)
  })

  it('convergence: a revision with no live proxies has converged; one not yet written is 404', async () => {
    const rev = (await s.harness.request('GET', '/v1/tenant', { key: adminKey })).body.revision
    const r = await weft('convergence', String(rev), '--json')
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ revision: rev, converged: true, pending: 0 })
    expect((await weft('convergence', String(rev), '--wait', '--timeout', '5')).stdout).toBe(`revision ${rev} (current ${rev}): converged, 0 applied, 0 pending\n`)
    expect((await weft('convergence', String(rev + 100))).code).toBe(3)
    const file = join(dir, 'fault.yaml')
    await writeFile(file, 'kind: FaultPolicy\nname: chaos\ntargetRef: { service: payments }\nspec:\n  delay: { percent: 5, fixedDelay: 200ms }\n')
    const applied = await weft('apply', '-f', file, '--wait-converged', '--timeout', '5')
    expect(applied.code, applied.stderr).toBe(0)
    expect(applied.stdout).toMatch(/\+ FaultPolicy\/chaos created\n1 created, 0 changed, 0 unchanged, 0 pruned; now at revision (\d+)\nrevision \1 \(current \1\): converged, 0 applied, 0 pending\n$/)
  })

  it('sidecar: flags are checked first (exit 2), then the runtime is loaded', async () => {
    const usage = await s.run(['sidecar', '--service', 'Bad_Name', '--app-port', '99999'], { env: {} })
    expect(usage.code).toBe(2)
    expect(usage.stderr).toContain('--control-url (or WEFT_URL) is required')
    expect(usage.stderr).toContain('--join-token (or WEFT_JOIN_TOKEN) is required')
    expect(usage.stderr).toContain('--service must be a DNS label')
    expect(usage.stderr).toContain('--app-port must be an integer from 1 to 65535')
    const clash = await s.run(['sidecar', '--control-url', s.url, '--join-token', 'wfj_x', '--service', 'payments', '--app-port', '15006'], { env: {} })
    expect(clash.code).toBe(2)
    expect(clash.stderr).toContain('must all differ')
  })

  it.skipIf(existsSync('edge-proxy/src/runtime/node.ts'))('sidecar: without the Node runtime in the checkout, a clear error and exit 70', async () => {
    const r = await s.run(['sidecar', '--app-port', '8080', '--labels', 'version=v1'], { env: { WEFT_URL: s.url, WEFT_JOIN_TOKEN: 'wfj_x', WEFT_SERVICE: 'payments' } })
    expect(r.code).toBe(70)
    expect(r.stderr).toContain('the Node sidecar runtime is not available')
  })
})
