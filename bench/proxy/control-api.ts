/**
 * The control API the benchmark's sidecars bootstrap from: the real app (createApp) over PGlite in memory,
 * on a real loopback port, in the benchmark's own process. It only serves long polls, heartbeats and
 * setup while load runs, so it costs the measured processes nothing.
 */
import { serve, type ServerType } from '@hono/node-server'
import type { AddressInfo } from 'node:net'
import { createApp } from '../../control-api/src/app'
import { loadConfig } from '../../control-api/src/config'
import type { Db } from '../../control-api/src/db/client'
import { connectPglite } from '../../control-api/src/db/connect-pglite'
import { migrate } from '../../control-api/src/db/migrate'
import { migrations } from '../../control-api/src/db/migrations.generated'
import { pgliteNotifications, revisionReader } from '../../control-api/src/distribution/notify-sources'
import { createRevisionBus } from '../../control-api/src/distribution/revision-bus'
import { generateMasterKeyBase64, importMasterKey } from '../../control-api/src/identity/master-key'
import { jsonLogger } from '../../control-api/src/logger'
import { SnapshotCache } from '../../control-api/src/snapshot/snapshot-cache'

const OPERATOR_KEY = 'wfo_bench_operator_key_0123456789abcdef'

export type ControlApi = {
  url: string
  db: Db
  /** Setup calls go in-process through app.request(); only the sidecars use the port. Throws on >= 300. */
  api<T = any>(method: string, path: string, key: string, body?: unknown): Promise<T>
  /** Onboards a tenant; returns its admin key and trust domain. */
  onboard(slug: string): Promise<{ key: string; tenantId: string; trustDomain: string }>
  close(): Promise<void>
}

export async function startControlApi(): Promise<ControlApi> {
  const pg = await connectPglite(null)
  await migrate(pg.db, migrations)
  const logger = jsonLogger({ level: 'warn', write: (line) => process.stderr.write(`${line}\n`) })
  const config = loadConfig({ WEFT_OPERATOR_KEY: OPERATOR_KEY, DATABASE_URL: 'memory://' })
  const masterKey = await importMasterKey(generateMasterKeyBase64())
  const revisions = await createRevisionBus({ readRevisions: revisionReader(pg.db), subscribe: pgliteNotifications(pg.pglite), pollIntervalMs: 5_000, logger })
  const app = createApp({ config, masterKey, revisions, snapshots: new SnapshotCache(config.publicUrl), logger, getDb: () => pg.db })
  const server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s))
  })

  async function api<T>(method: string, path: string, key: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${key}` }
    if (body !== undefined) headers['content-type'] = 'application/json'
    const res = await app.request(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
    const text = await res.text()
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`)
    return (text ? JSON.parse(text) : null) as T
  }

  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    db: pg.db,
    api,
    async onboard(slug) {
      const r = await api<any>('POST', '/v1/tenants', OPERATOR_KEY, { slug })
      return { key: r.adminKey.secret, tenantId: r.tenant.id, trustDomain: r.tenant.trustDomain }
    },
    async close() {
      // Sidecars' long polls are held open: cut them, as the sidecars are gone by now anyway.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      ;(server as unknown as { closeAllConnections(): void }).closeAllConnections()
      await closed
      await revisions.close()
      await pg.close()
    },
  }
}
