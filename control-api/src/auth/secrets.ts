import { sha256Hex } from '../sha256-hex'

/** Secret prefixes make leaked secrets recognisable by scanners and tell the API which table to look in. */
export const SECRET_PREFIX = { operator: 'wfo_', apiKey: 'wft_', joinToken: 'wfj_', webhook: 'wfw_' } as const
export type SecretPrefix = (typeof SECRET_PREFIX)[keyof typeof SECRET_PREFIX]

// 32 random bytes: far beyond guessing, so a fast hash (not a password KDF) is the right way to store them.
const SECRET_BYTES = 32

export function generateSecret(prefix: SecretPrefix): string {
  const bytes = crypto.getRandomValues(new Uint8Array(SECRET_BYTES))
  return prefix + base64url(bytes)
}

/** SHA-256, hex: secrets are stored and looked up only by this. */
export function hashSecret(secret: string): Promise<string> {
  return sha256Hex(secret)
}

/** What a list may show of a secret: its prefix and a few characters. */
export function displayPrefix(secret: string): string {
  return secret.slice(0, 12)
}

export function base64url(bytes: Uint8Array): string {
  let s = ''
  for (const b of bytes) s += String.fromCharCode(b)
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}
