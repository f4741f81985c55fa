// A tenant's collector headers (its credentials) are sealed at rest with WEFT_MASTER_KEY, like webhook secrets,
// and opened only to compile snapshots: the proxies send them to the collector.
import { seal, unseal } from '../identity/master-key'

/** Binds sealed headers to their tenant: a sealed value copied into another tenant's row does not open. */
const aadOf = (tenantId: string) => `tracing-headers:${tenantId}`

export function sealTracingHeaders(masterKey: CryptoKey, tenantId: string, headers: Record<string, string>): Promise<string> {
  return seal(masterKey, JSON.stringify(headers), aadOf(tenantId))
}

export async function unsealTracingHeaders(masterKey: CryptoKey, tenantId: string, sealed: string): Promise<Record<string, string>> {
  return JSON.parse(await unseal(masterKey, sealed, aadOf(tenantId))) as Record<string, string>
}
