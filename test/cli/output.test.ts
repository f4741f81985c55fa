// Golden tests of what people and scripts read: tables by default, JSON with --json, YAML with -o yaml.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { backends } from '../support/databases'
import { normalise, startCliServer, type CliServer } from './run-cli'

describe('weft output', () => {
  let s: CliServer
  let env: Record<string, string>
  const weft = (...args: string[]) => s.run(args, { env })

  beforeAll(async () => {
    s = await startCliServer(backends[0]!)
    const { adminKey } = await s.harness.onboard('acme')
    env = { WEFT_URL: s.url, WEFT_API_KEY: adminKey }
    for (const args of [
      ['services', 'create', 'payments', '--port', '9090', '--label', 'team=pay', '--label', 'tier=1'],
      ['services', 'create', 'orders', '--port', '8080', '--protocol', 'grpc'],
      ['apply', '-f', 'test/cli/fixtures/mesh.yaml'],
    ]) {
      const r = await weft(...args)
      expect(r.code, r.stderr).toBe(0)
    }
  })
  afterAll(async () => s?.close())

  it('services list: a table', async () => {
    const r = await weft('services', 'list')
    expect(r.code).toBe(0)
    expect(normalise(r.stdout)).toBe(
      [
        'NAME      PROTOCOL  PORT  LABELS     VERSION  UPDATED',
        'orders    http      8080  team=shop  2        <time>',
        'payments  http      9090  team=pay   2        <time>',
        '',
      ].join('\n'),
    )
    expect(r.stderr).toBe('')
  })

  it('services list --json: every field, ids and times aside', async () => {
    const r = await weft('services', 'list', '--json')
    expect(r.code).toBe(0)
    expect(JSON.parse(normalise(r.stdout))).toEqual([
      { id: '<id>', name: 'orders', protocol: 'http', port: 8080, labels: { team: 'shop' }, description: '', dependencies: null, version: 2, createdAt: '<time>', updatedAt: '<time>' },
      { id: '<id>', name: 'payments', protocol: 'http', port: 9090, labels: { team: 'pay' }, description: '', dependencies: null, version: 2, createdAt: '<time>', updatedAt: '<time>' },
    ])
    // -o json is the same thing, and so is the kubectl-style alias
    expect((await weft('get', 'services', '-o', 'json')).stdout).toBe(r.stdout)
  })

  it('policies list: a table', async () => {
    const r = await weft('policies', 'list')
    expect(r.code).toBe(0)
    expect(normalise(r.stdout)).toBe(
      [
        'NAME             KIND                 TARGET    VERSION  REVISION  UPDATED',
        'payments-authz   AuthorizationPolicy  payments  1        7         <time>',
        'payments-canary  Route                payments  1        6         <time>',
        'payments-rl      RateLimitPolicy      payments  1        8         <time>',
        '',
      ].join('\n'),
    )
    expect((await weft('get', 'policies')).stdout).toBe(r.stdout)
  })

  it('policies list --json: the stored policies, defaults filled in', async () => {
    const r = await weft('policies', 'list', '--json')
    expect(r.code).toBe(0)
    const items = JSON.parse(normalise(r.stdout))
    expect(items.map((p: any) => [p.kind, p.name, p.targetRef.service, p.version, p.revision])).toEqual([
      ['AuthorizationPolicy', 'payments-authz', 'payments', 1, 7],
      ['Route', 'payments-canary', 'payments', 1, 6],
      ['RateLimitPolicy', 'payments-rl', 'payments', 1, 8],
    ])
    expect(items[2]).toMatchObject({
      spec: { limits: [{ key: 'source', requestsPerUnit: 100, unit: 'second', burst: 20 }] },
      createdAt: '<time>',
      updatedAt: '<time>',
    })
  })

  it('get NAME -o yaml and the table view of one resource', async () => {
    const y = await weft('get', 'policy', 'payments-rl', '-o', 'yaml')
    expect(y.code).toBe(0)
    expect(parse(y.stdout)).toMatchObject({ kind: 'RateLimitPolicy', name: 'payments-rl', targetRef: { service: 'payments' }, version: 1 })
    const one = await weft('services', 'get', 'payments')
    // the file's labels replaced the ones given at create: apply is declarative
    expect(normalise(one.stdout)).toBe('id: <id>\nname: payments\nprotocol: http\nport: 9090\nlabels:\n  team: pay\ndescription: ""\ndependencies: null\nversion: 2\ncreatedAt: <time>\nupdatedAt: <time>\n')
  })

  it('policies history shows each version', async () => {
    const r = await weft('policies', 'history', 'payments-canary')
    expect(r.code).toBe(0)
    expect(normalise(r.stdout)).toBe(['VERSION  OPERATION  REVISION  ACTOR  CREATED                   CHANGES', '1        create     6         admin  <time>  replace /', ''].join('\n'))
  })

  it('keys and tenants lists', async () => {
    const keys = await weft('keys', 'list')
    expect(normalise(keys.stdout)).toMatch(/^ID\s+NAME\s+ROLE\s+PREFIX\s+CREATED\s+REVOKED\n<id>\s+admin\s+admin\s+wft_/)
    const tenants = await s.run(['tenants', 'list', '--json'], { env: { WEFT_URL: s.url, WEFT_OPERATOR_KEY: 'wfo_test_operator_key_0123456789abcdef' } })
    expect(tenants.code, tenants.stderr).toBe(0)
    expect(JSON.parse(tenants.stdout).map((t: any) => t.slug)).toEqual(['acme'])
  })
})
