// `weft apply`: the diff it shows, --dry-run changing nothing, a second apply changing nothing, and --prune.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { backends } from '../support/databases'
import { startCliServer, type CliServer } from './run-cli'

const MESH = 'test/cli/fixtures/mesh.yaml'

describe('weft apply', () => {
  let s: CliServer
  let env: Record<string, string>
  let adminKey: string
  let dir: string
  const weft = (...args: string[]) => s.run(args, { env })
  const revision = async (): Promise<number> => (await s.harness.request('GET', '/v1/tenant', { key: adminKey })).body.revision
  const names = async (path: string): Promise<string[]> => (await s.harness.request('GET', path, { key: adminKey })).body.items.map((x: any) => x.name)

  /** mesh.yaml with edits: payments moves to 9091, the canary goes 80/20, the AuthorizationPolicy is gone. */
  async function editedMesh(): Promise<string> {
    const text = (await readFile(MESH, 'utf8'))
      .replace('port: 9090', 'port: 9091')
      .replace(/weight: 90$/m, 'weight: 80')
      .replace(/weight: 10$/m, 'weight: 20')
      .replace(/---\nkind: AuthorizationPolicy[\s\S]*?(?=---)/, '')
    const file = join(dir, 'mesh-v2.yaml')
    await writeFile(file, text)
    return file
  }

  beforeAll(async () => {
    s = await startCliServer(backends[0]!)
    adminKey = (await s.harness.onboard('acme')).adminKey
    env = { WEFT_URL: s.url, WEFT_API_KEY: adminKey }
    dir = await mkdtemp(join(tmpdir(), 'weft-apply-'))
  })
  afterAll(async () => s?.close())

  it('--dry-run shows what would be created and changes nothing', async () => {
    const before = await revision()
    const r = await weft('apply', '-f', MESH, '--dry-run')
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toBe(
      [
        '+ service/orders created',
        '+ service/payments created',
        '+ Route/payments-canary created',
        '+ AuthorizationPolicy/payments-authz created',
        '+ RateLimitPolicy/payments-rl created',
        '5 created, 0 changed, 0 unchanged, 0 pruned (dry run: nothing was changed)',
        '',
      ].join('\n'),
    )
    expect(await revision()).toBe(before)
    expect(await names('/v1/services')).toEqual([])
    expect(await names('/v1/policies')).toEqual([])
  })

  it('applies services, then policies', async () => {
    const r = await weft('apply', '-f', MESH)
    expect(r.code, r.stderr).toBe(0)
    const now = await revision()
    expect(r.stdout).toContain('5 created, 0 changed, 0 unchanged, 0 pruned; now at revision ' + now + '\n')
    expect(await names('/v1/services')).toEqual(['orders', 'payments'])
    expect(await names('/v1/policies')).toEqual(['payments-authz', 'payments-canary', 'payments-rl'])
  })

  it('is idempotent: a second apply reports everything unchanged and writes nothing', async () => {
    const before = await revision()
    const versions = (await s.harness.request('GET', '/v1/policies', { key: adminKey })).body.items.map((p: any) => p.version)
    const r = await weft('apply', '-f', MESH)
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toBe(
      [
        '= service/orders unchanged',
        '= service/payments unchanged',
        '= Route/payments-canary unchanged',
        '= AuthorizationPolicy/payments-authz unchanged',
        '= RateLimitPolicy/payments-rl unchanged',
        '0 created, 0 changed, 5 unchanged, 0 pruned; nothing to do',
        '',
      ].join('\n'),
    )
    expect(await revision()).toBe(before)
    expect((await s.harness.request('GET', '/v1/policies', { key: adminKey })).body.items.map((p: any) => p.version)).toEqual(versions)
  })

  it('shows a field-level diff of what changed; without --prune a policy left out of the file stays', async () => {
    const file = await editedMesh()
    const before = await revision()
    const dry = await weft('apply', '-f', file, '--dry-run')
    expect(dry.code, dry.stderr).toBe(0)
    expect(dry.stdout).toBe(
      [
        '= service/orders unchanged',
        '~ service/payments changed',
        '    port: 9090 → 9091',
        '~ Route/payments-canary changed',
        '    spec.rules[1].backendRefs[0].weight: 90 → 80',
        '    spec.rules[1].backendRefs[1].weight: 10 → 20',
        '= RateLimitPolicy/payments-rl unchanged',
        '0 created, 2 changed, 2 unchanged, 0 pruned (dry run: nothing was changed)',
        '',
      ].join('\n'),
    )
    expect(await revision()).toBe(before)

    const r = await weft('apply', '-f', file)
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('0 created, 2 changed, 2 unchanged, 0 pruned; now at revision')
    expect((await s.harness.request('GET', '/v1/services/payments', { key: adminKey })).body.port).toBe(9091)
    const canary = (await s.harness.request('GET', '/v1/policies/payments-canary', { key: adminKey })).body
    expect(canary.spec.rules[1].backendRefs.map((b: any) => b.weight)).toEqual([80, 20])
    expect(await names('/v1/policies')).toContain('payments-authz')
  })

  it('--prune deletes policies the file does not name, never services', async () => {
    const file = await editedMesh()
    const dry = await weft('apply', '-f', file, '--prune', '--dry-run')
    expect(dry.stdout).toContain('- AuthorizationPolicy/payments-authz pruned\n')
    expect(dry.stdout).toContain('0 created, 0 changed, 4 unchanged, 1 pruned (dry run: nothing was changed)')
    expect(await names('/v1/policies')).toContain('payments-authz')

    const onlyPayments = join(dir, 'only-payments.yaml')
    await writeFile(onlyPayments, (await readFile(file, 'utf8')).replace(/kind: Service\nname: orders[\s\S]*?---\n/, ''))
    const r = await weft('apply', '-f', onlyPayments, '--prune')
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('- AuthorizationPolicy/payments-authz pruned\n')
    expect(r.stdout).not.toContain('service/orders')
    expect(await names('/v1/policies')).toEqual(['payments-canary', 'payments-rl'])
    expect(await names('/v1/services')).toEqual(['orders', 'payments'])

    const again = await weft('apply', '-f', onlyPayments, '--prune')
    expect(again.stdout).toContain('0 created, 0 changed, 3 unchanged, 0 pruned; nothing to do')

    const services = await weft('apply', '-f', onlyPayments, '--prune', '--prune-services', '--json')
    expect(services.code, services.stderr).toBe(0)
    const report = JSON.parse(services.stdout)
    expect(report).toMatchObject({ dryRun: false, summary: { created: 0, changed: 0, unchanged: 3, pruned: 1 } })
    expect(report.changes).toContainEqual({ kind: 'Service', name: 'orders', action: 'pruned', changes: [] })
    expect(await names('/v1/services')).toEqual(['payments'])
  })

  it('--json reports each change with its fields', async () => {
    const r = await weft('apply', '-f', MESH, '--dry-run', '--json')
    expect(r.code, r.stderr).toBe(0)
    const report = JSON.parse(r.stdout)
    expect(report.dryRun).toBe(true)
    expect(report.revision).toBeNull()
    expect(report.changes).toContainEqual({ kind: 'Service', name: 'payments', action: 'changed', changes: [{ path: 'port', before: 9091, after: 9090 }] })
    expect(report.changes).toContainEqual({ kind: 'Service', name: 'orders', action: 'created', changes: [] })
    expect(report.changes).toContainEqual({ kind: 'AuthorizationPolicy', name: 'payments-authz', action: 'created', changes: [] })
  })

  it('a file that is not a mesh file is a usage error (exit 2) and nothing is sent', async () => {
    const before = await revision()
    const bad = join(dir, 'bad.yaml')
    await writeFile(bad, 'kind: Service\nname: x\nport: 0\n---\nkind: Gateway\nname: g\n---\nkind: Route\nname: r\n')
    const r = await weft('apply', '-f', bad)
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('port must be an integer from 1 to 65535')
    expect(r.stderr).toContain('unknown kind "Gateway"')
    expect(r.stderr).toContain('Route r needs targetRef.service')
    expect((await weft('apply', '-f', join(dir, 'missing.yaml'))).code).toBe(2)
    expect(await revision()).toBe(before)
  })

  it('a policy the API rejects is exit 1, naming the field', async () => {
    const bad = join(dir, 'bad-policy.yaml')
    await writeFile(bad, 'kind: RateLimitPolicy\nname: rl\ntargetRef: { service: nowhere }\nspec:\n  limits: [{ key: source, requestsPerUnit: 1, unit: second }]\n')
    const r = await weft('apply', '-f', bad)
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('targetRef.service')
  })
})
