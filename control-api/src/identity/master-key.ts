import { base64url } from '../auth/secrets'

/**
 * WEFT_MASTER_KEY encrypts tenants' private signing keys at rest (AES-256-GCM, WebCrypto). The row's
 * identity is bound in as additional data, so a ciphertext copied onto another key's row does not decrypt.
 */
export const MASTER_KEY_BYTES = 32
const IV_BYTES = 12
const FORMAT = 'v1'

export class MasterKeyError extends Error {
  static code = 'ERR_MASTER_KEY'
  code = MasterKeyError.code
}

export function decodeBase64(s: string): Uint8Array<ArrayBuffer> {
  const normal = s.trim().replace(/-/g, '+').replace(/_/g, '/')
  const bin = atob(normal + '='.repeat((4 - (normal.length % 4)) % 4))
  return Uint8Array.from(bin, (ch) => ch.charCodeAt(0))
}

export async function importMasterKey(base64: string): Promise<CryptoKey> {
  let raw: Uint8Array<ArrayBuffer>
  try {
    raw = decodeBase64(base64)
  } catch {
    throw new MasterKeyError('WEFT_MASTER_KEY is not base64')
  }
  if (raw.length !== MASTER_KEY_BYTES) throw new MasterKeyError(`WEFT_MASTER_KEY must be ${MASTER_KEY_BYTES} bytes, base64-encoded (got ${raw.length})`)
  return crypto.subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt', 'decrypt'])
}

export function generateMasterKeyBase64(): string {
  return btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(MASTER_KEY_BYTES))))
}

export async function seal(key: CryptoKey, plaintext: string, aad: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES))
  const ct = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: new TextEncoder().encode(aad) }, key, new TextEncoder().encode(plaintext))
  return `${FORMAT}.${base64url(iv)}.${base64url(new Uint8Array(ct))}`
}

export async function unseal(key: CryptoKey, sealed: string, aad: string): Promise<string> {
  const [format, iv, ct] = sealed.split('.')
  if (format !== FORMAT || !iv || !ct) throw new MasterKeyError('unknown sealed-key format')
  try {
    const pt = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: decodeBase64(iv), additionalData: new TextEncoder().encode(aad) }, key, decodeBase64(ct))
    return new TextDecoder().decode(pt)
  } catch (err) {
    throw new MasterKeyError('a signing key does not decrypt: WEFT_MASTER_KEY differs from the one it was sealed with', { cause: err })
  }
}
