// SLO alerting as Cloudflare runs it: the wrangler-built control API Worker in workerd (Miniflare) against a
// real PostgreSQL, its every-minute cron trigger evaluating burn rates and POSTing signed webhooks to a real
// receiver on loopback. Traffic reaches it as a proxy reports it, through POST /v1/proxy/telemetry with a
// workload token; alerts are read back through the Worker's API. Nothing calls runAlerting but scheduled().
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { generateMasterKeyBase64 } from '../../control-api/src/identity/master-key'
import { verifyWebhook } from '../../control-api/src/slo/webhook-signature'
import { emptyBuckets, LATENCY_BUCKET_BOUNDS_SECONDS, type TelemetryPush } from '../../mesh/src/telemetry/index'
import { buildControlApiWorker, type BuiltWorker } from '../../scripts/build-worker'
import { createScratchDatabase, describeWithPostgres, TEST_DATABASE_URL } from '../support/databases'
import { boot } from './miniflare-worker'

const OPERATOR_KEY = `wfo_worker_${crypto.randomUUID().replace(/-/g, '')}`
// wrangler.jsonc's two triggers.
const EVERY_MINUTE = '* * * * *'
const HOURLY = '17 * * * *'
const MIN = 60_000


type Received = { headers: IncomingMessage['headers']; body: string }

