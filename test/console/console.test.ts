// The web console in headless Chromium (Debian's chromium, driven by playwright-core) against a control API on a
// real port, with a live three-service mesh: frontend -> orders -> payments, each app behind a real sidecar that
// pushes its telemetry. Signs in through the form, sees the graph, opens a service, checks the other pages,
// and keeps a screenshot in test/artifacts/.
import { serve, type ServerType } from '@hono/node-server'
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { ProxyAgent, fetch as undiciFetch } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runSidecar, type Sidecar } from '../../edge-proxy/src/runtime/node'
import { backends } from '../support/databases'
import { startHarness, type Harness } from '../support/harness'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const ARTIFACTS = join(import.meta.dirname, '..', 'artifacts')
const haveChromium = existsSync(CHROMIUM)
if (!haveChromium && process.env.CI) throw new Error(`${CHROMIUM} is missing: .ci/run installs Debian's chromium package; the console test must run in CI`)
if (!haveChromium) console.warn(`console test skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`)

type App = { server: Server; port: number }
function startApp(handler: (path: string) => Promise<number>): Promise<App> {
  const server = createServer((req, res) => {
    handler(req.url ?? '/').then(
      (status) => {
        res.statusCode = status
        res.end('ok')
      },
      () => {
        res.statusCode = 502
        res.end('upstream failed')
      },
    )
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port })))
}

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = await f()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

