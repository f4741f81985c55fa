// Webhook signatures, in the shape Stripe and GitHub made familiar: `Weft-Signature: t=<unix seconds>,v1=<hex>`
// where v1 = HMAC-SHA256(secret, `${t}.${body}`). Signing the timestamp with the body lets a receiver refuse
// replays older than a few minutes. WebCrypto only, so the Worker and Node sign alike.

export const SIGNATURE_HEADER = 'Weft-Signature'

const encoder = new TextEncoder()

async function hmacHex(secret: string, message: string): Promise<string> {
  const key = await crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, encoder.encode(message)))
  return Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join('')
}

export async function signWebhook(secret: string, body: string, at: Date): Promise<string> {
  const t = Math.floor(at.getTime() / 1000)
  return `t=${t},v1=${await hmacHex(secret, `${t}.${body}`)}`
}

/**
 * What a receiver does (exported for tests and for users' reference): recompute and compare in constant time,
 * and refuse a timestamp further than `toleranceSeconds` from `now`.
 */
export async function verifyWebhook(secret: string, body: string, header: string, now: Date, toleranceSeconds = 300): Promise<boolean> {
  const parts = Object.fromEntries(header.split(',').map((p) => p.split('=', 2) as [string, string]))
  const t = Number(parts.t)
  if (!Number.isInteger(t) || !parts.v1 || Math.abs(now.getTime() / 1000 - t) > toleranceSeconds) return false
  const expected = await hmacHex(secret, `${t}.${body}`)
  if (expected.length !== parts.v1.length) return false
  let diff = 0
  for (let i = 0; i < expected.length; i++) diff |= expected.charCodeAt(i) ^ parts.v1.charCodeAt(i)
  return diff === 0
}
