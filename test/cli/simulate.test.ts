// `weft simulate`: the route, backends with percentages, authorization, rate limits, faults, filters, and the
// Weft-Reason when a proxy would answer the request itself.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { backends } from '../support/databases'
import { startCliServer, type CliServer } from './run-cli'

describe('weft simulate', () => {
  let s: CliServer
  let env: Record<string, string>
  const weft = (...args: string[]) => s.run(args, { env })

  beforeAll(async () => {
    s = await startCliServer(backends[0]!)
    const { adminKey } = await s.harness.onboard('acme')
    env = { WEFT_URL: s.url, WEFT_API_KEY: adminKey }
    expect((await weft('apply', '-f', 'test/cli/fixtures/mesh.yaml')).code).toBe(0)
    for (const [port, version] of [[9001, 'v1'], [9002, 'v2']] as const) {
      const r = await s.harness.request('POST', '/v1/services/payments/endpoints', { key: adminKey, body: { address: '127.0.0.1', port, labels: { version } } })
      expect(r.status).toBe(201)
    }
  })
  afterAll(async () => s?.close())

  it('explains an allowed canary request', async () => {
    const r = await weft('simulate', '--from', 'orders', '--to', 'payments', '--method', 'POST', '--path', '/charge', '-H', 'x-canary: 1')
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatchSnapshot()
  })

  it('explains a denied request and the split it would have taken', async () => {
    const r = await weft('simulate', '--from', 'orders', '--to', 'payments', '--path', '/refunds?id=7')
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatchSnapshot()
  })

  it('--json is the API answer', async () => {
    const r = await weft('simulate', '--from', 'orders', '--to', 'payments', '--method', 'POST', '--path', '/charge', '--json')
    expect(r.code, r.stderr).toBe(0)
    const answer = JSON.parse(r.stdout)
    expect(answer.route).toEqual({ policy: 'payments-canary', rule: 1, match: null })
    expect(answer.backends.map((b: any) => [b.labels.version, b.percent])).toEqual([['v1', 90], ['v2', 10]])
    expect(answer.authorization).toMatchObject({ decision: 'ALLOW', policy: 'payments-authz', rule: 0 })
    expect(answer.rateLimits).toHaveLength(1)
  })

  it('names a service that does not exist, and checks its flags', async () => {
    const missing = await weft('simulate', '--from', 'orders', '--to', 'nowhere', '--path', '/')
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain('destination.service')
    expect((await weft('simulate', '--from', 'orders', '--to', 'payments')).code).toBe(2)
    expect((await weft('simulate', '--from', 'orders', '--to', 'payments', '--path', 'x')).code).toBe(2)
    const badHeader = await weft('simulate', '--from', 'orders', '--to', 'payments', '--path', '/', '-H', 'nocolon')
    expect(badHeader.code).toBe(2)
    expect(badHeader.stderr).toContain('-H takes name:value')
  })
})
