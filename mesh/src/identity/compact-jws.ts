import { SvidMalformed } from './svid-errors'

/**
 * Splits and decodes a compact JWS without trusting any of it: header and claims come back as plain
 * objects for the verifier to judge, and the signing input as the exact ASCII bytes that were signed.
 */

// Three base64url segments and nothing else: no padding, no whitespace, no JSON serialization. An empty
// signature segment is let through here so that a stripped signature is reported as a signature failure.
const COMPACT_JWS = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]*)$/

const utf8 = new TextDecoder('utf-8', { fatal: true })
const ascii = new TextEncoder()

/**
 * Own decoder rather than `Uint8Array.fromBase64` (present in workerd, absent in Node 20) so that every
 * runtime accepts exactly the same strings. The regex above has already limited the alphabet.
 */
export function decodeBase64Url(segment: string): Uint8Array<ArrayBuffer> {
  if (segment.length % 4 === 1) throw new SvidMalformed('a segment is not valid base64url')
  const binary = atob(segment.replace(/-/g, '+').replace(/_/g, '/'))
  const bytes = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
  return bytes
}

function decodeJsonObject(segment: string, what: string): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(utf8.decode(decodeBase64Url(segment)))
  } catch (err) {
    throw new SvidMalformed(`the ${what} is not base64url-encoded UTF-8 JSON`, { cause: err })
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new SvidMalformed(`the ${what} is not a JSON object`)
  return value as Record<string, unknown>
}

/** @throws SvidMalformed */
export function splitCompactJws(token: string): [header: string, payload: string, signature: string] {
  const m = COMPACT_JWS.exec(token)
  if (!m) throw new SvidMalformed('not a compact JWS (three base64url segments)')
  return [m[1]!, m[2]!, m[3]!]
}

/** @throws SvidMalformed */
export function decodeHeader(segment: string): Record<string, unknown> {
  return decodeJsonObject(segment, 'protected header')
}

/** @throws SvidMalformed */
export function decodeClaims(segment: string): Record<string, unknown> {
  return decodeJsonObject(segment, 'claims set')
}

export function signingInputOf(header: string, payload: string): Uint8Array<ArrayBuffer> {
  return ascii.encode(`${header}.${payload}`) as Uint8Array<ArrayBuffer>
}
