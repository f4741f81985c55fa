import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { emptyBuckets, LATENCY_BUCKET_BOUNDS_SECONDS } from '../../mesh/src/telemetry/latency-histogram'
import { telemetryMinutes } from '../../control-api/src/db/schema'
import { runAlerting } from '../../control-api/src/slo/schedule-alerting'
import { verifyWebhook } from '../../control-api/src/slo/webhook-signature'
import { upsertRollups } from '../../control-api/src/telemetry/record-telemetry'
import { RollupAccumulator, type RollupRow } from '../../control-api/src/telemetry/rollup-key'
import { backends } from '../support/databases'
import { startHarness, type Harness } from '../support/harness'

const MIN = 60_000

/** A webhook receiver on loopback that answers with the statuses it is given, in turn (then 200). */
async function receiver(statuses: number[]) {
  const received: { headers: IncomingMessage['headers']; body: string }[] = []
  const server: Server = createServer((req, res) => {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => {
      received.push({ headers: req.headers, body })
      res.writeHead(statuses.shift() ?? 200).end()
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received, close: () => new Promise((r) => server.close(r)) }
}

/** Callee-side (inbound) telemetry of `service` for one minute: `good` fast requests and `bad` 5xx, or slow ones. */
function minute(service: string, good: number, bad: number, badKind: '5xx' | 'slow'): RollupRow[] {
  const acc = new RollupAccumulator()
  const key = (statusClass: string) => ({ reporter: 'inbound' as const, source: 'orders', destination: service, route: '', statusClass, reason: '' })
  const at = (seconds: number, n: number) => {
    const b = emptyBuckets()
    b[LATENCY_BUCKET_BOUNDS_SECONDS.indexOf(seconds as never)] = n
    return b
  }
  acc.addRequests(key('2xx'), good)
  acc.addLatency(key('2xx'), at(0.025, good), good * 0.02)
  if (bad > 0) {
    // 5xx answered fast; "slow" ones succeed but take (0.25, 0.5] s, over a 250 ms threshold.
    const k = key(badKind === '5xx' ? '5xx' : '2xx')
    acc.addRequests(k, bad)
    acc.addLatency(k, at(badKind === '5xx' ? 0.025 : 0.5, bad), bad * 0.3)
  }
  // The caller's view of the same calls must not count twice.
  acc.addRequests({ ...key('5xx'), reporter: 'outbound' }, 1000)
  return acc.rows()
}

describe.each(backends)('SLOs, burn-rate alerts and signed webhooks on $name', (backend) => {
  let h: Harness
  let key: string
  let tenantId: string
  let hook: Awaited<ReturnType<typeof receiver>>
  let secret: string
  const seed = async (service: string, minutes: number, good: number, bad: number, kind: '5xx' | 'slow' = '5xx') => {
    const now = h.clock.now().getTime()
    for (let i = 0; i < minutes; i++) {
      const t = new Date(Math.floor((now - i * MIN) / MIN) * MIN)
      await upsertRollups(h.db, telemetryMinutes, tenantId, t, minute(service, good, bad, kind))
    }
  }
  const alerting = () => runAlerting({ db: h.db, masterKey: h.masterKey, logger: { info() {}, warn() {} } as never, now: h.clock.now() })

  beforeAll(async () => {
    h = await startHarness(backend, { WEFT_WEBHOOK_ALLOW_PRIVATE: 'true' })
    const t = await h.onboard('slo')
    key = t.adminKey
    tenantId = t.tenant.id
    for (const name of ['orders', 'payments', 'search']) await h.request('POST', '/v1/services', { key, body: { name } })
    // The first delivery attempt meets a 500: it must be retried, not lost.
    hook = await receiver([500])
  })
  afterAll(async () => {
    await hook.close()
    await h.close()
  })

  it('validates SLOs, naming the field', async () => {
    const post = (body: object) => h.request('POST', '/v1/slos', { key, body })
    const ok = { name: 'x', service: 'payments', objective: { type: 'success-rate', target: 99.9 } }
    expect((await post({ ...ok, service: 'nope' })).body.errors).toEqual([expect.objectContaining({ path: 'service', message: 'no service "nope"' })])
    const bound = await post({ ...ok, objective: { type: 'latency', thresholdMs: 300, target: 99 } })
    expect(bound.status).toBe(400)
    expect(bound.body.errors[0]).toMatchObject({ path: 'objective.thresholdMs', message: expect.stringContaining('250') })
    expect((await post({ ...ok, objective: { type: 'success-rate', target: 100 } })).body.errors[0].path).toBe('objective.target')
    expect((await post({ ...ok, window: '45d' })).body.errors[0].path).toBe('window')
    expect((await post({ ...ok, objective: { type: 'uptime', target: 99 } })).status).toBe(400)
    expect((await h.request('GET', '/v1/slos', { key })).body.items).toEqual([])
  })

  it('webhooks: the secret is shown once, never listed; loopback needs WEFT_WEBHOOK_ALLOW_PRIVATE', async () => {
    const r = await h.request('POST', '/v1/webhooks', { key, body: { url: hook.url, description: 'on-call' } })
    expect(r.status).toBe(201)
    expect(r.body.secret).toMatch(/^wfw_/)
    secret = r.body.secret
    const list = await h.request('GET', '/v1/webhooks', { key })
    expect(list.body.items).toEqual([{ id: r.body.id, url: hook.url, description: 'on-call', createdAt: expect.any(String) }])
    expect(list.text).not.toContain(secret)

    const hosted = await startHarness(backend, {}, { database: h.database, masterKey: h.masterKey })
    try {
      for (const url of ['http://127.0.0.1:9/x', 'http://10.1.2.3/x', 'http://[::1]/x', 'http://metadata.internal/x', 'http://169.254.169.254/latest']) {
        const refused = await hosted.request('POST', '/v1/webhooks', { key, body: { url } })
        expect(refused.status, url).toBe(400)
        expect(refused.body.errors[0]).toMatchObject({ path: 'url', message: expect.stringContaining('WEFT_WEBHOOK_ALLOW_PRIVATE') })
      }
      expect((await hosted.request('POST', '/v1/webhooks', { key, body: { url: 'ftp://alerts.example.com/' } })).status).toBe(400)
    } finally {
      await hosted.close()
    }
  })

  it('a fast burn opens a page, delivered signed (after a retry); recovery resolves it', async () => {
    const created = await h.request('POST', '/v1/slos', { key, body: { name: 'payments-availability', service: 'payments', objective: { type: 'success-rate', target: 99.9 } } })
    expect(created.status).toBe(201)
    expect(created.body).toMatchObject({ window: '30d', version: 1 })
    expect((await h.request('POST', '/v1/slos', { key, body: { name: 'payments-availability', service: 'payments', objective: { type: 'success-rate', target: 99 } } })).status).toBe(409)

    // Healthy hour: nothing fires.
    await seed('payments', 60, 100, 0)
    expect((await alerting()).evaluation).toMatchObject({ opened: 0, resolved: 0 })

    // 3 % errors for the last hour at 99.9 %: burn rate 30 in both the 1 h and the 5 min window (threshold 14.4).
    h.clock.advance(60 * MIN)
    await seed('payments', 60, 97, 3)
    const first = await alerting()
    expect(first.evaluation).toMatchObject({ opened: 1, resolved: 0 })
    expect(first.delivery).toMatchObject({ attempted: 1, delivered: 0 })

    const open = await h.request('GET', '/v1/alerts?state=open', { key })
    expect(open.body.items).toHaveLength(1)
    const alert = open.body.items[0]
    expect(alert).toMatchObject({ slo: 'payments-availability', service: 'payments', severity: 'page', state: 'open', resolvedAt: null })
    expect(alert.openedWith.rules[0]).toMatchObject({ severity: 'page', longMinutes: 60, shortMinutes: 5, threshold: 14.4, longBurn: 30, shortBurn: 30, firing: true })
    expect(alert.deliveries).toEqual([expect.objectContaining({ event: 'alert.opened', state: 'pending', attempts: 1, lastError: 'HTTP 500' })])

    // Evaluating again changes nothing (still firing, already open) and the retry waits for its backoff.
    expect((await alerting()).evaluation).toMatchObject({ opened: 0, resolved: 0 })
    expect(hook.received).toHaveLength(1)
    h.clock.advance(31_000)
    expect((await alerting()).delivery).toMatchObject({ attempted: 1, delivered: 1 })
    expect(hook.received).toHaveLength(2)

    const sent = hook.received[1]!
    expect(sent.headers['weft-event']).toBe('alert.opened')
    expect(await verifyWebhook(secret, sent.body, String(sent.headers['weft-signature']), h.clock.now())).toBe(true)
    expect(await verifyWebhook(secret, sent.body.replace('payments', 'orders'), String(sent.headers['weft-signature']), h.clock.now())).toBe(false)
    expect(await verifyWebhook('wfw_wrong', sent.body, String(sent.headers['weft-signature']), h.clock.now())).toBe(false)
    expect(JSON.parse(sent.body)).toMatchObject({ type: 'alert.opened', tenant: 'slo', alert: { id: alert.id, slo: 'payments-availability', severity: 'page', state: 'open' } })

    const status = await h.request('GET', '/v1/slos/payments-availability', { key })
    expect(status.body.status.openAlerts).toEqual([expect.objectContaining({ id: alert.id, severity: 'page' })])

    // Ten clean minutes: the 1 h / 5 min rule stops, but the 6 h / 30 min one still burns (2 % over 30 min).
    h.clock.advance(10 * MIN)
    await seed('payments', 10, 100, 0)
    expect((await alerting()).evaluation).toMatchObject({ opened: 0, resolved: 0 })

    // Thirty-five clean minutes: both page rules are quiet, so the page resolves. The ticket rule (24 h / 2 h)
    // still sees the hour of errors in its 2 h window: with the page gone, nothing inhibits it, and it opens.
    h.clock.advance(25 * MIN)
    await seed('payments', 35, 100, 0)
    const recovered = await alerting()
    expect(recovered.evaluation).toMatchObject({ opened: 1, resolved: 1 })
    expect(recovered.delivery).toMatchObject({ attempted: 2, delivered: 2 })
    const events = hook.received.slice(2).map((r) => ({ ...r, json: JSON.parse(r.body) }))
    const resolvedEvent = events.find((e) => e.json.type === 'alert.resolved')!
    expect(resolvedEvent.json).toMatchObject({ alert: { id: alert.id, severity: 'page', state: 'resolved' } })
    expect(await verifyWebhook(secret, resolvedEvent.body, String(resolvedEvent.headers['weft-signature']), h.clock.now())).toBe(true)
    expect(events.find((e) => e.json.type === 'alert.opened')!.json).toMatchObject({ alert: { severity: 'ticket', state: 'open' } })

    const resolved = await h.request('GET', '/v1/alerts?state=resolved&slo=payments-availability', { key })
    expect(resolved.body.items).toEqual([expect.objectContaining({ id: alert.id, state: 'resolved', resolvedAt: h.clock.now().toISOString() })])
    expect(resolved.body.items[0].deliveries.map((d: { event: string; state: string }) => `${d.event}:${d.state}`).sort()).toEqual(['alert.opened:delivered', 'alert.resolved:delivered'])

    // Two clean hours later the 2 h window is clean too: the ticket resolves and nothing is open.
    h.clock.advance(125 * MIN)
    await seed('payments', 125, 100, 0)
    expect((await alerting()).evaluation).toMatchObject({ opened: 0, resolved: 1 })
    expect((await h.request('GET', '/v1/alerts?state=open', { key })).body.items).toEqual([])
    const all = await h.request('GET', '/v1/alerts?slo=payments-availability&limit=1', { key })
    expect(all.body.items).toHaveLength(1)
    expect(all.body.nextCursor).toEqual(expect.any(String))
    const next = await h.request('GET', `/v1/alerts?slo=payments-availability&limit=1&cursor=${all.body.nextCursor}`, { key })
    expect(next.body.items.map((a: { severity: string }) => a.severity)).toEqual(['page'])
  })

  it('a latency objective reads the histograms: a slow burn opens a ticket, not a page', async () => {
    const r = await h.request('POST', '/v1/slos', { key, body: { name: 'search-latency', service: 'search', objective: { type: 'latency', thresholdMs: 250, target: 99 }, window: '30d' } })
    expect(r.status).toBe(201)
    // 4 % of requests over 250 ms against a 1 % budget: burn 4 — over the ticket's 3, under the pages' 14.4 and 6.
    await seed('search', 180, 96, 4, 'slow')
    const run = await alerting()
    expect(run.evaluation).toMatchObject({ opened: 1 })
    const status = await h.request('GET', '/v1/slos/search-latency', { key })
    expect(status.body.status.rules.map((x: { longBurn: number; firing: boolean }) => [x.longBurn, x.firing])).toEqual([
      [4, false],
      [4, false],
      [4, true],
    ])
    expect(status.body.status.openAlerts).toEqual([expect.objectContaining({ severity: 'ticket' })])
  })

  it('keeps tenants apart', async () => {
    const other = (await h.onboard('slo-other')).adminKey
    expect((await h.request('GET', '/v1/slos/search-latency', { key: other })).status).toBe(404)
    expect((await h.request('GET', '/v1/slos', { key: other })).body.items).toEqual([])
    expect((await h.request('GET', '/v1/alerts', { key: other })).body.items).toEqual([])
    expect((await h.request('GET', '/v1/webhooks', { key: other })).body.items).toEqual([])
    const mine = (await h.request('GET', '/v1/webhooks', { key })).body.items[0]
    expect((await h.request('DELETE', `/v1/webhooks/${mine.id}`, { key: other })).status).toBe(404)
    expect((await h.request('DELETE', '/v1/slos/search-latency', { key: other })).status).toBe(404)
    // A viewer reads SLOs and alerts but may not touch webhooks.
    const viewer = await h.createKey(key, 'viewer')
    expect((await h.request('GET', '/v1/alerts', { key: viewer })).status).toBe(200)
    expect((await h.request('GET', '/v1/webhooks', { key: viewer })).status).toBe(403)
    expect((await h.request('DELETE', '/v1/slos/search-latency', { key })).status).toBe(204)
    expect((await h.request('GET', '/v1/alerts?slo=search-latency', { key })).body.items).toEqual([])
  })
})
