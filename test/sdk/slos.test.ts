// weft.slos / weft.alerts / weft.webhooks against the live control API, in-process (the harness app's fetch is
// the SDK's transport), on PGlite and on PostgreSQL when TEST_DATABASE_URL is set.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Conflict, Forbidden, NotFound, ValidationError, Weft } from '@weft/sdk'
import { backends } from '../support/databases'
import { startHarness, type Harness } from '../support/harness'

describe.each(backends)('SDK: SLOs, alerts and webhooks on $name', (backend) => {
  let h: Harness
  let weft: Weft
  let viewer: Weft
  beforeAll(async () => {
    h = await startHarness(backend, { WEFT_WEBHOOK_ALLOW_PRIVATE: 'true' })
    const key = (await h.onboard('sdk-slo')).adminKey
    const client = (apiKey: string) => new Weft({ baseUrl: 'http://weft.test', apiKey, fetch: (r) => h.app.fetch(r), retry: false })
    weft = client(key)
    viewer = client(await h.createKey(key, 'viewer'))
    await weft.services.create({ name: 'payments' })
  })
  afterAll(() => h.close())

  it('creates, lists (iterating pages), reads the status of and deletes SLOs; errors are typed', async () => {
    const created = await weft.slos.create({ name: 'pay-latency', service: 'payments', objective: { type: 'latency', thresholdMs: 250, target: 99.9 }, window: '14d' })
    expect(created).toMatchObject({ name: 'pay-latency', window: '14d', objective: { type: 'latency', thresholdMs: 250, target: 99.9 } })
    await weft.slos.create({ name: 'pay-availability', service: 'payments', objective: { type: 'success-rate', target: 99.5 } })
    const names: string[] = []
    for await (const s of weft.slos.list({ limit: 1 })) names.push(s.name)
    expect(names).toEqual(['pay-availability', 'pay-latency'])

    const status = await viewer.slos.get('pay-latency')
    expect(status.status.rules.map((r) => r.severity)).toEqual(['page', 'page', 'ticket'])
    expect(status.status.window).toEqual({ total: 0, bad: 0, budgetRemaining: 1 })
    // 14 days: paging at 2 % of the budget in an hour is a burn rate of 6.72.
    expect(status.status.rules[0]!.threshold).toBe(6.72)

    const bad = await weft.slos.create({ name: 'x', service: 'payments', objective: { type: 'latency', thresholdMs: 300, target: 99 } }).catch((e: unknown) => e)
    expect(bad).toBeInstanceOf(ValidationError)
    expect((bad as ValidationError).errors[0]!.path).toBe('objective.thresholdMs')
    expect(await weft.slos.create({ name: 'pay-latency', service: 'payments', objective: { type: 'success-rate', target: 99 } }).catch((e: unknown) => e)).toBeInstanceOf(Conflict)
    expect(await viewer.slos.delete('pay-latency').catch((e: unknown) => e)).toBeInstanceOf(Forbidden)
    await weft.slos.delete('pay-latency')
    expect(await weft.slos.get('pay-latency').catch((e: unknown) => e)).toBeInstanceOf(NotFound)
    expect(await weft.alerts.list({ state: 'open' })).toMatchObject({ items: [], nextCursor: null })
  })

  it('webhooks: the secret comes back once; lists never carry it', async () => {
    const hook = await weft.webhooks.create({ url: 'http://127.0.0.1:9/alerts', description: 'pager' })
    expect(hook.secret).toMatch(/^wfw_/)
    const { items } = await weft.webhooks.list()
    expect(items).toEqual([{ id: hook.id, url: 'http://127.0.0.1:9/alerts', description: 'pager', createdAt: hook.createdAt }])
    await weft.webhooks.delete(hook.id)
    expect(await weft.webhooks.delete(hook.id).catch((e: unknown) => e)).toBeInstanceOf(NotFound)
  })
})

describe.each(backends)('SDK: tracing settings on $name', (backend) => {
  let h: Harness
  let weft: Weft
  let viewer: Weft
  beforeAll(async () => {
    h = await startHarness(backend)
    const key = (await h.onboard('sdk-trace')).adminKey
    const client = (apiKey: string) => new Weft({ baseUrl: 'http://weft.test', apiKey, fetch: (r) => h.app.fetch(r), retry: false })
    weft = client(key)
    viewer = client(await h.createKey(key, 'viewer'))
  })
  afterAll(() => h.close())

  it('sets, reads (headers redacted) and disables the collector; viewers read, only admins write', async () => {
    expect(await weft.tracing.get()).toMatchObject({ enabled: false, endpoint: null })
    const set = await weft.tracing.set({ endpoint: 'https://collector.example.com/v1/traces', headers: { 'X-Api-Key': 'sekret' }, sampleRate: 0.25 })
    expect(set).toMatchObject({ enabled: true, sampleRate: 0.25, headers: { 'x-api-key': '[redacted]' } })
    expect(JSON.stringify(await viewer.tracing.get())).not.toContain('sekret')
    expect(await viewer.tracing.set({ endpoint: 'https://x.example.com/v1/traces', sampleRate: 1 }).catch((e: unknown) => e)).toBeInstanceOf(Forbidden)
    const bad = await weft.tracing.set({ endpoint: 'https://x.example.com/v1/traces', sampleRate: 2 }).catch((e: unknown) => e)
    expect(bad).toBeInstanceOf(ValidationError)
    expect((bad as ValidationError).errors[0]!.path).toBe('sampleRate')
    await weft.tracing.disable()
    expect(await weft.tracing.get()).toMatchObject({ enabled: false })
  })
})
