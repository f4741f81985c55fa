import { describe, expect, it } from 'vitest'
import { canonicalJson } from '../../../mesh/src/snapshot/canonical-json'
import { compileOutbound, compileSnapshot, serialise } from './compile-snapshot'
import type { PolicyRow, TenantModel } from './tenant-model'

// Three ways to the bytes of a snapshot (whole, shared outbound, joined per-service pieces): all must give the
// same body where they overlap and the ETag must follow the bytes, or proxies would refetch, or miss, changes.
const name = (i: number) => `svc-${String(i).padStart(2, '0')}`
function model(): TenantModel {
  const services = Array.from({ length: 20 }, (_, i) => ({
    id: `id-${i}`,
    name: name(i),
    protocol: 'http' as const,
    port: 8080,
    labels: { app: name(i), 'team/ü': 'x' },
    dependencies: i % 2 === 0 ? [name((i + 1) % 20), name((i + 7) % 20)].sort() : null,
  }))
  const endpointsByService = new Map(
    services.map((s, i) => [s.id, [0, 1].map((e) => ({ id: `ep-${i}-${e}`, address: `10.0.0.${e}`, port: 8080, zone: null, labels: { version: `v${e + 1}` }, weight: 100, health: 'healthy' as const }))]),
  )
  const route = (target: string, to: string): PolicyRow => ({
    kind: 'Route',
    name: `${target}-split`,
    targetService: target,
    createdAt: '2026-11-24T00:00:00.000Z',
    spec: { rules: [{ backendRefs: [{ weight: 90 }, { service: to, weight: 10 }] }] },
  })
  return {
    tenantId: 't',
    slug: 'acme',
    trustDomain: 'acme.weft',
    revision: 7,
    services,
    endpointsByService,
    policiesByTarget: new Map([[name(1), [route(name(1), name(15))]]]),
    filterIndex: new Map(),
    jwks: [{ kid: 'k1', kty: 'EC' }],
    revokedWorkloads: [],
    tracing: null,
  }
}

describe('serialise', () => {
  it('joins scoped snapshots from per-service pieces into exactly canonicalJson(snapshot), reusing pieces', async () => {
    const m = model()
    const outbound = compileOutbound(m)
    const pieces = new Map<string, string>()
    for (const s of m.services.filter((x) => x.dependencies !== null)) {
      const snapshot = compileSnapshot(m, s.name, 'https://weft.example', outbound)
      const joined = await serialise(snapshot, { pieces })
      const whole = await serialise(snapshot)
      expect(joined.body).toBe(canonicalJson(snapshot))
      expect(joined.etag).toBe(whole.etag)
    }
    // svc-00 → svc-01 (whose route sends to svc-15) and svc-07: the scope follows routes, and pieces are shared.
    expect(Object.keys(compileSnapshot(m, name(0), 'https://weft.example', outbound).outbound)).toEqual([name(0), name(1), name(15), name(7)].sort())
    expect(pieces.size).toBeLessThan(3 * 10)
    expect(pieces.get(name(1))).toBe(canonicalJson(outbound[name(1)]))
  })

  it('the shared-outbound body is canonicalJson(snapshot) too, and a change anywhere changes the ETag', async () => {
    const m = model()
    const outbound = compileOutbound(m)
    const unscoped = compileSnapshot(m, name(1), 'https://weft.example', outbound)
    expect(unscoped.outbound).toBe(outbound)
    const outboundJson = canonicalJson(outbound)
    const { snapshotDigest } = await import('./snapshot-digest')
    const a = await serialise(unscoped, { outboundJson, outboundHash: snapshotDigest(outboundJson) })
    expect(a.body).toBe(canonicalJson(unscoped))
    const m2 = model()
    m2.endpointsByService.get('id-3')![0]!.weight = 50
    const outbound2 = compileOutbound(m2)
    const json2 = canonicalJson(outbound2)
    const b = await serialise(compileSnapshot(m2, name(1), 'https://weft.example', outbound2), { outboundJson: json2, outboundHash: snapshotDigest(json2) })
    expect(b.etag).not.toBe(a.etag)
  })
})
