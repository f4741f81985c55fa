import { canonicalJson } from '../../../mesh/src/snapshot/canonical-json'
import type { OutboundService } from '../../../mesh/src/snapshot/types'
import type { Db } from '../db/client'
import { compileOutbound, compileSnapshot, serialise, type CompiledSnapshot } from './compile-snapshot'
import { snapshotDigest } from './snapshot-digest'
import { loadTenantModel, type TenantModel } from './tenant-model'

type TenantEntry = {
  revision: number
  model: Promise<{ model: TenantModel; outbound: Record<string, OutboundService>; outboundJson: string; outboundHash: string }>
  services: Map<string, Promise<CompiledSnapshot>>
  /** canonicalJson of each outbound service, for the scoped snapshots of this revision (built as they ask). */
  pieces: Map<string, string>
}

// Tenants whose models are kept; beyond this the least recently used is dropped and rebuilt on demand.
const MAX_TENANTS = 1000

/**
 * Snapshots are compiled once per tenant revision, however many proxies ask: concurrent requests for the
 * same revision share one in-flight compile, and a tenant's model is loaded once for all its services.
 */
export class SnapshotCache {
  private readonly tenants = new Map<string, TenantEntry>()
  compiles = 0
  loads = 0

  /** `masterKey` unseals what snapshots carry in clear but the database keeps sealed (collector headers). */
  constructor(
    private readonly issuer: string,
    private readonly masterKey: CryptoKey | null = null,
  ) {}

  async get(db: Db, tenantId: string, revision: number, service: string, now: Date): Promise<CompiledSnapshot> {
    let entry = this.tenants.get(tenantId)
    if (!entry || entry.revision < revision) {
      entry = { revision, model: this.load(db, tenantId, now), services: new Map(), pieces: new Map() }
      this.tenants.set(tenantId, entry)
      if (this.tenants.size > MAX_TENANTS) this.tenants.delete(this.tenants.keys().next().value!)
      entry.model.catch(() => {
        if (this.tenants.get(tenantId) === entry) this.tenants.delete(tenantId)
      })
    } else {
      // Refresh recency.
      this.tenants.delete(tenantId)
      this.tenants.set(tenantId, entry)
    }
    let compiled = entry.services.get(service)
    if (!compiled) {
      const e = entry
      compiled = e.model.then(({ model, outbound, outboundJson, outboundHash }) => {
        this.compiles++
        const snapshot = compileSnapshot(model, service, this.issuer, outbound)
        // A service with declared dependencies has an outbound section of its own, joined from per-service pieces.
        return serialise(snapshot, snapshot.outbound === outbound ? { outboundJson, outboundHash } : { pieces: e.pieces })
      })
      e.services.set(service, compiled)
      compiled.catch(() => e.services.delete(service))
    }
    return compiled
  }

  private async load(db: Db, tenantId: string, now: Date) {
    this.loads++
    const model = await loadTenantModel(db, tenantId, now, this.masterKey)
    const outbound = compileOutbound(model)
    const outboundJson = canonicalJson(outbound)
    return { model, outbound, outboundJson, outboundHash: snapshotDigest(outboundJson) }
  }
}
