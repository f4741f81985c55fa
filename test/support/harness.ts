// An in-process control API over a real database: requests go through app.request(), no server, no mocks.
import { createApp } from '../../control-api/src/app'
import { loadConfig } from '../../control-api/src/config'
import type { Clock } from '../../control-api/src/context'
import { generateMasterKeyBase64, importMasterKey } from '../../control-api/src/identity/master-key'
import { pgliteNotifications, postgresNotifications, revisionReader } from '../../control-api/src/distribution/notify-sources'
import { createRevisionBus } from '../../control-api/src/distribution/revision-bus'
import { jsonLogger } from '../../control-api/src/logger'
import { SnapshotCache } from '../../control-api/src/snapshot/snapshot-cache'
import type { Backend, TestDatabase } from './databases'

export const OPERATOR_KEY = 'wfo_test_operator_key_0123456789abcdef'

export class ManualClock implements Clock {
  // Starts at the real time so app-clock and database-clock timestamps (audit events) stay comparable.
  constructor(private t = Date.now()) {}
  now(): Date {
    return new Date(this.t)
  }
  advance(ms: number): void {
    this.t += ms
  }
}

export type Reply<T = any> = { status: number; headers: Headers; body: T; text: string }

export type Harness = Awaited<ReturnType<typeof startHarness>>

export async function startHarness(backend: Backend, env: Record<string, string> = {}, shared?: { database: TestDatabase; masterKey: CryptoKey }) {
  // A second instance over the same database (as a second control API process would be) shares the master key.
  const database: TestDatabase = shared?.database ?? (await backend.open())
  const clock = new ManualClock()
  const logs: any[] = []
  const config = loadConfig({ WEFT_OPERATOR_KEY: OPERATOR_KEY, DATABASE_URL: 'memory://', ...env })
  const masterKey = shared?.masterKey ?? (await importMasterKey(generateMasterKeyBase64()))
  const logger = jsonLogger({ level: 'debug', write: (line) => logs.push(JSON.parse(line)) })
  const revisions = await createRevisionBus({
    readRevisions: revisionReader(database.db),
    subscribe: database.pglite ? pgliteNotifications(database.pglite) : postgresNotifications(database.url!, logger),
    pollIntervalMs: 5_000,
    logger,
  })
  const snapshots = new SnapshotCache(config.publicUrl, masterKey)
  const app = createApp({
    config,
    masterKey,
    revisions,
    snapshots,
    logger,
    getDb: () => database.db,
    clock,
  })

  async function request<T = any>(
    method: string,
    path: string,
    opts: { key?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {},
  ): Promise<Reply<T>> {
    const headers: Record<string, string> = { ...opts.headers }
    if (opts.key) headers.authorization = `Bearer ${opts.key}`
    let body: string | undefined
    if (opts.raw !== undefined) body = opts.raw
    else if (opts.body !== undefined) body = JSON.stringify(opts.body)
    if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json'
    const res = await app.request(path, { method, headers, body })
    const text = await res.text()
    let parsed: any = text
    try {
      parsed = text ? JSON.parse(text) : null
    } catch {
      // not JSON: leave the text
    }
    return { status: res.status, headers: res.headers, body: parsed as T, text }
  }

  /** Onboards a tenant as the operator and returns its admin key. */
  async function onboard(slug: string): Promise<{ tenant: any; adminKey: string }> {
    const r = await request('POST', '/v1/tenants', { key: OPERATOR_KEY, body: { slug } })
    if (r.status !== 201) throw new Error(`onboarding ${slug} failed: ${r.status} ${r.text}`)
    return { tenant: r.body.tenant, adminKey: r.body.adminKey.secret }
  }

  async function createKey(adminKey: string, role: 'admin' | 'editor' | 'viewer', name: string = role): Promise<string> {
    const r = await request('POST', '/v1/api-keys', { key: adminKey, body: { name, role } })
    if (r.status !== 201) throw new Error(`creating key failed: ${r.status} ${r.text}`)
    return r.body.secret
  }

  return {
    app,
    masterKey,
    revisions,
    snapshots,
    db: database.db,
    database,
    clock,
    logs,
    request,
    onboard,
    createKey,
    close: async () => {
      await revisions.close()
      if (!shared) await database.close()
    },
  }
}
