import { and, asc, eq, gt, inArray, lte, or } from 'drizzle-orm'
import { calculateJwkThumbprint, exportJWK, importJWK, type JWK } from 'jose'
import type { Queryable } from '../db/client'
import { signingKeys } from '../db/schema'
import { seal, unseal } from './master-key'

export type SigningAlg = 'ES256' | 'ES384' | 'RS256' | 'PS256'
export const DEFAULT_SIGNING_ALG: SigningAlg = 'ES256'

/** DESIGN.md caps JWT-SVID lifetime at 1 h; a retiring key stays published that long, plus the verifiers' skew. */
export const MAX_TOKEN_TTL_SECONDS = 3600
export const VERIFIER_SKEW_SECONDS = 30

const GENERATE: Record<SigningAlg, RsaHashedKeyGenParams | EcKeyGenParams> = {
  ES256: { name: 'ECDSA', namedCurve: 'P-256' },
  ES384: { name: 'ECDSA', namedCurve: 'P-384' },
  RS256: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
  PS256: { name: 'RSA-PSS', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
}

type Row = typeof signingKeys.$inferSelect

const aadOf = (tenantId: string, kid: string) => `weft-signing-key:${tenantId}:${kid}`

/** Generates a key pair and inserts it, private half sealed with the master key. */
export async function createSigningKey(tx: Queryable, tenantId: string, status: 'next' | 'current', masterKey: CryptoKey, now: Date, alg: SigningAlg = DEFAULT_SIGNING_ALG): Promise<Row> {
  const pair = (await crypto.subtle.generateKey(GENERATE[alg], true, ['sign', 'verify'])) as CryptoKeyPair
  const publicJwk = await exportJWK(pair.publicKey)
  // The RFC 7638 thumbprint: unique per key and derivable by anyone holding the public key.
  const kid = await calculateJwkThumbprint(publicJwk)
  const privateJwk = await exportJWK(pair.privateKey)
  const [row] = await tx
    .insert(signingKeys)
    .values({
      tenantId,
      kid,
      alg,
      status,
      publicJwk: { ...publicJwk, kid, alg, use: 'sig' },
      privateKeyEnc: await seal(masterKey, JSON.stringify(privateJwk), aadOf(tenantId, kid)),
      activatedAt: status === 'current' ? now : null,
    })
    .returning()
  return row!
}

/** At onboarding: a current key that signs, and the next one already published. */
export async function createInitialKeys(tx: Queryable, tenantId: string, masterKey: CryptoKey, now: Date): Promise<void> {
  await createSigningKey(tx, tenantId, 'current', masterKey, now)
  await createSigningKey(tx, tenantId, 'next', masterKey, now)
}

/**
 * Rotation with overlap: next → current, current → previous (published until every token it signed has
 * expired), a fresh next is published, and previous keys past their window retire. Call inside a
 * transaction; the tenant's key rows are locked so concurrent rotations serialise.
 */
export async function rotateSigningKeys(tx: Queryable, tenantId: string, masterKey: CryptoKey, now: Date): Promise<{ current: Row; next: Row; retired: string[] }> {
  const rows = await tx
    .select()
    .from(signingKeys)
    .where(and(eq(signingKeys.tenantId, tenantId), inArray(signingKeys.status, ['next', 'current'])))
    .for('update')
  const current = rows.find((r) => r.status === 'current')
  let next = rows.find((r) => r.status === 'next')
  if (!next) next = await createSigningKey(tx, tenantId, 'next', masterKey, now)
  if (current) {
    await tx
      .update(signingKeys)
      .set({ status: 'previous', deactivatedAt: now, publishUntil: new Date(now.getTime() + (MAX_TOKEN_TTL_SECONDS + VERIFIER_SKEW_SECONDS) * 1000) })
      .where(eq(signingKeys.id, current.id))
  }
  const [promoted] = await tx.update(signingKeys).set({ status: 'current', activatedAt: now }).where(eq(signingKeys.id, next.id)).returning()
  const fresh = await createSigningKey(tx, tenantId, 'next', masterKey, now)
  const retired = await retireExpiredKeys(tx, tenantId, now)
  return { current: promoted!, next: fresh, retired }
}

/** Previous keys whose window has closed stop being published, and their private halves are erased. */
export async function retireExpiredKeys(tx: Queryable, tenantId: string, now: Date): Promise<string[]> {
  const gone = await tx
    .update(signingKeys)
    .set({ status: 'retired', privateKeyEnc: null })
    .where(and(eq(signingKeys.tenantId, tenantId), eq(signingKeys.status, 'previous'), lte(signingKeys.publishUntil, now)))
    .returning({ kid: signingKeys.kid })
  return gone.map((g) => g.kid)
}

export async function retireAllExpiredKeys(db: Queryable, now: Date): Promise<string[]> {
  const gone = await db
    .update(signingKeys)
    .set({ status: 'retired', privateKeyEnc: null })
    .where(and(eq(signingKeys.status, 'previous'), lte(signingKeys.publishUntil, now)))
    .returning({ kid: signingKeys.kid })
  return gone.map((g) => g.kid)
}

/** The public keys a verifier must accept now: next, current, and previous keys inside their window. */
export async function publishedKeys(db: Queryable, tenantId: string, now: Date): Promise<JWK[]> {
  const rows = await db
    .select({ jwk: signingKeys.publicJwk })
    .from(signingKeys)
    .where(
      and(
        eq(signingKeys.tenantId, tenantId),
        or(inArray(signingKeys.status, ['next', 'current']), and(eq(signingKeys.status, 'previous'), gt(signingKeys.publishUntil, now))),
      ),
    )
    .orderBy(asc(signingKeys.createdAt), asc(signingKeys.kid))
  return rows.map((r) => r.jwk as JWK)
}

export async function listSigningKeys(db: Queryable, tenantId: string): Promise<Row[]> {
  return db.select().from(signingKeys).where(eq(signingKeys.tenantId, tenantId)).orderBy(asc(signingKeys.createdAt))
}

export type Signer = { kid: string; alg: SigningAlg; privateKey: CryptoKey }

// Decrypting and importing costs more than signing; a key's private half never changes, so keep it per kid.
const signerCache = new Map<string, Signer>()
const SIGNER_CACHE_MAX = 1000

export async function currentSigner(db: Queryable, tenantId: string, masterKey: CryptoKey): Promise<Signer | null> {
  const [row] = await db
    .select()
    .from(signingKeys)
    .where(and(eq(signingKeys.tenantId, tenantId), eq(signingKeys.status, 'current')))
  if (!row || !row.privateKeyEnc) return null
  const hit = signerCache.get(row.kid)
  if (hit) return hit
  const jwk = JSON.parse(await unseal(masterKey, row.privateKeyEnc, aadOf(tenantId, row.kid))) as JWK
  const privateKey = (await importJWK(jwk, row.alg)) as CryptoKey
  const signer = { kid: row.kid, alg: row.alg as SigningAlg, privateKey }
  if (signerCache.size >= SIGNER_CACHE_MAX) signerCache.delete(signerCache.keys().next().value!)
  signerCache.set(row.kid, signer)
  return signer
}

/** Tenants whose current key has signed for longer than the rotation period. */
export async function tenantsDueForRotation(db: Queryable, now: Date, periodMs: number): Promise<string[]> {
  const rows = await db
    .select({ tenantId: signingKeys.tenantId })
    .from(signingKeys)
    .where(and(eq(signingKeys.status, 'current'), lte(signingKeys.activatedAt, new Date(now.getTime() - periodMs))))
  return rows.map((r) => r.tenantId)
}