/** A webhook receiver on loopback that records every request and answers 200. */
async function receiver() {
  const received: Received[] = []
  const server: Server = createServer((req, res) => {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => {
      received.push({ headers: req.headers, body })
      res.writeHead(200).end()
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received, close: () => new Promise((r) => server.close(r)) }
}

/** What the payments proxy saw arrive (inbound) in one push: `good` 2xx and `bad` 5xx, all in (10, 25] ms. */
function inbound(proxyId: string, seq: number, observedAt: Date, good: number, bad: number): TelemetryPush {
  const series = [
    { statusClass: '2xx' as const, count: good },
    { statusClass: '5xx' as const, count: bad },
  ].filter((s) => s.count > 0)
  const key = (statusClass: '2xx' | '5xx') => ({ direction: 'inbound' as const, source: 'orders', destination: 'payments', route: '', statusClass })
  return {
    proxyId,
    seq,
    observedAt: observedAt.toISOString(),
    requests: series.map((s) => ({ ...key(s.statusClass), reason: '', count: s.count })),
    latency: series.map((s) => {
      const buckets = emptyBuckets()
      buckets[LATENCY_BUCKET_BOUNDS_SECONDS.indexOf(0.025 as never)] = s.count
      return { ...key(s.statusClass), buckets, sumSeconds: s.count * 0.02 }
    }),
  }
}

describeWithPostgres(`SLO alerting from the control API Worker's cron in workerd`, () => {
  let outdir: string
  let built: BuiltWorker
  let scratch: Awaited<ReturnType<typeof createScratchDatabase>>
  let worker: ReturnType<typeof boot>
  let hook: Awaited<ReturnType<typeof receiver>>
  let key: string
  let proxyToken: string
  let secret: string
  const proxyId = crypto.randomUUID()

  const cron = async (name: string, at: Date) => (await worker.mf.getWorker()).scheduled({ cron: name, scheduledTime: at })
  const push = (body: TelemetryPush) => worker.request('POST', '/v1/proxy/telemetry', { key: proxyToken, body })
  const alerts = async (query: string) => {
    const r = await worker.request('GET', `/v1/alerts?${query}`, { key })
    expect(r.status).toBe(200)
    return r.body.items as { id: string; severity: string; state: string; resolvedAt: string | null; deliveries: { event: string; state: string }[] }[]
  }
  /** A received POST, its signature checked against the webhook's secret at the time the cron signed it. */
  const verified = async (r: Received, at: Date) => {
    expect(r.headers['content-type']).toBe('application/json')
    expect(await verifyWebhook(secret, r.body, String(r.headers['weft-signature']), at)).toBe(true)
    // Signed with the webhook's secret, over these exact bytes: another secret or an altered body fails.
    expect(await verifyWebhook('wfw_wrong', r.body, String(r.headers['weft-signature']), at)).toBe(false)
    expect(await verifyWebhook(secret, r.body.replace('payments', 'orders'), String(r.headers['weft-signature']), at)).toBe(false)
    return JSON.parse(r.body)
  }

  beforeAll(async () => {
    outdir = mkdtempSync(join(tmpdir(), 'weft-worker-'))
    ;[built, scratch, hook] = await Promise.all([buildControlApiWorker(outdir), createScratchDatabase(TEST_DATABASE_URL!), receiver()])
    worker = boot(built, {
      DATABASE_URL: scratch.url,
      WEFT_OPERATOR_KEY: OPERATOR_KEY,
      // Webhook secrets are sealed with it: without it the cron opens alerts but delivers nothing.
      WEFT_MASTER_KEY: generateMasterKeyBase64(),
      WEFT_PUBLIC_URL: 'https://weft.test',
      WEFT_LOG_LEVEL: 'warn',
      // The receiver is on loopback.
      WEFT_WEBHOOK_ALLOW_PRIVATE: 'true',
    })
    const created = await worker.request('POST', '/v1/tenants', { key: OPERATOR_KEY, body: { slug: 'cron-alerts' } })
    expect(created.status).toBe(201)
    key = created.body.adminKey.secret
    for (const name of ['orders', 'payments']) expect((await worker.request('POST', '/v1/services', { key, body: { name, port: 8080 } })).status).toBe(201)
    const jt = await worker.request('POST', '/v1/services/payments/join-tokens', { key })
    expect(jt.status).toBe(201)
    const token = await worker.request('POST', '/v1/identity/token', { key: jt.body.secret })
    expect(token.status).toBe(200)
    proxyToken = token.body.token
  }, 180_000)

  afterAll(async () => {
    await worker?.mf.dispose()
    await hook?.close()
    await scratch?.drop()
    if (outdir) rmSync(outdir, { recursive: true, force: true })
  })

  it('the every-minute cron opens a page on a fast burn and delivers it signed; after recovery it resolves it; the hourly cron does neither', async () => {
    const slo = await worker.request('POST', '/v1/slos', { key, body: { name: 'payments-availability', service: 'payments', objective: { type: 'success-rate', target: 99.9 } } })
    expect(slo.status).toBe(201)
    const webhook = await worker.request('POST', '/v1/webhooks', { key, body: { url: hook.url, description: 'on-call' } })
    expect(webhook.status).toBe(201)
    secret = webhook.body.secret

    // Two minutes ago payments answered 3 % 5xx: burn rate 30 at 99.9 %, over the page's 14.4 in its 1 h and
    // 5 min windows (and the 6 h / 30 min rule's 6).
    const failing = await push(inbound(proxyId, 1, new Date(Date.now() - 2 * MIN), 970, 30))
    expect(failing.status).toBe(200)
    expect(failing.body).toMatchObject({ duplicate: false, series: 2 })

    // The hourly trigger does housekeeping only: no evaluation, so no alert and no delivery.
    expect(await cron(HOURLY, new Date())).toMatchObject({ outcome: 'ok' })
    expect(await alerts('')).toEqual([])
    expect(hook.received).toHaveLength(0)

    const firedAt = new Date()
    expect(await cron(EVERY_MINUTE, firedAt)).toMatchObject({ outcome: 'ok' })
    const open = await alerts('state=open')
    expect(open).toEqual([expect.objectContaining({ severity: 'page', state: 'open', resolvedAt: null })])
    const page = open[0]!
    expect(page.deliveries).toEqual([expect.objectContaining({ event: 'alert.opened', state: 'delivered' })])
    expect(hook.received).toHaveLength(1)
    const opened = hook.received[0]!
    expect(opened.headers['weft-event']).toBe('alert.opened')
    expect(await verified(opened, firedAt)).toMatchObject({
      type: 'alert.opened',
      tenant: 'cron-alerts',
      alert: { id: page.id, slo: 'payments-availability', service: 'payments', severity: 'page', state: 'open' },
    })

    // Running the minute cron again while still burning changes nothing and sends nothing more.
    expect(await cron(EVERY_MINUTE, new Date())).toMatchObject({ outcome: 'ok' })
    expect(hook.received).toHaveLength(1)

    // Recovery: a flood of good requests brings every window's error ratio to 0.03 %, under all thresholds
    // (the ticket's 3 included, so the page resolving does not open a ticket).
    expect((await push(inbound(proxyId, 2, new Date(), 100_000, 0))).status).toBe(200)

    // The hourly trigger still evaluates nothing: the page stays open.
    expect(await cron(HOURLY, new Date())).toMatchObject({ outcome: 'ok' })
    expect(await alerts('state=open')).toEqual([expect.objectContaining({ id: page.id, state: 'open' })])
    expect(hook.received).toHaveLength(1)

    const recoveredAt = new Date()
    expect(await cron(EVERY_MINUTE, recoveredAt)).toMatchObject({ outcome: 'ok' })
    expect(await alerts('state=open')).toEqual([])
    const resolved = await alerts('state=resolved')
    expect(resolved).toEqual([expect.objectContaining({ id: page.id, severity: 'page', state: 'resolved', resolvedAt: recoveredAt.toISOString() })])
    expect(resolved[0]!.deliveries.map((d) => `${d.event}:${d.state}`).sort()).toEqual(['alert.opened:delivered', 'alert.resolved:delivered'])
    expect(hook.received).toHaveLength(2)
    expect(hook.received[1]!.headers['weft-event']).toBe('alert.resolved')
    expect(await verified(hook.received[1]!, recoveredAt)).toMatchObject({ type: 'alert.resolved', alert: { id: page.id, severity: 'page', state: 'resolved' } })
  })
})
