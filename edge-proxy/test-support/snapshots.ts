import { exportJWK } from 'jose'
import { signSvid } from '../../mesh/src/identity/index'
import { AuthorizationPolicySpec, BackendPolicySpec, FaultPolicySpec, RateLimitPolicySpec, RouteSpec } from '../../mesh/src/policy/schemas'
import { SNAPSHOT_SCHEMA, type OutboundService, type Snapshot, type SnapshotEndpoint } from '../../mesh/src/snapshot/types'

export const TD = 'acme.weft'
export const ISSUER = 'https://weft.test'
export const CREATED = '2024-01-01T00:00:00.000Z'
export const spiffe = (service: string) => `spiffe://${TD}/svc/${service}`

export function endpoint(id: string, port: number, labels: Record<string, string> = {}, extra: Partial<SnapshotEndpoint> = {}): SnapshotEndpoint {
  return { id, address: '127.0.0.1', port, zone: null, labels, weight: 1, health: 'healthy', ...extra }
}

/** A callee as the caller's snapshot lists it; policy specs are parsed, so defaults apply as in a real snapshot. */
export function outboundService(name: string, endpoints: SnapshotEndpoint[], options: { routes?: { name: string; spec: unknown }[]; backendPolicy?: unknown } = {}): OutboundService {
  return {
    name,
    spiffeId: spiffe(name),
    protocol: 'http',
    port: 8080,
    labels: {},
    endpoints,
    routes: (options.routes ?? []).map((r) => ({ name: r.name, createdAt: CREATED, spec: RouteSpec.parse(r.spec) })),
    backendPolicy: options.backendPolicy === undefined ? null : { name: `${name}-backend`, createdAt: CREATED, spec: BackendPolicySpec.parse(options.backendPolicy) },
  }
}

export type InboundPolicies = {
  authorization?: { name: string; spec: unknown }[]
  rateLimits?: { name: string; spec: unknown }[]
  faults?: { name: string; spec: unknown }[]
}

export function snapshotOf(service: string, outbound: OutboundService[], inbound: InboundPolicies = {}, extra: Partial<Snapshot> = {}): Snapshot {
  return {
    schema: SNAPSHOT_SCHEMA,
    revision: 1,
    tenant: { slug: 'acme', trustDomain: TD },
    issuer: ISSUER,
    service: { name: service, spiffeId: spiffe(service), protocol: 'http', port: 8080, labels: {}, dependencies: null },
    inbound: {
      authorization: (inbound.authorization ?? []).map((p) => ({ name: p.name, createdAt: CREATED, spec: AuthorizationPolicySpec.parse(p.spec) })),
      rateLimits: (inbound.rateLimits ?? []).map((p) => ({ name: p.name, createdAt: CREATED, spec: RateLimitPolicySpec.parse(p.spec) })),
      faults: (inbound.faults ?? []).map((p) => ({ name: p.name, createdAt: CREATED, spec: FaultPolicySpec.parse(p.spec) })),
      filterChain: null,
    },
    outbound: Object.fromEntries(outbound.map((o) => [o.name, o])),
    jwks: { keys: [] },
    revokedWorkloads: [],
    ...extra,
  }
}

/** A tenant signing key: mints real JWT-SVIDs; its public JWK goes into the snapshot's `jwks`. */
export async function signingKey(kid = 'k1') {
  const pair = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair
  const jwk = { ...(await exportJWK(pair.publicKey)), kid, alg: 'ES256', use: 'sig' }
  return {
    kid,
    jwk: jwk as Record<string, unknown>,
    mint: (o: { subject: string; audience: string; ttlSeconds?: number; now?: number; workloadId?: string; issuer?: string }) =>
      signSvid({ privateKey: pair.privateKey, kid, alg: 'ES256', issuer: o.issuer ?? ISSUER, subject: o.subject, audience: o.audience, ttlSeconds: o.ttlSeconds ?? 900, now: o.now, workloadId: o.workloadId }),
  }
}