describe.skipIf(!haveChromium)('web console in headless Chromium (live three-service mesh)', () => {
  let h: Harness
  let api: ServerType
  let base: string
  let adminKey: string
  let viewerKey: string
  let browser: BrowserContext
  const apps: Server[] = []
  const sidecars: Record<string, Sidecar> = {}
  const agents: ProxyAgent[] = []
  const stateRoot = mkdtempSync(join(tmpdir(), 'weft-console-'))

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true })
    h = await startHarness(backends[0]!)
    api = serve({ fetch: h.app.fetch, port: 0, hostname: '127.0.0.1' })
    await new Promise((r) => api.once('listening', r))
    base = `http://127.0.0.1:${(api.address() as { port: number }).port}`
    adminKey = (await h.onboard('console')).adminKey
    viewerKey = await h.createKey(adminKey, 'viewer', 'console-viewer')

    const via: Record<string, ProxyAgent> = {}
    const handlers: Record<string, (path: string) => Promise<number>> = {
      frontend: async () => 200,
      // orders calls payments through its own sidecar's outbound port: a real hop of the mesh.
      orders: async (path) => (await undiciFetch(`http://payments${path}`, { dispatcher: via.orders })).status,
      payments: async (path) => (path === '/fail' ? 500 : 200),
    }
    for (const service of ['frontend', 'orders', 'payments']) {
      await h.request('POST', '/v1/services', { key: adminKey, body: { name: service } })
      const app = await startApp(handlers[service]!)
      apps.push(app.server)
      const jt = await h.request('POST', `/v1/services/${service}/join-tokens`, { key: adminKey })
      sidecars[service] = await runSidecar({
        controlUrl: base,
        joinToken: jt.body.secret,
        service,
        appPort: app.port,
        inboundPort: 0,
        outboundPort: 0,
        adminPort: 0,
        stateDir: join(stateRoot, service),
        logLevel: 'silent',
        telemetryIntervalMs: 200,
      })
      via[service] = new ProxyAgent({ uri: `http://127.0.0.1:${sidecars[service]!.ports.outbound}`, proxyTunnel: false })
      agents.push(via[service]!)
    }
    for (const [caller, callee] of [
      ['frontend', 'orders'],
      ['orders', 'payments'],
    ] as const) {
      await until(`${callee} in ${caller}'s snapshot`, async () => {
        const dump = await (await fetch(`http://127.0.0.1:${sidecars[caller]!.ports.admin}/config_dump`)).json()
        return dump.snapshot?.outbound?.[callee]?.endpoints?.length === 1 ? true : undefined
      })
    }
    // Real traffic: frontend -> orders -> payments, a few failures so the charts have shape.
    for (let i = 0; i < 40; i++) {
      const status = (await undiciFetch(`http://orders/${i % 20 === 19 ? 'fail' : 'checkout'}`, { dispatcher: via.frontend })).status
      expect([200, 500]).toContain(status)
    }
    await until('both edges in the service graph', async () => {
      const g = (await h.request('GET', '/v1/telemetry/graph?window=5m', { key: adminKey })).body
      return g.edges?.length === 2 && g.edges.every((e: any) => e.requests === 40) ? g : undefined
    })

    // A policy with history and an SLO, so those pages have something to show.
    const lb = { kind: 'BackendPolicy', name: 'payments-lb', targetRef: { service: 'payments' }, spec: { loadBalancer: { type: 'LeastRequest' } } }
    expect((await h.request('POST', '/v1/policies', { key: adminKey, body: lb })).status).toBe(201)
    expect((await h.request('PUT', '/v1/policies/payments-lb', { key: adminKey, body: { ...lb, spec: { loadBalancer: { type: 'RoundRobin' } } } })).status).toBe(200)
    expect((await h.request('POST', '/v1/slos', { key: adminKey, body: { name: 'payments-availability', service: 'payments', objective: { type: 'success-rate', target: 99 } } })).status).toBe(201)

    // A fresh, empty profile (--user-data-dir) each run.
    browser = await chromium.launchPersistentContext(mkdtempSync(join(stateRoot, 'chromium-')), {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1280, height: 900 },
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    })
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
    for (const a of agents) await a.close()
    for (const s of Object.values(sidecars)) await s.close()
    for (const a of apps) a.close()
    api?.close()
    await h?.close()
    rmSync(stateRoot, { recursive: true, force: true })
  })

  /** A fresh page that records every console error and uncaught exception. */
  async function open(): Promise<{ page: Page; errors: string[] }> {
    const page = await browser.newPage()
    const errors: string[] = []
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text())
    })
    page.on('pageerror', (e) => errors.push(e.message))
    return { page, errors }
  }

  async function signIn(page: Page, key: string): Promise<void> {
    await page.goto(`${base}/console`)
    await page.getByLabel('API key').fill(key)
    await page.getByRole('button', { name: 'Sign in' }).click()
  }

  it('signs in, draws the mesh as a graph, opens a service with its charts, and keeps a screenshot', async () => {
    // The page re-renders on a timer: reads are polled, so one that lands between two renders is read again.
    const poll = <T>(read: () => Promise<T>) => expect.poll(read, { timeout: 10_000, interval: 100 })
    const { page, errors } = await open()
    const res = await page.goto(`${base}/console`)
    expect(res?.headers()['content-security-policy']).toContain("script-src 'self'")
    await expect(page.getByRole('heading', { name: 'Weft console' }).isVisible()).resolves.toBe(true)
    await signIn(page, adminKey)

    // The graph: three services, two calls, coloured by health (payments answered 38 of 40 = 95 %: amber).
    await page.locator('svg.graph g.node').nth(2).waitFor()
    await poll(() => page.locator('svg.graph g.node').evaluateAll((els) => els.map((e) => [e.getAttribute('data-service'), e.getAttribute('class')]))).toEqual([
      ['frontend', 'node idle'],
      ['orders', 'node warn'],
      ['payments', 'node warn'],
    ])
    await poll(() => page.locator('svg.graph g.edge').count()).toBe(2)
    await poll(() => page.locator('svg.graph g.edge[data-source="orders"][data-destination="payments"] text').textContent()).toMatch(/rps · p99 \d/)
    await poll(() => page.locator('table.edges tbody tr').count()).toBe(2)
    for (const chart of ['Requests per second by call', 'Success rate by call', 'p99 latency by call']) {
      await poll(() => page.locator(`figure[data-chart="${chart}"] g.bar`).count()).toBe(2)
    }
    await page.screenshot({ path: join(ARTIFACTS, 'console-graph.png'), fullPage: true })

    // The window selector re-queries the graph.
    await page.getByRole('button', { name: '5m', exact: true }).click()
    await page.waitForURL(/window=5m/)
    await page.locator('svg.graph g.node').nth(2).waitFor()

    // Open a service from the picture.
    await page.locator('svg.graph g.node[data-service="payments"]').click()
    await page.waitForURL(/#\/services\/payments/)
    await page.locator('figure.chart-box').nth(2).waitFor()
    const charts = page.locator('figure.chart-box')
    await poll(() => charts.evaluateAll((els) => els.map((e) => e.getAttribute('data-chart')))).toEqual(['Requests per second', 'Success rate', 'Latency'])
    // Every chart drew at least one point, the latency chart three series (p50, p95, p99).
    for (let i = 0; i < 3; i++) await poll(() => charts.nth(i).locator('circle').count()).toBeGreaterThan(0)
    await poll(() => charts.nth(2).locator('g.series').count()).toBe(3)
    await poll(() => page.locator('.stat').filter({ hasText: 'Requests' }).filter({ hasText: '40' }).count()).toBe(1)
    await page.getByRole('link', { name: 'payments-lb' }).waitFor()
    await page.screenshot({ path: join(ARTIFACTS, 'console.png'), fullPage: true })
    expect(existsSync(join(ARTIFACTS, 'console.png'))).toBe(true)

    // Proxies: all three live, at the tenant's latest revision.
    await page.getByRole('link', { name: 'Proxies' }).click()
    await page.locator('table.proxies tbody tr').nth(2).waitFor()
    expect(await page.locator('table.proxies tbody tr').count()).toBe(3)
    expect(await page.locator('.banner').textContent()).toMatch(/^All 3 live proxies have applied the latest revision \d+\.$/)
    await page.screenshot({ path: join(ARTIFACTS, 'console-proxies.png'), fullPage: true })

    // Policies with history: create then update, newest first, with the diff.
    await page.getByRole('link', { name: 'Policies' }).click()
    await page.getByRole('link', { name: 'History' }).click()
    await page.locator('table.history tbody tr').nth(1).waitFor()
    expect(await page.locator('table.history tbody tr td:nth-child(2)').allTextContents()).toEqual(['update', 'create'])
    expect(await page.locator('table.history .diff').first().textContent()).toContain('replace /spec/loadBalancer/type = "RoundRobin"')
    await poll(() => page.locator('table.history code.spec').textContent()).toBe('created: {"loadBalancer":{"type":"LeastRequest"}}')
    await page.screenshot({ path: join(ARTIFACTS, 'console-policies.png'), fullPage: true })

    // SLOs and alerts, and the audit log (admin key).
    await page.getByRole('link', { name: 'SLOs & alerts' }).click()
    await page.locator('article.slo[data-slo="payments-availability"]').waitFor()
    expect(await page.locator('article.slo').textContent()).toContain('99 % of requests succeed')
    await page.screenshot({ path: join(ARTIFACTS, 'console-slos.png'), fullPage: true })
    await page.getByRole('link', { name: 'Audit log' }).click()
    await page.locator('table.audit tbody tr').first().waitFor()
    expect(await page.locator('table.audit').textContent()).toContain('policy.update')
    await page.screenshot({ path: join(ARTIFACTS, 'console-audit.png'), fullPage: true })

    // Sign out forgets the key.
    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.getByLabel('API key').waitFor()
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0)
    expect(errors).toEqual([])
    await page.close()
  })

  it('tells a tenant without telemetry how to get some', async () => {
    const { page, errors } = await open()
    await signIn(page, (await h.onboard('console-empty')).adminKey)
    const hint = page.locator('.empty')
    await hint.waitFor()
    expect(await hint.textContent()).toMatch(/^No telemetry in the last 15m\.Start sidecars with npx weft sidecar --control-url/)
    await page.getByRole('link', { name: 'Proxies' }).click()
    await page.getByText('No live proxies.').waitFor()
    await page.getByRole('link', { name: 'SLOs & alerts' }).click()
    await page.getByText('No SLOs yet.').waitFor()
    expect(errors).toEqual([])
    await page.close()
  })

  it('says why a key is refused, and that the audit log needs an admin key', async () => {
    const { page, errors } = await open()
    await signIn(page, 'wft_not-a-real-key')
    await page.getByText('That key was not accepted').waitFor()
    // The refused sign-in is a 401 the browser itself reports; anything else would be a bug.
    expect(errors.filter((e) => !/401/.test(e))).toEqual([])
    errors.length = 0

    await page.getByLabel('API key').fill(viewerKey)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.locator('svg.graph g.node').nth(2).waitFor()
    await page.getByRole('link', { name: 'Audit log' }).click()
    await page.getByText('The audit log needs an admin API key.').waitFor()
    expect(errors.filter((e) => !/403/.test(e))).toEqual([])
    errors.length = 0

    // A problem+json answer becomes a readable message on the page (here: a service name the API rejects).
    await page.goto(`${base}/console#/services/Not_A_Name`)
    const problem = page.locator('.charts .error')
    await problem.waitFor()
    expect(await problem.textContent()).toMatch(/^Could not load the metrics of Not_A_Name\. .+\(HTTP 400\)$/)
    expect(errors.filter((e) => !/400/.test(e))).toEqual([])
    await page.close()
  })
})
